"""One writer at a time: the run directory's lock.

``fcntl.flock`` on ``run.lock`` inside the run directory, held for the whole run by the
one process that writes it, released by the kernel when that process dies.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from pathlib import Path

from gan_ignite.errors import UsageError
from gan_ignite.run_dir.layout import LOCK
from gan_ignite.run_dir.paths import open_regular

__all__ = ["RunLock"]


_LOCK_ATTEMPTS = 10
# Descriptors of the locks this process holds. A forked child (a DataLoader worker)
# inherits them, and a flock lasts while any descriptor of it is open: closed in every
# child, so that workers outliving a killed run do not keep its directory locked.
_HELD: set[int] = set()


def _close_held_in_child() -> None:
    for fd in _HELD:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_held_in_child)


class RunLock:
    """An exclusive lock on a run directory, held by the one process that writes it.

    ``fcntl.flock`` on ``run.lock`` inside the directory: the kernel releases it when
    the holder exits or is killed (SIGKILL, the OOM killer), so no stale lock is ever
    left to clean up. The holder's PID is written into the file once it starts writing,
    so that a second process can say who holds it. Readers (``evaluate``, TensorBoard)
    do not take it.

    Use as a context manager; :meth:`acquire` creates ``out`` if needed.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self.path = out / LOCK
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # not POSIX (Windows): no lock, as before
            return self
        self.out.mkdir(parents=True, exist_ok=True)
        try:
            fd = open_regular(self.path, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise UsageError(f"cannot open the lock file {self.path} ({exc.strerror}); "
                             f"remove whatever is in its place, or choose another --out") from None
        for attempt in range(_LOCK_ATTEMPTS):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise UsageError(f"cannot lock {self.path} ({exc.strerror}); choose another --out") from None
                if attempt == _LOCK_ATTEMPTS - 1:
                    error = self._in_use(fd)
                    os.close(fd)
                    raise error from None
                time.sleep(0.02)  # another process's check_free holds it for an instant only
        self._fd = fd
        _HELD.add(fd)
        return self

    def check_free(self) -> None:
        """Raise the in-use error now if another process holds the lock; take nothing, write nothing."""
        try:
            import fcntl

            fd = open_regular(self.path)
        except (ImportError, OSError):  # no lock file (a new run; acquire names anything else), or not POSIX
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            raise self._in_use(fd) from None
        finally:
            os.close(fd)

    def _in_use(self, fd: int) -> UsageError:
        return UsageError(f"--out {self.out} is in use by another process{_holder(fd)}; wait for it to finish "
                          f"or stop it, or choose another --out")

    def record_holder(self) -> None:
        """Write this process's PID into the lock file, for a second process's message."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            _HELD.discard(self._fd)
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder(fd: int) -> str:
    """`` (PID n)`` from the lock file, or nothing if it names no live process.

    A new holder writes its PID only once its checks pass; until then the file may still
    name the previous holder, which may have died since.
    """
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    if not text.isdigit():
        return ""
    try:
        os.kill(int(text), 0)  # signal 0: is there such a process?
    except ProcessLookupError:
        return ""
    except OverflowError:  # no PID at all
        return ""
    except PermissionError:  # alive, under another user
        pass
    return f" (PID {text})"
