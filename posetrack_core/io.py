"""Writing outputs safely: an output is either complete or absent, never half-written; nothing a
command did not create is replaced unless asked; output paths are checked before work starts."""

import errno
import json
import os
import tempfile
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

from .errors import UserError

__all__ = [
    "atomic_path",
    "write_json_atomic",
    "check_output_files",
    "check_output_folder",
    "created_folder",
    "OutputExistsError",
]

_FULL = (errno.ENOSPC, errno.EDQUOT)


class OutputExistsError(UserError, FileExistsError):
    """An output that exists already, which the command will not replace unless asked."""


@contextmanager
def atomic_path(path: str, suffix: str = "") -> Iterator[str]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds.

    The temporary file is removed on any exit (an error, Ctrl-C, or SIGTERM turned into an
    exception by the commands' error boundary); a full disk is reported against ``path``.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder,
        prefix="." + os.path.basename(path) + ".",
        suffix=suffix or os.path.splitext(path)[1],
    )
    os.close(fd)
    try:
        try:
            yield tmp
        except OSError as e:
            if e.errno in _FULL and not e.filename:
                raise OSError(e.errno, os.strerror(e.errno), path) from None
            raise
        # mkstemp makes files readable by the owner only; give the result the usual mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text_atomic(text: str, path: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)


def write_json_atomic(data: Any, path: str, **kwargs) -> None:
    """Write ``data`` as JSON to ``path`` atomically."""
    with atomic_path(path, ".json") as tmp:
        with open(tmp, "w") as f:
            json.dump(data, f, **kwargs)


def _nearest_existing(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def check_output_folder(folder: str) -> None:
    """Raise a one-line `UserError` now, before any work, if ``folder`` cannot hold outputs: a
    file in its place or on its path, or no permission to create or write it."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UserError(f"{folder}: is a file, where the output folder goes")
    existing = _nearest_existing(folder)
    if not os.path.isdir(existing):
        raise UserError(f"{existing}: is a file, where a folder of {folder} goes")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{existing}: not writable (permission denied), needed for {folder}")


def check_output_files(paths: Iterable[str], *, overwrite: bool = False) -> None:
    """`check_output_folder` for each file's folder; a folder where a file goes is refused, and
    an existing file too unless ``overwrite``."""
    for path in paths:
        check_output_folder(os.path.dirname(os.path.abspath(path)))
        if os.path.isdir(path):
            raise UserError(f"{path}: is a folder, where the output file goes")
        if os.path.exists(path) and not overwrite:
            raise OutputExistsError(f"{path} exists already; pass --overwrite to replace it")


@contextmanager
def created_folder(folder: str) -> Iterator[str]:
    """Create ``folder`` (and missing parents) for the block; if the block fails, remove the
    folders it created that are still empty, so a failed command leaves no empty output folder."""
    folder = os.path.abspath(folder)
    top = folder
    while not os.path.exists(os.path.dirname(top)) and os.path.dirname(top) != top:
        top = os.path.dirname(top)
    created = not os.path.exists(folder)
    os.makedirs(folder, exist_ok=True)
    try:
        yield folder
    except BaseException:
        if created:
            path = folder
            while True:
                try:
                    os.rmdir(path)  # only if empty
                except OSError:
                    break
                if path == top:
                    break
                path = os.path.dirname(path)
        raise
