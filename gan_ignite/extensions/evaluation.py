"""Sample-quality evaluation during training, and the best-FID checkpoint.

Chainer's ``Evaluator`` for a GAN: every N epochs the generator samples a fixed number
of images from one fixed noise (its own seeded RNG, so every evaluation sees the same
noise and training's RNGs are untouched), :class:`~gan_ignite.metrics.SampleQuality`
measures them, and the results join the iteration's observation as ``eval/fid``,
``eval/kid``, ``eval/is``, ``eval/confident``, ``eval/classes``,
``eval/max_class_share``, ``eval/precision``, ``eval/recall``, ``eval/density`` and
``eval/coverage``: LogReport, PrintReport and TensorBoard report them like any other
key. With ``keep_best``, Ignite's ``Checkpoint`` with a score function keeps the
snapshot of the lowest FID so far as ``checkpoints/best_fid_checkpoint_<iteration>.pt``.

**Collapse in feature space.** Mode collapse shows as samples that are realistic but
few: fidelity (precision) about as high as real data's, diversity (recall, coverage) far
below it. At its first evaluation the extension measures what real data scores
(:func:`~gan_ignite.metrics.real_manifold_scores`: two disjoint halves of the reference,
at the evaluation's sample size), and it prints one ``warning: ...`` line (stderr by
default) when recall or coverage is below :data:`COLLAPSE_FRACTION` (half) of the real
value while precision is at least half of it. Why half: coverage falls about in
proportion to the share of the data's modes that get no samples (samples of 2 of 10
modes cover 0.2 of what real data covers; tested), so below half, about half the modes
are missing. Why the precision condition: the first epochs' blurry samples lie outside
the real manifold and miss everything; that is low quality, which FID already shows,
not collapse (precision is inflated by outlying real features, so with a small reference
near-identical blobs can still warn: they are collapsed too). It warns once per
stretch: at the first evaluation where the condition holds, again only after an
evaluation where it did not (a resumed run starts a new stretch); the ``eval/*`` keys of
every evaluation are in the log.

In a run of several processes the extension runs in every process, at the same
iterations: the main process measures (the same number as one process would) and
broadcasts the results, so that every process's stop trigger sees them; only the main
process writes the best snapshot.
"""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING, Any

import torch
from torch import nn

from gan_ignite.distributed import broadcast_numbers, is_main_process
from gan_ignite.extensions.extension import PRIORITY_WRITER, Extension
from gan_ignite.metrics import QUALITY_KEYS, Reference, measure, real_manifold_scores

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["Evaluation", "EVAL_KEYS", "COLLAPSE_FRACTION", "collapse_warning"]

# Every quality key but the sample count, which the extension fixes.
EVAL_KEYS = tuple(key for key in QUALITY_KEYS if key != "n")
COLLAPSE_FRACTION = 0.5  # of real data's recall / coverage (see the module docstring)


def collapse_warning(scores: dict[str, float], real: dict[str, float],
                     fraction: float = COLLAPSE_FRACTION) -> str | None:
    """The condition and remedy of a feature-space collapse warning, or None when none holds.

    Args:
        scores: the samples' ``precision``, ``recall`` and ``coverage``.
        real: the same metrics of real data against real data.
        fraction: recall or coverage below this share of the real value is "far below".

    NaN values (too few samples for the k-NN metrics) never warn.
    """
    if not scores["precision"] >= fraction * real["precision"]:  # low fidelity: bad samples, not collapse
        return None
    low = [key for key in ("recall", "coverage") if scores[key] < fraction * real[key]]
    if not low:
        return None
    shown = " and ".join(f"eval/{key} {scores[key]:.3f} (real data: {real[key]:.3f})" for key in low)
    verb = "is" if len(low) == 1 else "are"
    return (f"{shown} {verb} below {fraction:g} times real data's, while eval/precision is {scores['precision']:.3f}: "
            "the samples may have collapsed to few modes; try feature matching or minibatch discrimination, "
            "a lower learning rate (--lr), --ema-decay, or restart from an earlier checkpoint")


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
        out: the stream for the collapse warning (stderr when ``None``).
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
        out: IO[str] | None = None,
    ) -> None:
        self.gen, self.z_dim, self.extractor, self.reference = gen, z_dim, extractor, reference
        self.n, self.batch_size, self.seed, self.device = n, batch_size, seed, device
        self.keep_best = keep_best
        self._out = out
        self._real_scores: dict[str, float] | None = None  # real against real, at the first evaluation
        self._warned = False  # in the current stretch of collapsed evaluations
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
            self._check_collapse(trainer)
        self.last = broadcast_numbers(self.last, EVAL_KEYS)
        trainer.observation.update({f"eval/{key}": float(self.last[key]) for key in EVAL_KEYS})
        if self._best is not None:
            self._best(trainer.engine)

    def _check_collapse(self, trainer: Trainer) -> None:
        """Warn once per stretch of evaluations whose diversity is far below real data's."""
        if self._real_scores is None:
            self._real_scores = real_manifold_scores(self.reference, self.n)
        problem = collapse_warning(self.last, self._real_scores)
        if problem is not None and not self._warned:
            out = self._out or sys.stderr
            out.write(f"warning: at iteration {trainer.iteration}, {problem}\n")
            out.flush()
        self._warned = problem is not None

    def state_dict(self) -> dict[str, Any]:
        best = self._best.state_dict() if self._best is not None else self._best_state
        return {"best": best or {"_saved": []}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._best_state = state["best"]
