"""Snapshots: the whole training state in Ignite ``Checkpoint`` files, and resuming from them.

A snapshot holds what continuing a run needs: the generator and discriminator, both
optimizers, the trainer (engine counters, elapsed time, every stateful extension's
state such as the fixed sample noise and the log) and every RNG state. It is written by
Ignite's ``Checkpoint`` with a ``DiskSaver`` (atomic: temporary file, then rename) as
``out/checkpoints/checkpoint_<iteration>.pt``, keeping the last ``n_saved``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gan_ignite.errors import UsageError
from gan_ignite.extensions.extension import PRIORITY_SNAPSHOT, Extension
from gan_ignite.rng import RNGStates

__all__ = ["Snapshot", "snapshot", "latest_checkpoint", "load_snapshot", "CHECKPOINT_DIR"]

CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^checkpoint_(\d+)\.pt$")


def _checkpoints(dirname: Path) -> list[tuple[int, Path]]:
    """(iteration, path) of every snapshot file in ``dirname``, oldest first."""
    if not dirname.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in dirname.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def latest_checkpoint(out: str | Path) -> Path | None:
    """The newest snapshot of the run directory ``out``, or ``None``."""
    found = _checkpoints(Path(out) / CHECKPOINT_DIR)
    return found[-1][1] if found else None


def _to_save(trainer: Any) -> dict[str, Any]:
    return {**trainer.to_save(), "rng": RNGStates()}


def load_snapshot(trainer: Any, path: str | Path) -> None:
    """Restore a trainer (models, optimizers, extensions, counters, RNGs) from a snapshot.

    Call it after building the trainer and registering its extensions, before ``run()``.
    An unreadable file or one from another configuration raises :class:`UsageError`.
    """
    import torch
    from ignite.handlers import Checkpoint

    try:
        # weights_only: tensors and plain containers only, no pickled code runs.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UsageError(
            f"Cannot read checkpoint {path} ({_first_line(exc)}); delete it to resume from an earlier one"
        ) from None
    try:
        Checkpoint.load_objects(to_load=_to_save(trainer), checkpoint=state)
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise UsageError(
            f"Checkpoint {path} does not match this run ({_first_line(exc)}); "
            f"resume with the options the run was started with"
        ) from None


def _first_line(exc: BaseException) -> str:
    """The informative line of a (possibly multi-line) loading error."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    hints = ("size mismatch", "Missing key", "Unexpected key")
    return next((line for line in lines if line.startswith(hints)), lines[0])


class Snapshot(Extension):
    """Saves the training state with Ignite's ``Checkpoint`` + ``DiskSaver``.

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

    def initialize(self, trainer: Any) -> None:
        from ignite.handlers import Checkpoint, DiskSaver

        dirname = trainer.out / self.dirname
        # require_empty=False: a resumed run writes beside its earlier snapshots.
        saver = DiskSaver(dirname, require_empty=False)
        self._checkpoint = Checkpoint(
            _to_save(trainer),
            saver,
            n_saved=self.n_saved,
            global_step_transform=lambda engine, _: engine.state.iteration,
        )
        # Adopt the snapshots already on disk (a resumed run's), so the oldest get
        # rotated out as before instead of piling up.
        done = trainer.engine.state.iteration
        saved = [(it, p.name) for it, p in _checkpoints(dirname) if it <= done]
        self._checkpoint.load_state_dict({"_saved": saved})

    def __call__(self, trainer: Any) -> None:
        self._checkpoint(trainer.engine)


def snapshot(n_saved: int | None = 3, dirname: str = CHECKPOINT_DIR) -> Snapshot:
    """Chainer's ``extensions.snapshot()``: a :class:`Snapshot` extension."""
    return Snapshot(n_saved=n_saved, dirname=dirname)
