"""A run directory as the commands that show runs read it (``report``, ``compare``): never writing to it.

:func:`open_run` reads a run's marker, settings and log into a :class:`RunView`. It
takes no lock and writes nothing, so it works on a run that is still training: it sees
what is there (a log with the epochs so far, no log at all before the first epoch).
A run from before ``run.json`` existed is read too when its ``config.json`` names its
experiment, as ``sample`` and ``evaluate`` read it. ``log.jsonl`` is appended to line
by line while a run trains, so a line that is not a log entry (a JSON object whose
``epoch``, and ``iteration`` if it has one, are finite non-negative numbers) is skipped
with a warning rather than refused: one bad line should not hide the rest of a run. An
unterminated last line that does not parse is an entry being written and is skipped
quietly.

Also here: what the two commands say alike about a run, its final and best metrics
(:func:`final_metrics`, :func:`best_metrics`), how a value is shown
(:func:`show_value`, :func:`show_setting`), the settings neither compares
(:data:`NOT_COMPARED`) and the command that resumes it (:func:`resume_command`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan_ignite.config import NOT_RESUMED, read_saved_config
from gan_ignite.errors import UsageError
from gan_ignite.run_dir import (
    IMAGES, LOG, MARKER, Marker, RunLock, open_regular, read_marker, resolve_path, run_experiment_name,
)

__all__ = [
    "RunView", "open_run", "read_log", "read_bytes", "sample_grids", "final_metrics", "best_metrics",
    "show_value", "show_setting", "resume_command", "differs_from_default", "METRIC_KEYS", "BOOKKEEPING_KEYS",
    "NOT_COMPARED",
]

# The metrics a reader looks for first, in this order; eval/ keys follow, then the others, sorted.
METRIC_KEYS = ("gen/loss", "dis/loss", "dis/real", "dis/fake")
# Entry keys that say when an entry was made, not what was measured.
BOOKKEEPING_KEYS = ("epoch", "epoch_detail", "iteration", "elapsed_time")
# Settings that do not say what a run is: where and how its process ran (NOT_RESUMED:
# out, device, master_port...; world_size, the processes the launch started), and the
# experiment config.json names, which both commands show on their own. The report marks
# none of them as changed from the defaults; compare lists them only with --all.
NOT_COMPARED = (*NOT_RESUMED, "world_size", "experiment")
# How an eval/ metric improves; a key ending in /loss improves by going down.
_BETTER: dict[str, Callable[..., float]] = {
    "eval/fid": min, "eval/kid": min, "eval/max_class_share": min,
    "eval/is": max, "eval/confident": max, "eval/classes": max,
    "eval/precision": max, "eval/recall": max, "eval/density": max, "eval/coverage": max,
}
_GRID = re.compile(r"^epoch_(\d{4,})\.png$")


@dataclass(frozen=True)
class RunView:
    """What a run directory holds, read once.

    Attributes:
        path: the run directory, resolved.
        experiment: the experiment that trains the run (``gan_mnist``).
        marker: its ``run.json`` (None: a run from before ``run.json``, named by ``config.json``).
        settings: its ``config.json``.
        log: the entries of ``log.jsonl`` that parse, in order (empty before the first).
        warnings: what was skipped while reading, one line each.
        in_use: whether a process holds the run's lock (it is training now).
    """

    path: Path
    experiment: str
    marker: Marker | None
    settings: dict[str, Any]
    log: list[dict[str, Any]]
    warnings: tuple[str, ...]
    in_use: bool

    @property
    def started(self) -> str | None:
        """When the run started (UTC, ISO 8601), or None when it has no ``run.json`` to say."""
        return self.marker.created if self.marker is not None else None

    @property
    def last(self) -> dict[str, Any]:
        """The newest log entry (empty before the first)."""
        return self.log[-1] if self.log else {}

    @property
    def epochs_done(self) -> int:
        epoch = self.last.get("epoch", 0)
        return int(epoch) if _is_number(epoch) else 0

    @property
    def epochs_planned(self) -> int | None:
        epochs = self.settings.get("epochs")
        return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None


def open_run(text: str) -> RunView:
    """The run directory ``text`` (as the user typed it), read without writing anything.

    Raises:
        UsageError: no such directory, no run there (neither ``run.json`` nor a
            ``config.json`` naming its experiment), or a marker or settings file that
            cannot be read.
    """
    path = resolve_path(text, "RUN_DIR")
    if not path.exists():
        raise UsageError(f"RUN_DIR {text} does not exist; pass a run directory (the --out of a training run)")
    if not path.is_dir():
        raise UsageError(f"RUN_DIR {text} is a file, not a run directory; pass the --out of a training run")
    try:
        marker = read_marker(path)
    except UsageError:
        raise UsageError(f"{path / MARKER} is not a gan_ignite run marker, so {path} is not a run to read; "
                         f"pass the --out of a training run") from None
    settings = read_saved_config(path)  # a UsageError naming the file if it is corrupt
    experiment = run_experiment_name(path, marker, settings)
    log, warnings = read_log(path / LOG)
    return RunView(path, experiment, marker, settings, log, tuple(warnings), _in_use(path))


def _in_use(path: Path) -> bool:
    try:
        RunLock(path).check_free()  # takes a shared lock for an instant, writes nothing
    except UsageError:
        return True
    return False


def read_bytes(path: Path) -> bytes | None:
    """The contents of the regular file ``path`` (never through a link, never a FIFO), or None."""
    try:
        fd = open_regular(path)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            return f.read()
    except OSError:
        return None


def read_log(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The entries of ``log.jsonl`` at ``path`` and a warning about the lines skipped (at most one).

    A missing log is an empty one (a run before its first entry).
    """
    if not os.path.lexists(path):
        return [], []
    data = read_bytes(path)
    if data is None:
        return [], [f"{path} is not a readable file; the report has no log entries"]
    lines = data.split(b"\n")
    entries, bad = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        entry = _entry(line)
        if entry is not None:
            entries.append(entry)
        elif number < len(lines):  # the last piece has no newline: an entry being appended
            bad.append(number)
    if not bad:
        return entries, []
    shown = ", ".join(map(str, bad[:5])) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
    return entries, [f"{path} line{'s' if len(bad) > 1 else ''} {shown} {'are' if len(bad) > 1 else 'is'} not "
                     f"a log entry (a JSON object with a finite, non-negative epoch); skipped"]


