"""Divergence checks: stop on NaN or inf, warn when D wins outright or samples collapse.

:class:`DivergenceCheck` looks at every iteration before any other extension:

- **NaN or inf** in an observation value (a loss, D's outputs) or in a weight of the
  updater's networks stops the run with :class:`~gan_ignite.errors.DivergenceError`,
  naming the value, the iteration and the last checkpoint. It runs before the writers
  and the snapshot of that iteration, so nothing of the diverged state is logged or
  saved, and the newest checkpoint is the last good one.
- **The discriminator wins outright**: mean D(x) above ``real_above`` and mean D(G(z))
  below ``fake_below`` over ``patience`` consecutive intervals. Checked only where
  ``dis/real`` / ``dis/fake`` are probabilities (the ``gan``, ``minimax`` and ``ssgan``
  losses); other losses report raw scores, which have no such scale.
- **The samples collapse**: at the end of each interval the generator makes a batch of
  samples from fixed noise, as in a training step (train mode) but leaving no trace, and
  their spread is compared with the current real batch's: ``gen/diversity``, the ratio
  of their root-mean-square pairwise distances (1: as varied as the data, 0: every
  sample the same). Below ``diversity_below`` for ``patience`` intervals, it warns.
  With ``observe_diversity=True`` the value also goes into the observation (log.jsonl,
  TensorBoard) at the end of each interval.

A warning is one ``warning: ...`` line on ``out`` (stderr by default) and an observation
key ``warning/dis_wins`` or ``warning/collapse`` set to 1 in the iteration it fired, so
:class:`~gan_ignite.extensions.LogReport` records it in ``log.jsonl`` and TensorBoard
plots it, as Chainer extensions report values. It fires once per stretch and is re-armed
when an interval no longer meets the condition.

Ignite's ``TerminateOnNan`` is not used: it stops with ``engine.terminate()``, so the
run looks finished (exit status 0), it does not say which value broke, and as a plain
Ignite handler it runs after the trainer's extensions, i.e. after the snapshot.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, IO, Any

import torch
from torch import Tensor, nn

from gan_ignite.errors import DivergenceError, UsageError, quiet_engine_echo
from gan_ignite.extensions.extension import PRIORITY_WRITER, Extension
from gan_ignite.extensions.snapshot import latest_checkpoint
from gan_ignite.triggers import get_trigger, load_trigger_state, trigger_state, without_saved_state

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["DivergenceCheck", "PRIORITY_CHECK", "reports_probabilities", "rms_pairwise_distance"]

# Before the writers: a sample grid or a log line of a NaN state is of no use.
PRIORITY_CHECK = PRIORITY_WRITER + 100
_EPS = 1e-12  # spread of a real batch of identical images
_HINT = "lower the learning rate (--lr) or change the seed (--seed), and start again (--force)"


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


class _Stretch:
    """Counts consecutive flagged intervals; fires when the count reaches ``patience``."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.count = 0

    def update(self, flagged: bool) -> bool:
        self.count = self.count + 1 if flagged else 0  # an unflagged interval re-arms it
        return self.count == self.patience


