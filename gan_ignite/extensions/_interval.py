"""An interval's running means: what LogReport, PlotReport and TensorBoardReport share.

Each of them sees the observation of every iteration, and at the end of its own interval
(its trigger) makes one record of the means since the last one. Both the means under way
and the trigger's memory are part of the extension's saved state, so a resumed run makes
the same records as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gan_ignite.reporting import DictSummary
from gan_ignite.triggers import TriggerLike, get_trigger, load_trigger_state, trigger_state, without_saved_state

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["IntervalMeans"]


class IntervalMeans:
    """Means of observations over the intervals of a trigger.

    Args:
        trigger: the end of each interval, e.g. ``(1, 'epoch')``.
    """

    def __init__(self, trigger: TriggerLike) -> None:
        self.trigger = get_trigger(trigger)
        self._summary = DictSummary()

    def add(self, observation: Mapping[str, Any]) -> None:
        self._summary.add(observation)

    def end(self, trainer: Trainer) -> dict[str, float] | None:
        """The interval's means if it ends at this call (and a new one starts), else ``None``.

        Before training (an extension registered with ``call_before_training``) an
        interval always ends, without asking the trigger, as Chainer's LogReport does:
        what was observed before the first iteration is a record of its own.
        """
        if not trainer.is_before_training and not self.trigger(trainer):
            return None
        means, self._summary = self._summary.compute_mean(), DictSummary()
        return means

    def state_dict(self) -> dict[str, Any]:
        return {"summary": self._summary.state_dict(), "trigger": trigger_state(self.trigger)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._summary.load_state_dict(_summary_state(state["summary"]))
        if "trigger" in state:
            load_trigger_state(self.trigger, state["trigger"])
        else:  # a checkpoint from before triggers kept state
            without_saved_state(self.trigger)


def _summary_state(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """A :class:`DictSummary` state, also from checkpoints written before it (sums and counts)."""
    if set(state) != {"sums", "counts"}:
        return state
    return {key: {"x": total, "x2": 0.0, "n": state["counts"][key]} for key, total in state["sums"].items()}
