"""The run directory: its layout, identity marker, lock, path resolution and atomic writes.

A run directory (``--out``) holds what one training run writes (DESIGN.md)::

    run.json       identity marker, written first: format version, experiment, run id, entries
    run.lock       the lock its one writing process holds
    config.json    the resolved settings
    log.jsonl      LogReport entries
    images/        epoch_0001.png sample grids, reconstruction_0001.png reconstructions
    checkpoints/   checkpoint_<iteration>.pt and best_fid_checkpoint_<iteration>.pt, each
                   with a <name>.sha256 sidecar
    tb/            TensorBoard event files
    plots/         loss.png, dis_output.png

Only a directory with a valid ``run.json`` is a run (:func:`read_marker`). ``--force``
deletes only what :func:`removable_files` finds: the entries the marker lists, and in
them only files of the names above, never through a symbolic link; a run directory that
holds anything else is refused whole, so nothing a user put there is ever deleted.
:class:`RunLock` makes one process at a time the writer of a directory. Paths a user
types are expanded and resolved once (:func:`resolve_path`), so every writer, Ignite's
``DiskSaver`` included, writes to the same place. Files are written atomically
(:func:`write_atomic`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, NoReturn

from gan_ignite.errors import UsageError

__all__ = [
    "MARKER", "LOCK", "CONFIG", "LOG", "IMAGES", "CHECKPOINTS", "TB", "PLOTS", "ENTRIES", "FORMAT",
    "SAMPLE_GRID_FILE", "RECONSTRUCTION_FILE", "LOSS_PLOT", "DIS_OUTPUT_PLOT", "CHECKPOINT_FILE", "DIGEST_SUFFIX",
    "TEMPORARY_CHECKPOINT", "checkpoint_name",
    "Marker", "RunLock", "read_marker", "write_marker", "check_same_experiment", "removable_files", "remove_files",
    "check_folders_writable", "check_writable_dir", "foreign_entries", "open_regular", "read_small", "resolve_path", "looks_like_path", "write_atomic",
]

FORMAT = 1  # of run.json: a reader refuses a marker of another format
MARKER = "run.json"
LOCK = "run.lock"
CONFIG = "config.json"
LOG = "log.jsonl"
IMAGES = "images"
CHECKPOINTS = "checkpoints"
TB = "tb"
PLOTS = "plots"

SAMPLE_GRID_FILE = "epoch_{epoch:04d}.png"
RECONSTRUCTION_FILE = "reconstruction_{epoch:04d}.png"
LOSS_PLOT = "loss.png"
DIS_OUTPUT_PLOT = "dis_output.png"
def checkpoint_name(iteration: int) -> str:
    """The file name of the snapshot taken after ``iteration`` (``checkpoint_250.pt``)."""
    return f"checkpoint_{iteration}.pt"


CHECKPOINT_FILE = re.compile(r"^checkpoint_(\d+)\.pt$")  # Ignite Checkpoint's name with the iteration as step
DIGEST_SUFFIX = ".sha256"

# The temporary name write_atomic gives a file while writing it (mkstemp: 8 characters).
_TEMP = r"(\.{name}\.[a-z0-9_]{{8}}\.tmp)"
_FILES_IN = {
    IMAGES: r"(epoch|reconstruction)_\d{4,}\.png",
    # Ignite's DiskSaver writes "tmp" + 8 characters (NamedTemporaryFile), then renames.
    CHECKPOINTS: r"(best_fid_)?checkpoint_\d+\.pt(\.sha256)?|tmp[a-z0-9_]{8}",
    TB: r"events\.out\.tfevents\.\d+\.[^/]+",
    PLOTS: "|".join(map(re.escape, (LOSS_PLOT, DIS_OUTPUT_PLOT))),
}
# Every entry a run writes, with the names of what it may hold: None for a file.
ENTRIES: dict[str, re.Pattern[str] | None] = {
    MARKER: None, LOCK: None, CONFIG: None, LOG: None,
    **{folder: re.compile(rf"^({names})$|^{_TEMP.format(name='[^/]+')}$") for folder, names in _FILES_IN.items()},
}
# What a write cut short by a kill leaves in the checkpoints folder: DiskSaver's or write_atomic's.
TEMPORARY_CHECKPOINT = re.compile(rf"^(tmp[a-z0-9_]{{8}}|{_TEMP.format(name='[^/]+')})$")
_EXPERIMENT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,99}$")
_TOP_TEMP = re.compile("^(" + "|".join(_TEMP.format(name=re.escape(n)) for n in (MARKER, CONFIG, LOG)) + ")$")


# --- paths ----------------------------------------------------------------------------


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
    if (problem := _cannot_write_in(folder)) is not None:
        raise UsageError(f"{what} {path} is not writable ({problem} in {folder}); "
                         f"{remedy or 'pass a directory you can write to'}")


def _cannot_write_in(folder: Path) -> str | None:
    """Why no file can be created in ``folder``, or None if one can."""
    try:
        # An unnamed temporary file (O_TMPFILE on Linux): nothing appears in the folder.
        # Asking os.access instead would be wrong for root and on read-only mounts.
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


def check_folders_writable(out: Path) -> None:
    """Every folder of the layout that ``out`` already holds is a directory this process can write in.

    Checked when a run starts, not at the first checkpoint an epoch later.
    """
    for name, files in ENTRIES.items():
        path = out / name
        if files is None or not os.path.lexists(path):
            continue
        if path.is_symlink() or not path.is_dir():
            raise UsageError(f"{path} should be the run's folder of {name}, but it is not a directory; "
                             f"move it away and resume")
        if (problem := _cannot_write_in(path)) is not None:
            remedy = ("remount it read-write or move the run to a writable disk" if problem == os.strerror(errno.EROFS)
                      else f"make it writable (chmod u+w {path})")
            raise UsageError(f"{path} is not writable ({problem}); {remedy} and resume")


# --- atomic writes --------------------------------------------------------------------


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


# --- identity -------------------------------------------------------------------------


@dataclass(frozen=True)
class Marker:
    """What ``run.json`` says: which program wrote the directory, and what it holds.

    Attributes:
        format: :data:`FORMAT` of the marker.
        experiment: the experiment that trains the run (``gan_mnist``).
        run_id: a random id, new for every run started (a ``--force`` run gets a new one).
        created: when the run started (UTC, ISO 8601).
        entries: the names of :data:`ENTRIES` the run writes.
    """

    format: int
    experiment: str
    run_id: str
    created: str
    entries: tuple[str, ...]


def write_marker(out: Path, experiment: str) -> Marker:
    """Write a new run's ``run.json`` (the first file of a run) and return it."""
    marker = Marker(FORMAT, experiment, uuid.uuid4().hex, datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    tuple(ENTRIES))
    text = json.dumps({**asdict(marker), "entries": list(marker.entries)}, indent=2) + "\n"
    write_atomic(out / MARKER, lambda f: f.write(text.encode()))
    return marker


