"""What the commands share: their argument parser, and the one error boundary they all run in.

`run_command` is that boundary. A mistake a user can fix (a bad config key, a checkpoint this
model cannot use, an unreadable or unsafe file, a malformed annotation, an output path that is
a file, read-only or on a full disk) ends as one line ``PROG: error: ...`` and exit status 2;
Ctrl-C ends as ``PROG: interrupted`` (130), SIGTERM as ``PROG: terminated`` (143), after the
commands' ``finally`` blocks have removed their temporary files. Anything else is a bug and
keeps its traceback.
"""

import argparse
import logging
import signal
import sys
import warnings
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

from posetrack_core.errors import user_error_message

__all__ = [
    "tool_parser",
    "run_command",
    "one_line_errors",
    "Terminated",
    "quiet_third_party_warnings",
]


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM, so that cleanup runs as it does for Ctrl-C."""


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (the usage stays in ``--help``)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def tool_parser(tool: str, doc: str) -> argparse.ArgumentParser:
    """The argument parser of ``python -m tubes_cli.<tool>``, whose help is the module's
    docstring ``doc`` as written (usage lines and all)."""
    return OneLineErrorParser(
        prog=f"python -m tubes_cli.{tool}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """A parser made elsewhere (Detectron2's `default_argument_parser`) with one-line errors."""
    parser.__class__ = type("OneLine" + type(parser).__name__, (OneLineErrorParser,), {})
    return parser


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
