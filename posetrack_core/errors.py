"""The errors a user can fix, and their one-line messages (shared by every package here and
reported by the commands' error boundary, `tubes_cli.boundary.run_command`)."""

import errno
from typing import Optional

__all__ = ["UserError", "user_error_message", "message_lines"]


class UserError(Exception):
    """A mistake the user can fix, already phrased as one line (file, key or value; what to do).

    Every error class of these packages a user can fix derives from it (CheckpointError, UnsafeFileError,
    UnreadableFileError, PoseTrackFormatError, MOTEvalError, VideoReadError, ConfigError,
    TrackerSettingError, OutputExistsError), most also from ValueError or OSError."""


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
