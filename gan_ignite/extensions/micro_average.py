"""MicroAverage: the ratio of two observed sums over an interval (Chainer's, ppe's).

Given per-iteration numerators ``n_i`` and denominators ``d_i`` (say, the correctly
classified examples of a batch and the batch size), the *micro-average* over an interval
is ``sum(n_i) / sum(d_i)``: every example weighs the same. The *macro-average*
``mean(n_i / d_i)`` that a log's interval mean of a per-batch ratio gives weighs every
batch the same instead; the two agree only when every ``d_i`` is the same (a last,
smaller batch makes them differ).

Report the numerator and the denominator each iteration, from the update function or
with :func:`gan_ignite.reporting.report`; register the extension with the keys::

    trainer.extend(MicroAverage("dis/correct", "dis/total", "dis/accuracy"))

It is an editor: called every iteration, it adds that iteration's values (an iteration
lacking either key adds nothing), and when its own trigger fires (every epoch by default,
distinct from the extension's trigger) it puts the ratio into the observation, where the
readers of that iteration (``LogReport``) see it, and starts a new interval. The sums
and the trigger's state are saved with the run.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from torch import Tensor

from gan_ignite.errors import UsageError
from gan_ignite.extensions.extension import PRIORITY_EDITOR, Extension
from gan_ignite.triggers import TriggerLike, get_trigger, load_trigger_state, trigger_state

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["MicroAverage"]


def _number(value: Any) -> float:
    return float(value.item() if isinstance(value, Tensor) else value)


class MicroAverage(Extension):
    """Puts ``sum(numerator) / sum(denominator)`` over each interval into the observation.

    Args:
        numerator_key: the observation key of the numerator (correct examples).
        denominator_key: the observation key of the denominator (all examples).
        result_key: the observation key to put the ratio under.
        trigger: the end of each interval, every epoch by default; this is not the
            extension's own trigger, which is every iteration.
    """

    priority = PRIORITY_EDITOR

    def __init__(
        self, numerator_key: str, denominator_key: str, result_key: str, trigger: TriggerLike = (1, "epoch"),
    ) -> None:
        for argument, key in (("numerator_key", numerator_key), ("denominator_key", denominator_key),
                              ("result_key", result_key)):
            if not isinstance(key, str) or not key:
                raise UsageError(f"Argument `{argument}` should be a non-empty string, but given {key!r}")
        self._trigger = get_trigger(trigger)
        self.numerator_key, self.denominator_key, self.result_key = numerator_key, denominator_key, result_key
        # Numbers or tensors: a tensor sum waits for the device only when the ratio is taken.
        self._numerator: float | Tensor = 0.0
        self._denominator: float | Tensor = 0.0

    def __call__(self, trainer: Trainer) -> None:
        observation = trainer.observation
        if self.numerator_key not in observation or self.denominator_key not in observation:
            return  # and the trigger is not asked: it fires at the next iteration that has them
        self._numerator = self._numerator + _detached(observation[self.numerator_key])
        self._denominator = self._denominator + _detached(observation[self.denominator_key])
        if self._trigger(trainer):
            numerator, denominator = _number(self._numerator), _number(self._denominator)
            # Chainer divides by zero; an interval with no examples has no ratio.
            trainer.observation[self.result_key] = numerator / denominator if denominator else math.nan
            self._numerator, self._denominator = 0.0, 0.0

    def state_dict(self) -> dict[str, Any]:
        return {
            "_numerator": _number(self._numerator),
            "_denominator": _number(self._denominator),
            "trigger": trigger_state(self._trigger),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._numerator = float(state["_numerator"])
        self._denominator = float(state["_denominator"])
        if "trigger" in state:  # pytorch-pfn-extras' state has none
            load_trigger_state(self._trigger, state["trigger"])


def _detached(value: Any) -> Any:
    return value.detach() if isinstance(value, Tensor) else value
