"""TrainingHealth: warn when the discriminator wins outright or the generator's samples collapse.

A GAN can go on training, its losses finite, with nothing more to learn. Two signs are
watched at the end of each interval (the log interval in the experiments):

- **The discriminator wins outright**: mean D(x) above ``real_above`` and mean D(G(z))
  below ``fake_below`` over ``patience`` consecutive intervals. Checked only where
  ``dis/real`` / ``dis/fake`` are probabilities (the ``gan``, ``minimax`` and ``ssgan``
  losses); other losses report raw scores, which have no such scale. The means are kept
  as running sums every iteration: Python numbers as numbers, device tensors as device
  sums, read (one host sync) only at the interval's end.
- **The samples collapse**: at the end of each interval the generator makes a batch of
  samples from fixed noise, as in a training step (train mode) but leaving no trace, and
  their spread is compared with the current real batch's: ``gen/diversity``, the ratio
  of their root-mean-square pairwise distances (1: as varied as the data, 0: every
  sample the same). Below ``diversity_below`` for ``patience`` intervals, it warns.
  With ``observe_diversity=True`` the value also goes into the observation (log.jsonl,
  TensorBoard) at the end of each interval. A non-finite ``gen/diversity`` stops the run
  as :class:`~gan_ignite.extensions.FiniteGuard` does.

A warning is one ``warning: ...`` line on ``out`` (stderr by default) and an observation
key ``warning/dis_wins`` or ``warning/collapse`` set to 1 in the iteration it fired, so
:class:`~gan_ignite.extensions.LogReport` records it in ``log.jsonl`` and TensorBoard
plots it, as Chainer extensions report values. It fires once per stretch and is re-armed
when an interval no longer meets the condition.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, IO, Any

import torch
from torch import Tensor, nn

from gan_ignite.errors import UsageError, quiet_engine_echo
from gan_ignite.extensions._non_finite import DEFAULT_HINT, PRIORITY_CHECK, kind, stop
from gan_ignite.extensions.extension import Extension
from gan_ignite.triggers import TriggerLike, get_trigger, load_trigger_state, trigger_state, without_saved_state

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["TrainingHealth", "PRIORITY_HEALTH", "reports_probabilities", "rms_pairwise_distance"]

# After FiniteGuard (which checked the weights the samples come from), before the EMA and
# the writers: its observation keys are in place before any of them reads the observation.
PRIORITY_HEALTH = PRIORITY_CHECK - 10
_EPS = 1e-12  # spread of a real batch of identical images


def rms_pairwise_distance(images: Tensor) -> Tensor:
    """Root-mean-square Euclidean distance between the distinct pairs of a batch.

    Uses ``mean_{i != j} ||x_i - x_j||^2 = 2 * sum_d Var(x_d)`` (unbiased variance per
    pixel), O(N·D) instead of the O(N²·D) of all pairs.

    Args:
        images: (N, ...) a batch, N >= 2.

    Returns:
        a scalar tensor.
    """
    flat = images.detach().flatten(1).double()
    return (2 * flat.var(dim=0, unbiased=True).sum()).sqrt()


def reports_probabilities(loss: object) -> bool:
    """Whether a loss reports ``dis/real`` / ``dis/fake`` as probabilities (logistic D): it says so itself."""
    return bool(getattr(loss, "outputs_probabilities", False))


class _Stretch:
    """Counts consecutive flagged intervals; fires when the count reaches ``patience``."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.count = 0

    def update(self, flagged: bool) -> bool:
        self.count = self.count + 1 if flagged else 0  # an unflagged interval re-arms it
        return self.count == self.patience


