"""Exceptions and warnings shown to users as one-line messages by the CLI.

* :class:`UserError` — a problem the user can fix; the CLI prints its message as one line and exits with code 2.
* :class:`InputWarning` — an input that is valid but odd (depth that looks like metres in a millimetre PNG, a
  cloud far from its sensor...): raised with :func:`warn_user`, printed by the CLI as one line
  (``implicit3d COMMAND: warning: ...``); library callers see an ordinary :mod:`warnings` warning.
"""

from __future__ import annotations

import errno
import os
import warnings


class UserError(Exception):
    """A problem the user can fix: a missing or malformed file, a bad argument. The message names it."""


class ArgumentError(UserError, ValueError):
    """A bad argument value (a resolution beyond its cap, an unknown precision): a :class:`UserError` for the command
    line's one-line message, and a ``ValueError``, what Python callers catch for a bad value."""


class InputWarning(UserWarning):
    """An input that is accepted but probably not what the user meant; the message names the file."""


def warn_user(message: str) -> None:
    """Warn about an odd but usable input (one line naming the file): see :class:`InputWarning`."""
    warnings.warn(message, InputWarning, stacklevel=2)


_OS_HINTS = {
    errno.ENOSPC: "no space left on the device: free some space or choose another output folder",
    errno.EDQUOT: "disk quota exceeded: free some space or choose another output folder",
    errno.EROFS: "read-only file system: choose another output folder",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EISDIR: "is a folder, a file was expected",
    errno.ENOTDIR: "a parent of this path is a file, not a folder",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "already exists",
    errno.ENAMETOOLONG: "file name too long",
    errno.EMFILE: "too many open files",
}


def describe_os_error(exc: OSError) -> str:
    """One line for an ``OSError``: ``PATH: what went wrong`` (with a hint for the common cases)."""
    what = _OS_HINTS.get(exc.errno or -1) or exc.strerror or str(exc) or type(exc).__name__
    if exc.errno == errno.EEXIST and exc.filename is not None and os.path.isfile(exc.filename):
        what = "is a file, a folder was expected"
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    if not paths:
        return what
    where = " -> ".join(str(p) for p in paths)
    return f"{where}: {what}"
