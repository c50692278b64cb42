"""What the commands share: their argument parser, and the one error boundary they all run in.

`run_command` is that boundary. A mistake a user can fix (a bad config key, a checkpoint this
model cannot use, an unreadable or unsafe file, a malformed annotation, an output path that is
a file, read-only or on a full disk) ends as one line ``PROG: error: ...`` and exit status 2;
Ctrl-C ends as ``PROG: interrupted`` (130), SIGTERM as ``PROG: terminated`` (143), after the
commands' ``finally`` blocks have removed their temporary files. Anything else is a bug and
keeps its traceback.
"""

import argparse
import errno
import logging
import signal
import sys
import warnings
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

__all__ = [
    "tool_parser",
    "run_command",
    "UserError",
    "Terminated",
    "user_error_message",
    "message_lines",
    "quiet_third_party_warnings",
    "keep_dumps_in_log_file",
]


class UserError(Exception):
    """A mistake the user can fix, already phrased as one line (file, key or value; what to do).

    The package's error classes derive from it (CheckpointError, UnsafeFileError,
    UnreadableFileError, PoseTrackFormatError, MOTEvalError, VideoReadError, ConfigError,
    TrackerSettingError, OutputExistsError), most also from ValueError or OSError."""


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM, so that cleanup runs as it does for Ctrl-C."""


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (the usage stays in ``--help``)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def tool_parser(tool: str, doc: str) -> argparse.ArgumentParser:
    """The argument parser of ``python -m detectron2_tubes.<tool>``, whose help is the module's
    docstring ``doc`` as written (usage lines and all)."""
    return OneLineErrorParser(
        prog=f"python -m detectron2_tubes.{tool}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """A parser made elsewhere (Detectron2's `default_argument_parser`) with one-line errors."""
    parser.__class__ = type("OneLine" + type(parser).__name__, (OneLineErrorParser,), {})
    return parser


# OSErrors a user fixes by choosing another path, freeing space or changing permissions.
_PATH_ERRNOS = {
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "already exists",
    errno.ENOTDIR: "a file is in the way where a folder is needed",
    errno.EISDIR: "is a folder, not a file",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENAMETOOLONG: "file name too long",
    errno.EFBIG: "file too large (a file-size limit)",
}


def user_error_message(e: BaseException) -> Optional[str]:
    """The one-line message of an error the user can fix, or None for anything else (a bug)."""
    if isinstance(e, UserError):  # every error class of the package a user can fix
        return message_lines(e, sep="; ")
    if isinstance(e, OSError) and e.errno in _PATH_ERRNOS:
        where = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
        return f"{where}: {_PATH_ERRNOS[e.errno]}" if where else _PATH_ERRNOS[e.errno]
    return None


def message_lines(e, limit: Optional[int] = None, sep: str = " ") -> str:
    """The non-empty lines of an exception's message (or of a text), the first ``limit``, on one
    line joined by ``sep``; an exception's type name when its message is empty."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if lines:
        return sep.join(lines[:limit])
    return type(e).__name__ if isinstance(e, BaseException) else ""


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises `Terminated` in the main thread (only there can Python
    install a handler; elsewhere the block does nothing)."""

    def handler(signum, frame):
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_command(
    prog: str, main: Callable[[], Optional[int]], report: Callable[[str], None] = _to_stderr
) -> int:
    """Run a command's ``main`` inside the error boundary; returns its exit status. ``report``
    receives the one line (by default printed to stderr)."""
    quiet_third_party_warnings()
    try:
        with _sigterm_raises():
            return main() or 0
    except KeyboardInterrupt:
        report(f"{prog}: interrupted")
        return 130
    except Terminated:
        report(f"{prog}: terminated")
        return 143
    except Exception as e:
        message = user_error_message(e)
        if message is None:
            raise
        report(f"{prog}: error: {message}")
        return 2


def quiet_third_party_warnings() -> None:
    """Hide, for the rest of the process, the third-party messages users cannot act on that
    every command would otherwise print (each checked to change nothing of ours)."""
    for message, category in (
        (r"`torch\.jit\.script` is deprecated", FutureWarning),  # fvcore under torch >= 2.10
        (r"torch\.meshgrid: in an upcoming release", UserWarning),  # Detectron2's anchors
        (r"Detected pickle protocol", UserWarning),  # handled in safe_load
        (r"`broadcast_buffers` is deprecated", FutureWarning),  # Detectron2's DDP wrapper
    ):
        warnings.filterwarnings("ignore", message=message, category=category)
    # torch's own log lines: Detectron2's environment report without CUDA, torch.fx's notice
    # about is_fx_tracing (Detectron2 asks it on every forward), and torch.multiprocessing's
    # notice when it stops the other workers after one failed.
    for name in (
        "torch.utils.cpp_extension",
        "torch.fx._symbolic_trace",
        "torch.multiprocessing.spawn",
    ):
        logging.getLogger(name).setLevel(logging.ERROR)


# Detectron2's dumps, and its trainer's traceback of an exception that the error boundary
# reports in one line (or, for a bug, prints again itself).
_DUMPS = (
    "Environment info:",
    "Contents of args.config_file",
    "Running with full config:",
    "Model:\n",
    "Exception during training:",
)


def _not_a_dump(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_DUMPS)


def keep_dumps_in_log_file(*logger_names: str) -> None:
    """Detectron2 logs its environment report, the config file, the full config and the model
    (about 600 lines), and its console shows DEBUG lines; keep those in log.txt, where Detectron2
    users look for them, and off the console handlers of ``logger_names``."""
    for name in logger_names or ("detectron2", "fvcore", "d2"):
        for handler in logging.getLogger(name).handlers:
            # Detectron2's log.txt handler is a StreamHandler too, on a file stream.
            on_console = getattr(handler, "stream", None) in (sys.stdout, sys.stderr)
            if on_console and _not_a_dump not in handler.filters:
                handler.addFilter(_not_a_dump)
                # Detectron2's console handlers show DEBUG (per-tensor inflation lines, ...).
                handler.setLevel(max(handler.level, logging.INFO))


def _not_a_model_dump(record: logging.LogRecord) -> bool:
    """Console filter: Detectron2's trainer logs the whole model; keep that in log.txt only."""
    return not str(record.msg).startswith("Model:\n")


def show_training_log() -> None:
    """Detectron2's and this package's logs on the console (stdout), as Detectron2's commands
    show them, without the trainer's dump of the whole model."""
    from detectron2.utils.logger import setup_logger

    setup_logger()  # cached: once per process
    setup_logger(name="detectron2_tubes")
    for name in ("detectron2", "detectron2_tubes"):
        for handler in logging.getLogger(name).handlers:
            if type(handler) is logging.StreamHandler and _not_a_model_dump not in handler.filters:
                handler.addFilter(_not_a_model_dump)
