"""Sample-quality evaluation during training, and the best-FID checkpoint.

Chainer's ``Evaluator`` for a GAN: every N epochs the generator samples a fixed number
of images from one fixed noise (its own seeded RNG, so every evaluation sees the same
noise and training's RNGs are untouched), :class:`~gan_ignite.metrics.SampleQuality`
measures them, and the results join the iteration's observation as ``eval/fid``,
``eval/kid``, ``eval/is``, ``eval/confident``, ``eval/classes`` and
``eval/max_class_share``: LogReport, PrintReport and TensorBoard report them like any
other key. With ``keep_best``, Ignite's ``Checkpoint`` with a score function keeps the
snapshot of the lowest FID so far as ``checkpoints/best_fid_checkpoint_<iteration>.pt``.

In a run of several processes the extension runs in every process, at the same
iterations: the main process measures (the same number as one process would) and
broadcasts the results, so that every process's stop trigger sees them; only the main
process writes the best snapshot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from gan_ignite.distributed import broadcast_numbers, is_main_process
from gan_ignite.extensions.extension import PRIORITY_WRITER, Extension
from gan_ignite.metrics import QUALITY_KEYS, Reference, measure

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["Evaluation", "EVAL_KEYS"]

# Every quality key but the sample count, which the extension fixes.
EVAL_KEYS = tuple(key for key in QUALITY_KEYS if key != "n")


class Evaluation(Extension):
    """Measures the generator's samples and publishes ``eval/*`` observations.

    A writer (priority 300): it runs before LogReport reads the observation, and before
    the snapshot of the same iteration.

    Args:
        gen: the generator.
        z_dim: its noise size.
        extractor: the feature extractor (:mod:`gan_ignite.extractors`).
        reference: the real statistics in the extractor's space.
        n: samples per evaluation.
        batch_size: samples per generator forward pass.
        seed: seed of the fixed evaluation noise.
        device: where the generator runs.
        keep_best: keep the lowest-FID snapshot in ``checkpoints/``.
    """

    trigger = (1, "epoch")
    priority = PRIORITY_WRITER
    name = "Evaluation"

    def __init__(
        self,
        gen: nn.Module,
        z_dim: int,
        extractor: nn.Module,
        reference: Reference,
        n: int = 1000,
        batch_size: int = 500,
        seed: int = 0,
        device: str | torch.device = "cpu",
        keep_best: bool = True,
    ) -> None:
        self.gen, self.z_dim, self.extractor, self.reference = gen, z_dim, extractor, reference
        self.n, self.batch_size, self.seed, self.device = n, batch_size, seed, device
        self.keep_best = keep_best
        self.last: dict[str, float] = {}
        self._best = None
        self._best_state: dict[str, Any] | None = None

    def initialize(self, trainer: Trainer) -> None:
        if not self.keep_best or not is_main_process():
            return
        from ignite.handlers import Checkpoint

        from gan_ignite.extensions.snapshot import CHECKPOINT_DIR, SafeDiskSaver, snapshot_contents

        self._best = Checkpoint(
            snapshot_contents(trainer),
            # Deletes the previous best only once the new one is written: a kill keeps one.
            SafeDiskSaver(trainer.out / CHECKPOINT_DIR),
            filename_prefix="best_fid",
            filename_pattern="{filename_prefix}_{name}_{global_step}.{ext}",
            score_function=lambda engine: -self.last["fid"],  # Checkpoint keeps the highest score
            n_saved=1,
            global_step_transform=lambda engine, _: engine.state.iteration,
        )
        if self._best_state is not None:  # a resumed run knows the best FID so far
            self._best.load_state_dict(self._best_state)

    def __call__(self, trainer: Trainer) -> None:
        from gan_ignite.extensions.images import sample_batches

        if is_main_process():
            batches = sample_batches(self.gen, self.z_dim, self.n, self.batch_size, self.seed, self.device)
            self.last = measure(batches, self.extractor, self.reference)
        self.last = broadcast_numbers(self.last, EVAL_KEYS)
        trainer.observation.update({f"eval/{key}": float(self.last[key]) for key in EVAL_KEYS})
        if self._best is not None:
            self._best(trainer.engine)

    def state_dict(self) -> dict[str, Any]:
        best = self._best.state_dict() if self._best is not None else self._best_state
        return {"best": best or {"_saved": []}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._best_state = state["best"]
