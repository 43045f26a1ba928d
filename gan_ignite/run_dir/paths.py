"""Paths a user types, files from anyone, and atomic writes: the run directory's file handling.

:func:`resolve_path` expands ``~`` and makes a path absolute once, where it is parsed;
:func:`open_regular` opens a file that may come from anyone (a run directory someone
sent) without following a link or blocking on a FIFO; :func:`write_atomic` writes a file
that a reader never sees half-written.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from gan_ignite.errors import UsageError

__all__ = ["looks_like_path", "resolve_path", "open_regular", "read_small", "check_writable_dir", "cannot_write_in",
           "write_atomic"]


def looks_like_path(name: str) -> bool:
    """Whether ``name`` was meant as a path ("./x", "~/x", "a/b") rather than a name."""
    return "/" in name or os.sep in name or name.startswith((".", "~"))


def resolve_path(path: str | os.PathLike, flag: str) -> Path:
    """``path`` with ``~`` expanded, made absolute and free of symbolic links.

    Resolved once, where the option is parsed, so that every writer (Ignite's
    ``DiskSaver`` expands ``~`` itself, the rest of the program would not) gets one path.

    Raises:
        UsageError: a dangling symbolic link, or a name longer than the file system allows.
    """
    expanded = Path(os.path.expanduser(os.fspath(path)))
    _check_length(expanded, flag)
    try:
        if expanded.is_symlink() and not expanded.exists():
            target = os.readlink(expanded)
            raise UsageError(f"{flag} {path} is a symbolic link to {target}, which does not exist; "
                             f"create the target or pass another path")
        return expanded.resolve(strict=False)
    except (RuntimeError, OSError) as exc:  # a loop of symbolic links (RuntimeError before Python 3.13)
        raise UsageError(f"{flag} {path} cannot be resolved ({getattr(exc, 'strerror', None) or exc}); "
                         f"pass another path") from None


_SAFE_OPEN = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def open_regular(path: Path, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
    """``os.open`` that never follows a final symbolic link, never blocks on a FIFO, and
    refuses anything but a regular file (a device, a FIFO, a folder): files in a run
    directory may come from anyone, and reading ``/dev/zero`` or a FIFO would never end.

    Raises:
        OSError: the file is missing, a link, or not a regular file (``EINVAL``).
    """
    fd = os.open(path, flags | _SAFE_OPEN, mode)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    return fd


def read_small(path: Path, limit: int = 4096) -> bytes:
    """At most ``limit`` bytes of the regular file ``path`` (see :func:`open_regular`)."""
    fd = open_regular(path)
    try:
        return os.read(fd, limit)
    finally:
        os.close(fd)


def _check_length(path: Path, flag: str) -> None:
    """Names and paths longer than the file system takes fail at the first write: say so now."""
    absolute = Path(os.path.abspath(path))
    existing = next((p for p in absolute.parents if p.exists()), Path("/"))
    try:
        name_max, path_max = os.pathconf(existing, "PC_NAME_MAX"), os.pathconf(existing, "PC_PATH_MAX")
    except (OSError, ValueError):  # no such limits (or not POSIX): let the write speak
        return
    longest = max(absolute.parts, key=lambda part: len(os.fsencode(part)))
    if len(os.fsencode(longest)) > name_max:
        raise UsageError(f"{flag} has a name of {len(os.fsencode(longest))} bytes ({longest[:20]}...), "
                         f"longer than the {name_max} this file system allows; pass a shorter path")
    if len(os.fsencode(str(absolute))) >= path_max:
        raise UsageError(f"{flag} is a path of {len(os.fsencode(str(absolute)))} bytes, longer than the "
                         f"{path_max - 1} this system allows; pass a shorter path")


def check_writable_dir(path: Path, what: str, remedy: str | None = None) -> None:
    """``path``, or the nearest folder that would hold it, is a directory this process can write in.

    Raises:
        UsageError: ``{what} {path} ...`` naming what is in the way, and ``remedy`` (by
            default: pass a directory path, one you can write to).
    """
    if path.exists() and not path.is_dir():
        raise UsageError(f"{what} {path} is a file, not a directory; {remedy or 'pass a directory path'}")
    folder = next(p for p in (path, *path.parents) if p.exists())
    if not folder.is_dir():
        raise UsageError(f"{what} {path} lies inside the file {folder}, not a directory; "
                         f"{remedy or 'pass a directory path'}")
    if (problem := cannot_write_in(folder)) is not None:
        raise UsageError(f"{what} {path} is not writable ({problem} in {folder}); "
                         f"{remedy or 'pass a directory you can write to'}")


def cannot_write_in(folder: Path) -> str | None:
    """Why no file can be created in ``folder``, or None if one can."""
    try:
        # An unnamed temporary file (O_TMPFILE on Linux): nothing appears in the folder.
        # Asking os.access instead would be wrong for root and on read-only mounts.
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


def _default_mode() -> int:
    # mkstemp creates 0600 files; give the result the mode a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it over ``path``.

    As Ignite's ``DiskSaver`` does: ``os.replace`` within one directory is atomic, so a
    reader never sees half a file and a kill never leaves one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
