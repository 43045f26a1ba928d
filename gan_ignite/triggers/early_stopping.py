"""EarlyStoppingTrigger: stop when a monitored mean stops improving (Chainer's, ppe's).

Use it as the trainer's stop trigger. Within each check interval it accumulates the
monitored key; at the end of the interval it compares the interval's mean with the best
so far. After ``patience`` checks in a row without improvement it fires, and it fires in
any case once ``max_trigger`` does.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gan_ignite.errors import UsageError
from gan_ignite.reporting import DictSummary
from gan_ignite.triggers.interval import IntervalTrigger, TriggerLike, get_trigger, load_trigger_state, trigger_state

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["EarlyStoppingTrigger"]

MODES = ("auto", "min", "max")


class EarlyStoppingTrigger:
    """Fires when ``monitor`` has not improved for ``patience`` checks, or at ``max_trigger``.

    Args:
        check_trigger: when to compare: a ``(period, unit)`` tuple or a trigger.
        monitor: the observation key to watch.
        patience: how many checks in a row without improvement to allow before firing.
        mode: ``"min"`` (lower is better), ``"max"``, or ``"auto"``: ``"max"`` when
            ``monitor`` contains ``"accuracy"``, ``"min"`` otherwise.
        verbose: print the comparison chosen and the epoch it stops at.
        max_trigger: ``(period, unit)``, the longest training; also what
            :meth:`get_training_length` gives.

    Attributes:
        best: the best interval mean so far (starts at -inf or +inf).
        count: checks since the last improvement.
    """

    def __init__(
        self,
        check_trigger: TriggerLike = (1, "epoch"),
        monitor: str = "main/loss",
        patience: int = 3,
        mode: str = "auto",
        verbose: bool = False,
        max_trigger: tuple[float, str] = (100, "epoch"),
    ) -> None:
        if mode not in MODES:
            raise UsageError(f"Argument `mode` should be one of {', '.join(MODES)}, but given {mode!r}")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise UsageError(f"Argument `patience` should be a positive integer, but given {patience!r}")
        if isinstance(max_trigger, IntervalTrigger):
            max_trigger = max_trigger.get_training_length()
        try:
            period, unit = max_trigger
        except (TypeError, ValueError):
            raise UsageError(
                f"Argument `max_trigger` should be a (period, 'epoch' | 'iteration') tuple, but given {max_trigger!r}"
            ) from None
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.count = 0
        self._max_trigger = IntervalTrigger(period, unit)
        self._interval_trigger = get_trigger(check_trigger)
        self._summary = DictSummary()
        maximize = mode == "max" or (mode == "auto" and "accuracy" in monitor)
        self._compare = operator.gt if maximize else operator.lt
        self.best = float("-inf") if maximize else float("inf")
        if verbose:
            print(f"early stopping: operator is {'greater' if maximize else 'less'}")

    def __call__(self, trainer: Trainer, event: int | None = None) -> bool:
        """Whether training should stop now."""
        observation = trainer.observation
        if self.monitor in observation:
            self._summary.add({self.monitor: observation[self.monitor]})
        if self._max_trigger(trainer):
            return True
        if not self._interval_trigger(trainer):
            return False
        if self.monitor not in observation:
            # Chainer's rule: the check is skipped and the summary kept for the next one.
            warnings.warn(f"{self.monitor} is not in observation")
            return False
        means = self._summary.compute_mean()
        if self.monitor not in means:
            raise UsageError(f"Argument `monitor` should name a scalar observation, but {self.monitor!r} is "
                             f"{type(observation[self.monitor]).__name__} {_shape(observation[self.monitor])}")
        current = float(means[self.monitor])
        self._summary = DictSummary()
        if self._compare(current, self.best):
            self.best, self.count = current, 0
        else:
            self.count += 1
        if self.count >= self.patience:
            if self.verbose:
                print(f"Epoch {trainer.updater.epoch}: early stopping")
            return True
        return False

    def get_training_length(self) -> tuple[float, str]:
        """``max_trigger``'s ``(period, unit)``: the longest this training runs."""
        return self._max_trigger.get_training_length()

    def state_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "best": self.best,
            "summary": self._summary.state_dict(),
            "interval_trigger": trigger_state(self._interval_trigger),
            "max_trigger": self._max_trigger.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.count, self.best = int(state["count"]), float(state["best"])
        self._summary = DictSummary()
        self._summary.load_state_dict(state["summary"])
        load_trigger_state(self._interval_trigger, state["interval_trigger"])
        self._max_trigger.load_state_dict(state["max_trigger"])


def _shape(value: object) -> str:
    shape = getattr(value, "shape", None)
    return f"of shape {tuple(shape)}" if shape is not None else repr(value)
