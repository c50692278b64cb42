"""Atomic file writes: an output is either complete or absent, never half-written."""

import json
import os
import tempfile
from contextlib import contextmanager
from typing import Any, Iterator


@contextmanager
def atomic_path(path: str, suffix: str = "") -> Iterator[str]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder,
        prefix="." + os.path.basename(path) + ".",
        suffix=suffix or os.path.splitext(path)[1],
    )
    os.close(fd)
    try:
        yield tmp
        # mkstemp makes files readable by the owner only; give the result the usual mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json_atomic(data: Any, path: str, **kwargs) -> None:
    """Write ``data`` as JSON to ``path`` atomically."""
    with atomic_path(path, ".json") as tmp:
        with open(tmp, "w") as f:
            json.dump(data, f, **kwargs)
