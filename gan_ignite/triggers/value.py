"""Triggers on the best value of a reported key so far (Chainer's ``minmax_value_trigger``).

``MinValueTrigger('val/loss')`` fires at the end of each epoch whose mean ``val/loss``
is the lowest yet: the trigger to pair with a snapshot of the best model. Each call adds
``trainer.observation[key]`` (when present) to a :class:`~gan_ignite.reporting.DictSummary`;
at the end of each interval the mean over it is compared with the best mean so far.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from gan_ignite.errors import UsageError
from gan_ignite.reporting import DictSummary
from gan_ignite.triggers.interval import TriggerLike, get_trigger, load_trigger_state, trigger_state

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["BestValueTrigger", "MaxValueTrigger", "MinValueTrigger"]


class BestValueTrigger:
    """Fires at the end of an interval whose mean of ``key`` beats every earlier interval's.

    The first interval always fires. Its state (the best mean, the summary of the interval
    under way and the interval trigger's memory) is saved with the run, so a resumed run
    fires exactly as an uninterrupted one.

    Args:
        key: the observation key to watch, e.g. ``"val/accuracy"``.
        compare: ``compare(best, new)``, whether the mean ``new`` beats the best so far.
        trigger: when to compare: a ``(period, unit)`` tuple or a trigger.

    Raises:
        UsageError: (when called) an interval ends without ``key`` ever reported in it.
    """

    def __init__(self, key: str, compare: Callable[[float, float], bool], trigger: TriggerLike = (1, "epoch")) -> None:
        self.key = key
        self._compare = compare
        self._interval_trigger = get_trigger(trigger)
        self._best_value: float | None = None
        self._summary = DictSummary()

    @property
    def best_value(self) -> float | None:
        """The best mean so far (``None`` before the first interval ends)."""
        return self._best_value

    def __call__(self, trainer: Trainer, event: int | None = None) -> bool:
        """Add this call's value; at the end of an interval, whether its mean is the best yet."""
        observation = trainer.observation
        if self.key in observation:
            self._summary.add({self.key: observation[self.key]})
        if not self._interval_trigger(trainer):
            return False
        means = self._summary.compute_mean()
        if self.key not in means:
            raise UsageError(
                f"Argument `key` should be a key reported in the observation, but given {self.key!r}; "
                f"this iteration's observation has {', '.join(sorted(observation)) or 'no keys'}"
            )
        value = float(means[self.key])
        self._summary = DictSummary()
        if self._best_value is None or self._compare(self._best_value, value):
            self._best_value = value
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {
            "interval_trigger": trigger_state(self._interval_trigger),
            "summary": self._summary.state_dict(),
            "best_value": self._best_value,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        load_trigger_state(self._interval_trigger, state["interval_trigger"])
        self._summary = DictSummary()
        self._summary.load_state_dict(state["summary"])
        best = state["best_value"]
        self._best_value = None if best is None else float(best)


class MaxValueTrigger(BestValueTrigger):
    """Fires at the end of an interval whose mean of ``key`` is the highest yet (an accuracy).

    Args:
        key: the observation key to watch.
        trigger: when to compare: a ``(period, unit)`` tuple or a trigger.
    """

    def __init__(self, key: str, trigger: TriggerLike = (1, "epoch")) -> None:
        super().__init__(key, lambda best, new: new > best, trigger)


class MinValueTrigger(BestValueTrigger):
    """Fires at the end of an interval whose mean of ``key`` is the lowest yet (a loss).

    Args:
        key: the observation key to watch.
        trigger: when to compare: a ``(period, unit)`` tuple or a trigger.
    """

    def __init__(self, key: str, trigger: TriggerLike = (1, "epoch")) -> None:
        super().__init__(key, lambda best, new: new < best, trigger)
