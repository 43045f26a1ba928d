"""The run directory's layout and identity: what a run writes, its marker, and what --force may delete.

Only a directory with a valid ``run.json`` is a run (:func:`read_marker`). ``--force``
deletes only what :func:`removable_files` finds: the entries the marker lists, and in
them only files of the layout's names, never through a symbolic link; a run directory
that holds anything else is refused whole, so nothing a user put there is ever deleted.
"""

from __future__ import annotations

import errno
import json
import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import NoReturn

from gan_ignite.errors import UsageError
from gan_ignite.run_dir.paths import cannot_write_in, write_atomic

__all__ = [
    "MARKER", "LOCK", "CONFIG", "LOG", "IMAGES", "CHECKPOINTS", "TB", "PLOTS", "REPORT", "ENTRIES", "FORMAT",
    "SAMPLE_GRID_FILE", "RECONSTRUCTION_FILE", "LOSS_PLOT", "DIS_OUTPUT_PLOT", "CHECKPOINT_FILE", "DIGEST_SUFFIX",
    "TEMPORARY_CHECKPOINT", "checkpoint_name", "Marker", "read_marker", "write_marker", "run_experiment_name",
    "check_same_experiment", "removable_files", "remove_files", "foreign_entries", "check_folders_writable", "OBJECT_SNAPSHOT_FILE",
    "RESERVED_CHECKPOINT_FILE",
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
REPORT = "report.html"  # gan-ignite report's page, by default in the run directory

SAMPLE_GRID_FILE = "epoch_{epoch:04d}.png"
RECONSTRUCTION_FILE = "reconstruction_{epoch:04d}.png"
LOSS_PLOT = "loss.png"
DIS_OUTPUT_PLOT = "dis_output.png"
def checkpoint_name(iteration: int) -> str:
    """The file name of the snapshot taken after ``iteration`` (``checkpoint_250.pt``)."""
    return f"checkpoint_{iteration}.pt"


CHECKPOINT_FILE = re.compile(r"^checkpoint_(\d+)\.pt$")  # Ignite Checkpoint's name with the iteration as step
DIGEST_SUFFIX = ".sha256"
# What snapshot_object may name a file it writes into checkpoints/ ("gen_best.pt",
# "gen_iter_250.pt"): a plain name, no path separator, not hidden, ending in .pt ...
OBJECT_SNAPSHOT_FILE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*\.pt$")
# ... except the names of the trainer's own snapshots (Snapshot's, Evaluation's best FID),
# which resuming reads: an object's file there would pass for one.
RESERVED_CHECKPOINT_FILE = re.compile(r"^(best_fid_)?checkpoint_\d+\.pt$")

# The temporary name write_atomic gives a file while writing it (mkstemp: 8 characters).
_TEMP = r"(\.{name}\.[a-z0-9_]{{8}}\.tmp)"
_FILES_IN = {
    IMAGES: r"(epoch|reconstruction)_\d{4,}\.png",
    # Ignite's DiskSaver writes "tmp" + 8 characters (NamedTemporaryFile), then renames.
    # Snapshots (checkpoint_250.pt, best_fid_checkpoint_250.pt) and snapshot_object's files
    # (OBJECT_SNAPSHOT_FILE), each with its .sha256 sidecar.
    CHECKPOINTS: r"[A-Za-z0-9_-][A-Za-z0-9_.-]*\.pt(\.sha256)?|tmp[a-z0-9_]{8}",
    TB: r"events\.out\.tfevents\.\d+\.[^/]+",
    PLOTS: "|".join(map(re.escape, (LOSS_PLOT, DIS_OUTPUT_PLOT))),
}
# Every entry a run writes, with the names of what it may hold: None for a file.
ENTRIES: dict[str, re.Pattern[str] | None] = {
    MARKER: None, LOCK: None, CONFIG: None, LOG: None, REPORT: None,
    **{folder: re.compile(rf"^({names})$|^{_TEMP.format(name='[^/]+')}$") for folder, names in _FILES_IN.items()},
}
# What a write cut short by a kill leaves in the checkpoints folder: DiskSaver's or write_atomic's.
TEMPORARY_CHECKPOINT = re.compile(rf"^(tmp[a-z0-9_]{{8}}|{_TEMP.format(name='[^/]+')})$")
_EXPERIMENT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,99}$")
_TOP_TEMP = re.compile("^(" + "|".join(_TEMP.format(name=re.escape(n)) for n in (MARKER, CONFIG, LOG, REPORT)) + ")$")


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
        if (problem := cannot_write_in(path)) is not None:
            remedy = ("remount it read-write or move the run to a writable disk" if problem == os.strerror(errno.EROFS)
                      else f"make it writable (chmod u+w {path})")
            raise UsageError(f"{path} is not writable ({problem}); {remedy} and resume")


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


def run_experiment_name(out: Path, marker: Marker | None, settings: dict | None) -> str:
    """The experiment of the run in ``out``: its marker's, or for a run from before
    ``run.json`` the one its ``config.json`` names (older ones named the module).

    Raises:
        UsageError: ``out`` is no run directory (empty, or neither a marker nor a
            ``config.json`` naming an experiment), or a run whose ``config.json`` is missing.
    """
    if marker is not None:
        if settings is None:
            raise UsageError(f"{out} has no {CONFIG} (the run's settings); restore it, or pass another run")
        return marker.experiment
    name = settings.get("experiment") if settings is not None else None
    if isinstance(name, str) and _EXPERIMENT_NAME.match(name.removeprefix("experiments.")):  # as a marker's
        return name.removeprefix("experiments.")
    if _is_empty(out):
        why = "it is empty"
    elif settings is None:
        why = f"it has neither {MARKER} nor {CONFIG}"
    else:
        why = f"it has no {MARKER}, and its {CONFIG} names no experiment"
    raise UsageError(f"{out} is not a run directory ({why}); pass the --out of a training run")


def _is_empty(path: Path) -> bool:
    try:
        with os.scandir(path) as found:
            return next(found, None) is None
    except OSError:  # unreadable: not known to be empty
        return False


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
        # The report page is the program's too, in runs whose marker predates it.
        own = entry.name in marker.entries or entry.name == REPORT or _TOP_TEMP.match(entry.name)
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
