"""The final summary a finished run prints: how it ended, where its outputs are, what to run next.

Printed by the main process when training ends, also under ``--quiet``: the last epoch's
main observations, then the run directory's samples, checkpoints and log, and the
commands that open TensorBoard, make the report page and continue the run.
"""

from __future__ import annotations

import math
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from gan_ignite.run_dir import CHECKPOINTS, IMAGES, LOG, PLOTS, TB

if TYPE_CHECKING:
    from gan_ignite.config import ExperimentConfig
    from gan_ignite.trainer import Trainer

__all__ = ["final_summary", "duration"]

_SHOWN = ("gen/loss", "dis/loss", "dis/real", "dis/fake", "eval/fid", "eval/is")


def duration(seconds: float) -> str:
    """``seconds`` as people read it: ``45s``, ``3m05s``, ``2h07m``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _shown(path: Path) -> str:
    """``path`` relative to the working directory where it lies below it (shorter to read and type)."""
    try:
        return str(path.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)


def _last_entry(trainer: Trainer) -> dict:
    try:
        log = trainer.get_extension("LogReport").log
    except ValueError:  # a trainer without a log
        return {}
    return log[-1] if log else {}


def _latest(folder: Path, pattern: str) -> str:
    from gan_ignite.extensions.snapshot import latest_checkpoint

    if pattern == "checkpoint":
        latest = latest_checkpoint(folder.parent)
        return f" (latest: {latest.name})" if latest is not None else ""
    files = sorted(folder.glob(pattern))
    if not files:
        return ""
    return f" ({files[0].name} ... {files[-1].name})" if len(files) > 1 else f" ({files[0].name})"


def final_summary(trainer: Trainer, config: ExperimentConfig, command: str) -> str:
    """The lines a finished run prints (see the module docstring).

    Args:
        command: what trains the experiment, e.g. ``gan-ignite train gan_mnist``.
    """
    state, out = trainer.engine.state, Path(config.out)
    entry = _last_entry(trainer)
    # NaN: a metric the run cannot have (the Inception Score of a dataset without classes).
    numbers = ", ".join(f"{key} {entry[key]:.4g}" for key in _SHOWN
                        if isinstance(entry.get(key), (int, float)) and not math.isnan(entry[key]))
    shown = shlex.quote(_shown(out))
    lines = [f"finished: {state.epoch} epochs, {state.iteration} iterations in {duration(trainer.elapsed_time)}"
             + (f"; last epoch {numbers}" if numbers else "")]
    outputs = [
        ("samples", out / IMAGES, _latest(out / IMAGES, "epoch_*.png")),
        ("checkpoints", out / CHECKPOINTS, _latest(out / CHECKPOINTS, "checkpoint")),
        ("log", out / LOG, f", plots in {_shown(out / PLOTS)}{os.sep}" if (out / PLOTS).is_dir() else ""),
    ]
    for name, path, detail in outputs:
        if path.exists():
            lines.append(f"  {name:<12} {_shown(path)}{os.sep if path.is_dir() else ''}{detail}")
    if (out / TB).is_dir():
        lines.append(f"  {'TensorBoard':<12} tensorboard --logdir {shlex.quote(_shown(out / TB))}")
    lines.append(f"  {'report':<12} gan-ignite report {shown}")
    lines.append(f"  {'more epochs':<12} {command} --out {shown} --resume --epochs "
                 f"{state.epoch + config.epochs}")
    return "\n".join(lines)
