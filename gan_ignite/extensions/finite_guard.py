"""FiniteGuard: stop a run whose losses or weights became NaN or infinite, before anything of it is saved.

A diverged step makes every later one diverge too; what matters is to stop before the
writers log it and before a snapshot saves it, so that the newest checkpoint is the
last good one. The guard runs every iteration at the top priority
(:data:`PRIORITY_CHECK`, 400) and raises :class:`~gan_ignite.errors.DivergenceError`
naming the value, the iteration and that checkpoint.

It is cheap, because nothing in it waits for the accelerator every iteration:

- **Observation values that are already host numbers** (Python floats, 0-d tensors on
  the CPU) are checked at once, every iteration: reading them costs nothing.
- **0-d tensors on an accelerator** (an update function that does not wait for the
  host) are copied, each iteration's into one small tensor (one kernel, no sync: a copy,
  as an update function may reuse its tensors, as a CUDA graph does). They are checked
  all at once, one reduction and one host sync, at the end of each ``interval``, at each
  ``snapshots`` firing and after 1,024 iterations kept. The error still names the
  iteration that observed the first non-finite value, but it is raised at that check,
  the first iteration at which it can be known; the writers of the iterations in
  between (those not on the interval, e.g. an :class:`~gan_ignite.extensions.EMA`) have
  seen the diverged state, but no log line of the interval and no snapshot has.
- **Weights** (every floating-point parameter and buffer of ``trainer.models``), in one
  reduction and one sync, at the end of each interval and at each ``snapshots`` firing
  (by default every epoch end, when snapshots are written by default). An optimizer step
  can make a weight infinite with the losses still finite; a snapshot between two checks
  can hold such a weight only while the losses stay finite, because the next forward
  pass with a non-finite weight makes its loss non-finite, which the guard sees in that
  iteration, before the writers and snapshots. Give ``snapshots`` the run's snapshot
  schedule (e.g. :func:`~gan_ignite.extensions.snapshot.snapshot_trigger`, a copy of its
  own: triggers keep state) so that every checkpoint was checked first.

Ignite's ``TerminateOnNan`` is not used: it stops with ``engine.terminate()``, so the
run looks finished (exit status 0), it does not say which value broke, and as a plain
Ignite handler it runs after the trainer's extensions, i.e. after the snapshot.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from gan_ignite.errors import quiet_engine_echo
from gan_ignite.extensions._non_finite import (
    DEFAULT_HINT,
    PRIORITY_CHECK,
    is_number,
    kind,
    non_finite_weight,
    stop,
    weights,
)
from gan_ignite.extensions.extension import Extension
from gan_ignite.triggers import TriggerLike, get_trigger, load_trigger_state, trigger_state, without_saved_state

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["FiniteGuard", "PRIORITY_CHECK"]

_MAX_KEPT = 1024  # iterations of device values kept before an early check: memory stays bounded


class FiniteGuard(Extension):
    """Stops the run when an observation value or a weight becomes NaN or infinite.

    Args:
        interval: when device values and weights are checked, e.g. ``(10, 'iteration')``
            (the log interval: a log line is then never of an unchecked interval).
        snapshots: when they are checked as well: when the run's snapshots are written
            (default: every epoch end); ``None``: only at the interval.
        check_weights: also check the networks' parameters and buffers.
        hint: the remedy ending the divergence message.
        host_devices: device types whose 0-d tensors are read at once, as numbers,
            every iteration (reading them waits for nothing); others are kept until a check.
    """

    trigger = (1, "iteration")
    priority = PRIORITY_CHECK
    name = "FiniteGuard"

    def __init__(
        self,
        *,
        interval: TriggerLike = (10, "iteration"),
        snapshots: TriggerLike = (1, "epoch"),
        check_weights: bool = True,
        hint: str = DEFAULT_HINT,
        host_devices: Collection[str] = ("cpu",),
    ) -> None:
        self.interval = interval
        self._triggers = {"interval": get_trigger(interval), "snapshots": get_trigger(snapshots)}
        self.check_weights = check_weights
        self.hint = hint
        self.host_devices = frozenset(host_devices)
        self._kept: list[tuple[int, list[str], Tensor]] = []  # (iteration, keys, their values copied)
        self._loaded = False

    def initialize(self, trainer: Trainer) -> None:
        if not self._loaded and not trainer.is_before_training:  # resumed without a state of ours
            for trigger in self._triggers.values():
                without_saved_state(trigger)
        # A DivergenceError is reported once, by whoever catches it; Ignite would log it too.
        quiet_engine_echo(trainer.engine.logger)

    def __call__(self, trainer: Trainer) -> None:
        self._check_host_values(trainer)
        fired = [trigger(trainer) for trigger in self._triggers.values()]  # each asked every time
        if any(fired) or len(self._kept) >= _MAX_KEPT:
            self.check(trainer)

    def check(self, trainer: Trainer) -> None:
        """Check the kept device values and (if ``check_weights``) the weights now."""
        self._check_kept(trainer)
        if self.check_weights:
            broken = non_finite_weight(weights(trainer))
            if broken is not None:
                name, value = broken
                stop(trainer, f"the weight {name} became {kind(value)}", self.hint)

    def is_host_value(self, value: float | Tensor) -> bool:
        """Whether an observation value is read now: a Python number or a tensor on a host device."""
        return not isinstance(value, Tensor) or value.device.type in self.host_devices

    def _check_host_values(self, trainer: Trainer) -> None:
        """Host numbers now; the device values are kept, copied, for the next check."""
        broken, keys, kept = [], [], []
        for key, value in trainer.observation.items():
            if isinstance(value, tuple) and value:  # a (value, weight) pair: its value
                value = value[0]
            if not is_number(value):
                continue
            if not self.is_host_value(value):
                keys.append(key)
                kept.append(value.detach())
            elif not math.isfinite(value):
                broken.append(f"{key} became {kind(float(value))}")
        if broken:
            stop(trainer, " and ".join(broken), self.hint)
        if kept:
            self._kept.append((trainer.iteration, keys, _stack(kept)))

    def _check_kept(self, trainer: Trainer) -> None:
        """All kept device values in one reduction and one sync; the first non-finite iteration's keys."""
        kept, self._kept = self._kept, []
        if not kept:
            return
        values = _stack([row for _, _, row in kept], cat=True)
        if bool(values.isfinite().all()):
            return
        numbers, start = values.tolist(), 0  # on divergence only: the values to the host, once
        for iteration, keys, _ in kept:
            row, start = numbers[start:start + len(keys)], start + len(keys)
            broken = [f"{key} became {kind(v)}" for key, v in zip(keys, row) if not math.isfinite(v)]
            if broken:
                stop(trainer, " and ".join(broken), self.hint, iteration=iteration)

    def state_dict(self) -> dict[str, Any]:
        return {name: trigger_state(trigger) for name, trigger in self._triggers.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name, trigger in self._triggers.items():
            if name in state:
                load_trigger_state(trigger, state[name])
            else:
                without_saved_state(trigger)
        self._loaded = True


def _stack(tensors: list[Tensor], cat: bool = False) -> Tensor:
    """A new 1-d tensor of 0-d ``tensors`` (stacked) or of 1-d ones (concatenated, ``cat``).

    It lives on the first one's device, in a dtype that holds them all, so that no finite
    value becomes infinite (a float64 1e300 next to float32 values).
    """
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    device = tensors[0].device
    tensors = [t.to(device, dtype) for t in tensors]
    return torch.cat(tensors) if cat else torch.stack(tensors)