def _entry(line: bytes) -> dict[str, Any] | None:
    """The log entry ``line`` holds, or None: its epoch (and iteration, if any) finite and non-negative.

    JSON as Python writes it may hold ``NaN`` and ``Infinity`` (and ``1e400`` reads as
    infinity): such an epoch would be no epoch to show, count or resume from.
    """
    try:
        entry = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(entry, dict) or not _is_count(entry.get("epoch")):
        return None
    if "iteration" in entry and not _is_count(entry["iteration"]):
        return None
    return entry


def sample_grids(run: Path) -> list[tuple[int, Path]]:
    """The run's sample grids ``images/epoch_0001.png ...`` as (epoch, path), by epoch."""
    try:
        names = os.listdir(run / IMAGES)
    except OSError:
        return []
    found = [(int(m.group(1)), run / IMAGES / name) for name in names if (m := _GRID.match(name))]
    return sorted(found)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    """Whether ``value`` can be an epoch or an iteration: a finite, non-negative number."""
    return _is_number(value) and math.isfinite(value) and value >= 0


def final_metrics(view: RunView) -> dict[str, tuple[float, Any]]:
    """Each metric's newest value and its epoch: the last entry's, and each eval/ key's latest.

    Evaluations run every ``--eval-interval`` epochs, so the last entry may have none:
    an eval/ key's value is its newest one, with the epoch it was measured at.
    """
    found: dict[str, tuple[float, Any]] = {}
    for entry in view.log:
        for key, value in entry.items():
            if _is_number(value) and key not in BOOKKEEPING_KEYS and (key.startswith("eval/") or entry is view.last):
                found[key] = (value, entry["epoch"])
    return {key: found[key] for key in _ordered(found)}


def best_metrics(view: RunView) -> dict[str, tuple[float, Any]]:
    """The best value of each loss (lowest) and eval/ metric (lowest FID, KID; highest IS...) and its epoch."""
    best: dict[str, tuple[float, Any]] = {}
    for entry in view.log:
        for key, value in entry.items():
            better = _BETTER.get(key, min if key.endswith("/loss") else None)
            if better is None or not _is_number(value) or math.isnan(value):
                continue
            if key not in best or better(value, best[key][0]) != best[key][0]:
                best[key] = (value, entry["epoch"])
    return {key: best[key] for key in _ordered(best)}


def _ordered(keys: Mapping[str, Any]) -> list[str]:
    first = [key for key in METRIC_KEYS if key in keys]
    rest = sorted((not key.startswith("eval/"), key) for key in keys if key not in METRIC_KEYS)
    return first + [key for _, key in rest]


def show_value(value: Any) -> str:
    """A metric as a table shows it: integers whole, other numbers with 4 decimals (4 digits if very large or small)."""
    if isinstance(value, (bool, int)) or not _is_number(value):
        return str(value)
    if value == 0 or not math.isfinite(value) or 1e-3 <= abs(value) < 1e6:
        return f"{value:.4f}"
    return f"{value:.4g}"


def show_setting(value: Any) -> str:
    """A setting as ``config.json`` holds it: strings as they are, everything else in JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def resume_command(view: RunView) -> str:
    """The command that continues the run for more epochs: as many again as it was set to train.

    The same as the one a finished run prints (:func:`gan_ignite.summary.final_summary`).
    """
    epochs = view.epochs_done + (view.epochs_planned or view.epochs_done or 1)
    where = shlex.quote(str(view.path))
    return f"gan-ignite train {shlex.quote(view.experiment)} --out {where} --resume --epochs {epochs}"


def differs_from_default(config_class: type, name: str, value: Any) -> bool | None:
    """Whether setting ``name`` has another value than ``config_class``'s default (None: not a field).

    A path option is saved resolved where the run started (``/home/u/data`` for the
    default ``data``): it differs if its end is not the default's.
    """
    from gan_ignite.options import is_path

    fields = {f.name: f for f in dataclasses.fields(config_class)}
    if name not in fields or fields[name].default is dataclasses.MISSING:
        return None
    default = fields[name].default
    if isinstance(default, tuple):
        default = list(default)
    if is_path(config_class, name) and isinstance(value, str) and isinstance(default, str):
        parts = Path(default).parts
        if Path(default).is_absolute() or not parts:
            return value != default
        return Path(value).parts[-len(parts):] != parts
    return value != default