class TrainingHealth(Extension):
    """Warns, once per stretch, about a winning discriminator or collapsing samples.

    Args:
        gen: the generator, for the collapse check (``None``: no collapse check).
        z_dim: size of its noise vector.
        interval: the period of the checks, e.g. ``(10, 'iteration')``.
        patience: consecutive intervals a condition must hold before it warns.
        dis_wins: whether to check for a winning discriminator; ``None`` decides from
            ``loss`` (only where it says D's outputs are probabilities).
        loss: the run's :class:`~gan_ignite.losses.GANLoss`, read when ``dis_wins`` is
            ``None``; by default the update function's ``loss`` (a GANUpdater's).
        real_above: D(x) above this counts as "D is sure real images are real".
        fake_below: D(G(z)) below this counts as "D is sure samples are fake".
        diversity_below: ``gen/diversity`` below this counts as collapsed.
        n_samples: samples generated for ``gen/diversity`` (at least 2).
        observe_diversity: also report ``gen/diversity`` in the observation at the end of
            each interval, so that the log and TensorBoard show it.
        seed: seed of their fixed noise.
        device: where the generator lives.
        hint: the remedy ending the message of a non-finite ``gen/diversity``.
        out: the stream for warnings (stderr when ``None``).
    """

    trigger = (1, "iteration")
    priority = PRIORITY_HEALTH
    name = "TrainingHealth"

    def __init__(
        self,
        gen: nn.Module | None = None,
        z_dim: int | None = None,
        *,
        interval: TriggerLike = (10, "iteration"),
        patience: int = 5,
        dis_wins: bool | None = None,
        loss: object | None = None,
        real_above: float = 0.99,
        fake_below: float = 0.01,
        diversity_below: float = 0.1,
        n_samples: int = 32,
        observe_diversity: bool = False,
        seed: int = 0,
        device: str | torch.device = "cpu",
        hint: str = DEFAULT_HINT,
        out: IO[str] | None = None,
    ) -> None:
        _check_arguments(gen, z_dim, patience, n_samples)
        self.gen = gen
        self.interval = interval
        self._interval = get_trigger(interval)
        self.dis_wins = dis_wins
        self.loss = loss
        self.real_above, self.fake_below, self.diversity_below = real_above, fake_below, diversity_below
        self.observe_diversity = observe_diversity
        self.hint = hint
        self._out = out
        self.device = torch.device(device)
        self.noise = None
        if gen is not None:
            self.noise = torch.randn(n_samples, z_dim, generator=torch.Generator().manual_seed(seed))
        self._stretches = {"dis_wins": _Stretch(patience), "collapse": _Stretch(patience)}
        self._sums: list[Any] = [0.0, 0.0, 0]  # dis/real, dis/fake (numbers or device sums), iterations
        self._loaded = False

    def initialize(self, trainer: Trainer) -> None:
        if self.dis_wins is None:
            # The loss given, else the update function's own (a GANUpdater's ``loss``).
            loss = self.loss if self.loss is not None else getattr(trainer.update_fn, "loss", None)
            self.dis_wins = reports_probabilities(loss)
        if not self._loaded and not trainer.is_before_training:  # resumed without a state of ours
            without_saved_state(self._interval)
        quiet_engine_echo(trainer.engine.logger)  # a non-finite gen/diversity is reported once

    def __call__(self, trainer: Trainer) -> None:
        observation = trainer.observation
        if "dis/real" in observation and "dis/fake" in observation:
            self._sums[0] = _accumulate(self._sums[0], observation["dis/real"])
            self._sums[1] = _accumulate(self._sums[1], observation["dis/fake"])
            self._sums[2] += 1
        if self._interval(trainer):
            self._end_interval(trainer)

    def _end_interval(self, trainer: Trainer) -> None:
        real, fake, count = self._sums
        self._sums = [0.0, 0.0, 0]
        if self.dis_wins and count:
            self._check_dis_wins(trainer, float(real) / count, float(fake) / count)
        diversity = self._diversity(trainer)
        if diversity is None:
            return
        if not math.isfinite(diversity):
            stop(trainer, f"gen/diversity became {kind(diversity)}", self.hint)
        if self.observe_diversity:
            trainer.observation["gen/diversity"] = diversity
        if self._stretches["collapse"].update(diversity < self.diversity_below):
            self._warn(
                trainer, "collapse",
                f"the generator's samples collapse: their spread is {diversity:.3f} of the real "
                f"batch's (< {self.diversity_below})",
                "try minibatch discrimination or feature matching, a lower learning rate, "
                "or restart from an earlier checkpoint",
            )

    def _check_dis_wins(self, trainer: Trainer, real: float, fake: float) -> None:
        if self._stretches["dis_wins"].update(real > self.real_above and fake < self.fake_below):
            self._warn(
                trainer, "dis_wins",
                f"the discriminator wins outright: mean D(x) {real:.4f} > {self.real_above} and "
                f"D(G(z)) {fake:.2g} < {self.fake_below}",
                "the generator learns little while it lasts; weaken D (a lower learning rate, fewer "
                "feature maps) or restart from an earlier checkpoint",
            )

    def _diversity(self, trainer: Trainer) -> float | None:
        """``gen/diversity`` of a fixed noise batch against the current real batch."""
        batch = trainer.engine.state.batch
        real = batch[0] if isinstance(batch, (list, tuple)) else batch
        if self.gen is None or not isinstance(real, Tensor) or len(real) < 2:
            return None
        fake = _training_samples(self.gen, self.noise.to(self.device))
        return float(rms_pairwise_distance(fake) / (rms_pairwise_distance(real.cpu()) + _EPS))

    def _warn(self, trainer: Trainer, kind: str, condition: str, remedy: str) -> None:
        state = trainer.engine.state
        patience = self._stretches[kind].patience
        out = self._out or sys.stderr
        out.write(
            f"warning: {condition} for {patience} intervals of {_describe(self.interval)}, up to iteration "
            f"{state.iteration} (epoch {state.epoch}); {remedy}\n"
        )
        out.flush()
        trainer.observation[f"warning/{kind}"] = 1.0

    def state_dict(self) -> dict[str, Any]:
        real, fake, count = self._sums
        return {
            "counts": {k: s.count for k, s in self._stretches.items()},
            "sums": [float(real), float(fake), count],  # a device sum is read here, at a snapshot
            "interval": trigger_state(self._interval),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for key, count in state["counts"].items():
            self._stretches[key].count = int(count)
        real, fake, count = state["sums"]
        self._sums = [float(real), float(fake), int(count)]
        if "interval" in state:
            load_trigger_state(self._interval, state["interval"])
        else:  # a checkpoint from before triggers kept state
            without_saved_state(self._interval)
        self._loaded = True


def _accumulate(total: float | Tensor, value: float | Tensor) -> float | Tensor:
    """``total + value`` without reading a device value: a tensor makes a device sum.

    The sum is float64, as a Python float's (float32 on MPS, which has none), so that
    tensor observations give the means that numbers do.
    """
    if not isinstance(value, Tensor):
        return total + value
    value = value.detach()
    if not isinstance(total, Tensor):  # the interval's first tensor: start its device sum
        return value.to(torch.float32 if value.device.type == "mps" else torch.float64) + total
    return total + value.to(total.device)  # float64 + float32 adds in float64, one kernel


def _training_samples(gen: nn.Module, noise: Tensor) -> Tensor:
    """``gen(noise)`` as a training step makes it, on the CPU, leaving no trace.

    Train mode, because that is what the discriminator sees: batch norm normalises with
    the batch's own statistics. In eval mode the running statistics, still near their
    initial values early on, shrink the samples of a young generator towards one image
    and would read as collapse. Nothing changes: no gradient, the running statistics
    (every buffer) are put back, and the RNGs are forked (dropout draws from them).
    """
    saved = [b.detach().clone() for b in gen.buffers()]
    devices = []  # the CPU's RNG is always forked; a CUDA device's only when sampling there
    if noise.is_cuda:
        devices = [noise.device.index if noise.device.index is not None else torch.cuda.current_device()]
    was_training = gen.training
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            gen.train()
            return gen(noise).float().cpu()
    finally:
        gen.train(was_training)
        with torch.no_grad():
            for buffer, value in zip(gen.buffers(), saved):
                buffer.copy_(value)


def _describe(interval: Any) -> str:
    if isinstance(interval, tuple) and len(interval) == 2:
        n, unit = interval
        return f"{n} {unit}{'s' if n != 1 else ''}"
    return repr(interval)


def _check_arguments(gen: nn.Module | None, z_dim: int | None, patience: int, n_samples: int) -> None:
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise UsageError(f"Argument `patience` should be a positive integer, but given {patience!r}")
    if gen is not None and (not isinstance(z_dim, int) or z_dim < 1):
        raise UsageError(f"Argument `z_dim` should be a positive integer with `gen`, but given {z_dim!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
        raise UsageError(f"Argument `n_samples` should be an integer of at least 2, but given {n_samples!r}")