def read_marker(out: Path) -> Marker | None:
    """The marker of the run directory ``out``, or ``None`` if it has none.

    Raises:
        UsageError: a ``run.json`` that is no gan_ignite marker of this format.
    """
    path = out / MARKER
    if not os.path.lexists(path):
        return None
    problem = "it is not a regular file" if path.is_symlink() or not path.is_file() else None
    data = None
    if problem is None:
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problem = f"{exc.strerror if isinstance(exc, OSError) else exc}"
    marker = _parse_marker(data) if problem is None else None
    if marker is None:
        raise UsageError(f"{path} is not a gan_ignite run marker ({problem or 'unexpected content'}); "
                         f"this directory is not a run that can be resumed or replaced: choose another --out")
    return marker


def _parse_marker(data: object) -> Marker | None:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    fields = {name: data.get(name) for name in ("experiment", "run_id", "created")}
    entries = data.get("entries")
    if not all(isinstance(v, str) for v in fields.values()) or not isinstance(entries, list):
        return None
    if not _EXPERIMENT_NAME.match(fields["experiment"]):
        return None  # the name is shown in messages and commands: a module name, nothing else
    if not all(isinstance(e, str) and e in ENTRIES for e in entries):
        return None  # a marker never names anything outside the layout
    return Marker(FORMAT, entries=tuple(entries), **fields)


def check_same_experiment(out: Path, marker: Marker, experiment: str | None) -> None:
    """Refuse to continue the run in ``out`` with another experiment than the one that started it."""
    if experiment is not None and marker.experiment != experiment:
        raise UsageError(
            f"--resume: {out} is a run of {marker.experiment}, not {experiment}; continue it with "
            f"python -m experiments.{marker.experiment}, or start {experiment} in another --out"
        )


def removable_files(out: Path, marker: Marker) -> list[Path]:
    """What ``--force`` deletes in the run directory ``out``: every file the run wrote, except its lock.

    Raises:
        UsageError: ``out`` holds something the run did not write (a file of another
            name, a subfolder, a symbolic link); then nothing may be deleted.
    """
    found: list[Path] = []
    for entry in sorted(os.scandir(out), key=lambda e: e.name):
        files = ENTRIES.get(entry.name) if entry.name in marker.entries else None
        own = entry.name in marker.entries or _TOP_TEMP.match(entry.name)
        if not own:
            _refuse_foreign(out, Path(entry.path), "which no run writes")
        if entry.is_symlink():
            _refuse_foreign(out, Path(entry.path), "a symbolic link, which a run never makes")
        if files is None:
            if not entry.is_file(follow_symlinks=False):
                _refuse_foreign(out, Path(entry.path), "not a regular file")
            if entry.name != LOCK:  # the lock stays: this process holds it
                found.append(Path(entry.path))
            continue
        if not entry.is_dir(follow_symlinks=False):
            _refuse_foreign(out, Path(entry.path), "not a folder")
        found += _files_in(out, Path(entry.path), files)
        found.append(Path(entry.path))  # the folder itself, after its files
    # The marker goes last: a deletion cut short leaves a run that --force can replace.
    return sorted(found, key=lambda path: path.name == MARKER and path.parent == out)


def _files_in(out: Path, folder: Path, names: re.Pattern[str]) -> list[Path]:
    files = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
            _refuse_foreign(out, Path(entry.path), "not a file a run writes")
        if not names.match(entry.name):
            _refuse_foreign(out, Path(entry.path), "which no run writes")
        files.append(Path(entry.path))
    return files


def _refuse_foreign(out: Path, path: Path, why: str) -> NoReturn:
    raise UsageError(
        f"--force replaces only what a run wrote, but {out} holds {path.relative_to(out)} ({why}); "
        f"move it out of the run directory first, or choose another --out; nothing was deleted"
    )


def foreign_entries(out: Path) -> list[str]:
    """The names in ``out`` other than a lock and a write in progress: what makes a folder "not empty"."""
    return sorted(p.name for p in out.iterdir() if p.name != LOCK and not _TOP_TEMP.match(p.name))


def remove_files(paths: Iterable[Path]) -> None:
    """Delete what :func:`removable_files` listed: files, then their (now empty) folders."""
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            path.rmdir()  # never rmtree: a file that appeared since is kept, and this fails loudly
        else:
            path.unlink(missing_ok=True)


# --- one writer at a time -------------------------------------------------------------

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