class DivergenceCheck(Extension):
    """Stops a diverged run and warns about a winning discriminator or collapsing samples.

    Args:
        gen: the generator, for the collapse check (``None``: no collapse check).
        z_dim: size of its noise vector.
        interval: the period of the warning checks, e.g. ``(10, 'iteration')``.
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
        check_weights: also check the networks' parameters and buffers every iteration:
            an optimizer step can make a weight infinite with the losses still finite,
            and the snapshot of that iteration would save it.
        hint: the remedy ending the divergence message.
        out: the stream for warnings (stderr when ``None``).
    """

    trigger = (1, "iteration")
    priority = PRIORITY_CHECK
    name = "DivergenceCheck"

    def __init__(
        self,
        gen: nn.Module | None = None,
        z_dim: int | None = None,
        *,
        interval: tuple[int, str] = (10, "iteration"),
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
        check_weights: bool = True,
        hint: str = _HINT,
        out: IO[str] | None = None,
    ) -> None:
        _check_arguments(gen, z_dim, patience, n_samples)
        self.gen = gen
        self.interval = interval
        self._interval = get_trigger(interval)
        self.dis_wins = dis_wins
        self.loss = loss
        self.real_above, self.fake_below, self.diversity_below = real_above, fake_below, diversity_below
        self.check_weights = check_weights
        self.observe_diversity = observe_diversity
        self.hint = hint
        self._out = out
        self.device = torch.device(device)
        self.noise = None
        if gen is not None:
            self.noise = torch.randn(n_samples, z_dim, generator=torch.Generator().manual_seed(seed))
        self._stretches = {"dis_wins": _Stretch(patience), "collapse": _Stretch(patience)}
        self._sums = [0.0, 0.0, 0]  # dis/real, dis/fake, iterations of the open interval

    def initialize(self, trainer: Trainer) -> None:
        if self.dis_wins is None:
            # The loss given, else the update function's own (a GANUpdater's ``loss``).
            loss = self.loss if self.loss is not None else getattr(trainer.update_fn, "loss", None)
            self.dis_wins = reports_probabilities(loss)
        # A DivergenceError is reported once, by whoever catches it; Ignite would log it too.
        quiet_engine_echo(trainer.engine.logger)

    def __call__(self, trainer: Trainer) -> None:
        observation = trainer.observation
        self._check_finite(trainer, observation.items())
        if self.check_weights:
            self._check_weights(trainer)
        if "dis/real" in observation and "dis/fake" in observation:
            self._sums[0] += observation["dis/real"]
            self._sums[1] += observation["dis/fake"]
            self._sums[2] += 1
        if self._interval(trainer):
            self._end_interval(trainer)

    # -- NaN and inf -------------------------------------------------------------------
    def _check_finite(self, trainer: Trainer, items: Any) -> None:
        broken = [f"{key} became {_kind(value)}" for key, value in items if _is_number(value) and not math.isfinite(value)]
        if broken:
            self._stop(trainer, " and ".join(broken))

    def _check_weights(self, trainer: Trainer) -> None:
        tensors = list(_weights(trainer))
        if not tensors:
            return
        device = tensors[0][1].device
        # A sum is non-finite if any term is (inf + -inf is nan): one reduction pass and
        # one host sync, 20 times cheaper than isfinite(); an overflowing sum of finite
        # weights only costs the exact search below.
        if math.isfinite(torch.stack([t.sum(dtype=torch.float32).to(device) for _, t in tensors]).sum().item()):
            return
        for name, t in tensors:
            if not bool(t.isfinite().all()):
                bad = t[~t.isfinite()].flatten()[0].item()
                self._stop(trainer, f"the weight {name} became {_kind(bad)}")

    def _stop(self, trainer: Trainer, what: str) -> None:
        state = trainer.engine.state
        checkpoint = latest_checkpoint(trainer.out)
        last = f"the last good checkpoint is {checkpoint}" if checkpoint else "no checkpoint was written before it"
        raise DivergenceError(f"{what} at iteration {state.iteration} (epoch {state.epoch}); {last}; {self.hint}")

    # -- warnings ----------------------------------------------------------------------
    def _end_interval(self, trainer: Trainer) -> None:
        real, fake, count = self._sums
        self._sums = [0.0, 0.0, 0]
        if self.dis_wins and count:
            real, fake = real / count, fake / count
            if self._stretches["dis_wins"].update(real > self.real_above and fake < self.fake_below):
                self._warn(
                    trainer, "dis_wins",
                    f"the discriminator wins outright: mean D(x) {real:.4f} > {self.real_above} and "
                    f"D(G(z)) {fake:.2g} < {self.fake_below}",
                    "the generator learns little while it lasts; weaken D (a lower learning rate, fewer "
                    "feature maps) or restart from an earlier checkpoint",
                )
        diversity = self._diversity(trainer)
        if diversity is None:
            return
        self._check_finite(trainer, [("gen/diversity", diversity)])
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

    # -- state -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "counts": {k: s.count for k, s in self._stretches.items()},
            "sums": list(self._sums),
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


def reports_probabilities(loss: object) -> bool:
    """Whether a loss reports ``dis/real`` / ``dis/fake`` as probabilities (logistic D): it says so itself."""
    return bool(getattr(loss, "outputs_probabilities", False))


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


def _weights(trainer: Trainer) -> Iterator[tuple[str, Tensor]]:
    """(name, tensor) of every floating-point parameter and buffer of the trainer's models."""
    for key, model in trainer.models.items():
        for name, t in (*model.named_parameters(), *model.named_buffers()):
            if t.is_floating_point():
                yield f"{key}.{name}", t.detach()


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) or isinstance(value, Tensor) and value.ndim == 0


def _kind(value: float) -> str:
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


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
