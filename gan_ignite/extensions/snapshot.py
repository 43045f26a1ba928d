"""Snapshots: the whole training state in Ignite ``Checkpoint`` files, and resuming from them.

A snapshot holds what continuing a run needs: the generator and discriminator, both
optimizers, the trainer (engine counters, elapsed time, the data sampler's seed, every
stateful extension's state such as the fixed sample noise and the log) and every RNG
state. It is written by Ignite's ``Checkpoint`` with a ``DiskSaver`` as
``out/checkpoints/checkpoint_<iteration>.pt``, keeping the last ``n_saved``. Taken every
N epochs and/or every N iterations (:func:`snapshot_trigger`), and when a signal stops
the run (:class:`~gan_ignite.trainer.TrainingInterrupted`).

A kill at any moment leaves the newest complete snapshot usable: ``DiskSaver`` writes a
temporary file and renames it (atomic), and the snapshot that rotation drops is deleted
only after the new one is in place. Temporary files a killed write left behind are
never taken for snapshots, and are removed when the run resumes.

Each snapshot gets a ``<name>.sha256`` sidecar (``sha256sum`` format) holding the SHA-256
of its bytes, written once the snapshot is complete. :func:`latest_verified_checkpoint`
checks it before a run resumes or is evaluated, and passes over a snapshot whose bytes
changed since (a flipped bit, a cut-off copy) or whose sidecar a kill prevented, for the
newest one that verifies. A disk that fills up while a snapshot is written ends the run
with one line; the previous snapshot is untouched.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ignite.handlers import Checkpoint, DiskSaver

from gan_ignite.errors import UsageError, disk_full
from gan_ignite.extensions.extension import PRIORITY_SNAPSHOT, Extension
from gan_ignite.rng import RNGStates
from gan_ignite.run_dir import (
    CHECKPOINT_FILE, CHECKPOINTS, DIGEST_SUFFIX, TEMPORARY_CHECKPOINT, checkpoint_name, open_regular, read_small,
    write_atomic,
)
from gan_ignite.trainer import Trainer, TrainingInterrupted
from gan_ignite.triggers import IntervalTrigger
from gan_ignite.weights import first_line, load_weights

__all__ = [
    "Snapshot", "snapshot", "snapshot_trigger", "latest_checkpoint", "latest_verified_checkpoint",
    "verify_checkpoint", "load_snapshot", "no_space_left", "CHECKPOINT_DIR", "SafeDiskSaver", "snapshot_contents",
]

CHECKPOINT_DIR = CHECKPOINTS


def _checkpoints(dirname: Path) -> list[tuple[int, Path]]:
    """(iteration, path) of every snapshot file in ``dirname``, oldest first.

    Only regular files count: a link, FIFO or folder of a snapshot's name is none of ours.
    """
    if not dirname.is_dir():
        return []
    found = [(int(m.group(1)), Path(e.path)) for e in os.scandir(dirname)
             if (m := CHECKPOINT_FILE.match(e.name)) and e.is_file(follow_symlinks=False)]
    return sorted(found)


def latest_checkpoint(out: str | Path) -> Path | None:
    """The newest snapshot of the run directory ``out``, or ``None``.

    Only complete files carry the ``checkpoint_<iteration>.pt`` name (they are renamed
    to it once written), so a write cut short by a kill is never returned.
    """
    found = _checkpoints(Path(out) / CHECKPOINT_DIR)
    return found[-1][1] if found else None


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + DIGEST_SUFFIX)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with os.fdopen(open_regular(path), "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _write_digest(path: Path) -> None:
    line = f"{_sha256(path)}  {path.name}\n"  # sha256sum's format: `sha256sum -c` checks it
    write_atomic(_digest_path(path), lambda f: f.write(line.encode()))


def verify_checkpoint(path: str | Path) -> str | None:
    """Why the snapshot ``path`` cannot be trusted, or ``None`` when its SHA-256 matches its sidecar."""
    path = Path(path)
    try:
        recorded = read_small(_digest_path(path), 256).decode().split()
    except FileNotFoundError:
        return f"it has no {DIGEST_SUFFIX} sidecar: its write did not finish"
    except (OSError, UnicodeDecodeError) as exc:
        return f"its {DIGEST_SUFFIX} sidecar cannot be read ({getattr(exc, 'strerror', None) or exc})"
    try:
        actual = _sha256(path)
    except OSError as exc:  # e.g. rotated out by the run that is training meanwhile
        return f"it cannot be read ({exc.strerror or exc})"
    if not recorded or actual != recorded[0]:
        return "its bytes differ from the SHA-256 recorded when it was written"
    return None


def latest_verified_checkpoint(out: str | Path) -> tuple[Path | None, list[str]]:
    """The newest snapshot of ``out`` whose SHA-256 verifies, and a note for each newer one passed over.

    Raises:
        UsageError: snapshots exist, but none verifies.
    """
    found = _checkpoints(Path(out) / CHECKPOINT_DIR)
    skipped: list[str] = []
    for _, path in reversed(found):
        problem = verify_checkpoint(path)
        if problem is None:
            return path, [f"{note}; using {path.name} instead" for note in skipped]
        skipped.append(f"checkpoint {path} fails its integrity check ({problem})")
    if skipped:
        raise UsageError(f"{skipped[0]}, and no earlier checkpoint verifies; start afresh with --force")
    return None, []


def snapshot_trigger(epochs: int, iterations: int = 0) -> Callable[..., bool]:
    """Fires every ``epochs`` epochs, and also every ``iterations`` iterations if not 0.

    Iteration snapshots bound the work a kill loses within long epochs; a run resumes
    exactly from either kind.
    """
    if not isinstance(iterations, int) or iterations < 0:
        raise UsageError(
            f"Argument `iterations` should be 0 (no iteration snapshots) or a positive integer, "
            f"but given {iterations!r}"
        )
    by_epoch = IntervalTrigger(epochs, "epoch")
    if not iterations:
        return by_epoch
    return _EitherTrigger(by_epoch, IntervalTrigger(iterations, "iteration"))


class _EitherTrigger:
    """Fires when either of two triggers does; both are asked every time, as each keeps
    its own memory of the calls (short-circuiting would make one fire late)."""

    def __init__(self, first: IntervalTrigger, second: IntervalTrigger) -> None:
        self.triggers = (first, second)

    def __call__(self, trainer: Trainer, event: Any = None) -> bool:
        fired = [trigger(trainer) for trigger in self.triggers]
        return any(fired)

    def state_dict(self) -> dict[str, Any]:
        return {"triggers": [trigger.state_dict() for trigger in self.triggers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for trigger, saved in zip(self.triggers, state.get("triggers", [{}, {}])):
            trigger.load_state_dict(saved)


def _remove_temporary_files(dirname: Path) -> None:
    """Delete what writes killed before their rename left in ``dirname``."""
    if dirname.is_dir():
        for path in dirname.iterdir():
            if TEMPORARY_CHECKPOINT.match(path.name) and path.is_file():
                path.unlink()


class SafeDiskSaver(DiskSaver):
    """Ignite's ``DiskSaver`` that deletes rotated-out files only after a write succeeds.

    ``Checkpoint`` removes the oldest file *before* saving the new one: a kill in between
    would leave ``n_saved - 1`` snapshots, none at all with ``n_saved=1``. Ignite has no
    option for the other order, hence this small subclass.
    """

    def __init__(self, dirname: Path) -> None:
        # require_empty=False: a resumed run writes beside its earlier snapshots.
        super().__init__(dirname, require_empty=False)
        self._doomed: list[str] = []

    def remove(self, filename: str) -> None:
        self._doomed.append(filename)

    def __call__(self, checkpoint: Any, filename: str, metadata: Any = None) -> None:
        try:
            super().__call__(checkpoint, filename, metadata)
            _write_digest(self.dirname / filename)
        except (OSError, RuntimeError) as exc:
            if not disk_full(exc):
                raise
            _remove_temporary_files(self.dirname)  # DiskSaver leaves its own when closing it fails too
            raise UsageError(no_space_left(self.dirname / filename, self.dirname)) from None
        # A file re-saved under its own name was replaced atomically: keep it.
        for name in self._doomed:
            if name != filename:
                (self.dirname / name).unlink(missing_ok=True)
                _digest_path(self.dirname / name).unlink(missing_ok=True)
        self._doomed.clear()



def no_space_left(written: str | Path, dirname: Path) -> str:
    """The one line for a disk that filled up while ``written`` was written, naming the newest
    snapshot in ``dirname`` that verifies (the one to resume from)."""
    intact = [p for _, p in _checkpoints(dirname) if Path(p) != Path(written) and verify_checkpoint(p) is None]
    kept = f"the previous checkpoint {intact[-1]} is intact" if intact else "no earlier checkpoint exists"
    return f"no space left on device while writing {written}; {kept}; free space and resume"


def snapshot_contents(trainer: Trainer) -> dict[str, Any]:
    """What a snapshot of ``trainer`` saves: its ``to_save()`` and the RNG states."""
    return {**trainer.to_save(), "rng": RNGStates()}


def load_snapshot(trainer: Trainer, path: str | Path, keep_hyperparameters: bool = False) -> None:
    """Restore a trainer (models, optimizers, extensions, counters, RNGs) from a snapshot.

    Call it after building the trainer and registering its extensions, before ``run()``.
    The file is read with ``torch.load(weights_only=True)``: tensors, numbers and plain
    containers only, so a crafted file cannot run code. An unreadable file, or one from
    another model configuration (naming the first parameter that differs), raises
    :class:`UsageError`.

    Args:
        keep_hyperparameters: keep the optimizers' hyperparameters (learning rates,
            betas) as they were built, taking only their state (moments, step counts)
            from the snapshot: how ``--resume --lr 1e-4`` goes on more slowly. Otherwise
            the snapshot's values are restored, as Chainer's and PyTorch's loading do.
    """
    import torch

    state = load_weights(path, "checkpoint", remedy="delete it to resume from an earlier one")
    to_load = snapshot_contents(trainer)
    mismatch = _network_mismatch(to_load, state) if isinstance(state, dict) else None
    optimizers = [o for o in to_load.values() if isinstance(o, torch.optim.Optimizer)] if keep_hyperparameters else []
    built = [[{k: v for k, v in group.items() if k != "params"} for group in o.param_groups] for o in optimizers]
    if mismatch is None:
        try:
            Checkpoint.load_objects(to_load=to_load, checkpoint=state)
            for optimizer, groups in zip(optimizers, built):
                for group, settings in zip(optimizer.param_groups, groups):
                    group.update(settings)
            return
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:
            mismatch = first_line(exc)
    raise UsageError(
        f"Checkpoint {path} does not match this run: {mismatch}; resume with the options the run was started with"
    )


def _network_mismatch(to_load: dict[str, Any], state: dict[str, Any]) -> str | None:
    """The first difference between the networks to load and the checkpoint's, if any.

    Torch would report every difference at once, as a multi-line traceback; this names
    one, with the parameter's full name (``dis.main.0.weight``) and both shapes.
    """
    from torch import nn

    for key, module in to_load.items():
        saved = state.get(key)
        if not isinstance(module, nn.Module) or not isinstance(saved, dict):
            continue  # left to Ignite's own checks
        here = module.state_dict()
        differences = [
            f"{key}.{name} has shape {list(saved[name].shape)} in the checkpoint but {list(tensor.shape)} here"
            for name, tensor in here.items()
            if name in saved and hasattr(saved[name], "shape") and saved[name].shape != tensor.shape
        ]
        differences += [f"{key}.{name} is missing from the checkpoint" for name in here if name not in saved]
        differences += [f"the checkpoint has {key}.{name}, which this run lacks" for name in saved if name not in here]
        if differences:
            n = len(differences) - 1
            more = f" (and {n} more difference{'s' if n > 1 else ''})" if n else ""
            return differences[0] + more
    return None


class Snapshot(Extension):
    """Saves the training state with Ignite's ``Checkpoint`` + ``DiskSaver``.

    Besides its trigger, it saves when the run is stopped by a signal
    (:class:`~gan_ignite.trainer.TrainingInterrupted`, seen in ``on_error``), unless the
    trigger just saved that iteration. Other errors save nothing: they may strike in the
    middle of an iteration, and resuming would continue from a half-made state.

    Args:
        n_saved: how many of the newest snapshots to keep (``None`` keeps all).
        dirname: the folder inside the trainer's ``out`` directory.
    """

    trigger = (1, "epoch")
    priority = PRIORITY_SNAPSHOT
    name = "snapshot"

    def __init__(self, n_saved: int | None = 3, dirname: str = CHECKPOINT_DIR) -> None:
        if n_saved is not None and n_saved < 1:
            raise UsageError(f"Argument `n_saved` should be a positive integer or None, but given {n_saved}")
        self.n_saved = n_saved
        self.dirname = dirname
        self._checkpoint = None

    def initialize(self, trainer: Trainer) -> None:
        dirname = trainer.out / self.dirname
        _remove_temporary_files(dirname)
        self._checkpoint = Checkpoint(
            snapshot_contents(trainer),
            SafeDiskSaver(dirname),
            n_saved=self.n_saved,
            global_step_transform=lambda engine, _: engine.state.iteration,
        )
        # Adopt the snapshots already on disk (a resumed run's), so the oldest get
        # rotated out as before instead of piling up. A kill between a write and the
        # deletion it allowed can leave one too many: delete it now.
        done = trainer.iteration
        saved = [(it, p) for it, p in _checkpoints(dirname) if it <= done]
        excess = len(saved) - self.n_saved if self.n_saved is not None else 0
        for _, path in saved[: max(excess, 0)]:
            path.unlink()
            _digest_path(path).unlink(missing_ok=True)
        self._checkpoint.load_state_dict({"_saved": [(it, p.name) for it, p in saved[max(excess, 0) :]]})

    def __call__(self, trainer: Trainer) -> None:
        self._checkpoint(trainer.engine)

    def on_error(self, trainer: Trainer, exc: BaseException, tb: Any) -> None:
        if not isinstance(exc, TrainingInterrupted) or exc.iteration == 0 or self._checkpoint is None:
            return
        last = self._checkpoint.last_checkpoint
        if last is not None and Path(last).name == checkpoint_name(exc.iteration):
            return
        # Between the guard's checks a weight may have become non-finite; such a state
        # is not saved as the newest, "last good", checkpoint. (Imported here: the
        # guard's helpers name the latest checkpoint, from this module.)
        from gan_ignite.extensions._non_finite import kind, non_finite_weight, weights

        broken = non_finite_weight(weights(trainer))
        if broken is not None:
            sys.stderr.write(f"not saving the interrupted state of iteration {exc.iteration}: the weight "
                             f"{broken[0]} became {kind(broken[1])}\n")
            return
        self._checkpoint(trainer.engine)


def snapshot(n_saved: int | None = 3, dirname: str = CHECKPOINT_DIR) -> Snapshot:
    """Chainer's ``extensions.snapshot()``: a :class:`Snapshot` extension."""
    return Snapshot(n_saved=n_saved, dirname=dirname)
