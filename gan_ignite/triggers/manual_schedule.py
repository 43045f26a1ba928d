"""ManualScheduleTrigger: fire at given epochs or iterations (Chainer's ``ManualScheduleTrigger``)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from gan_ignite.errors import UsageError
from gan_ignite.triggers.interval import _check_unit, _PreviousCall

if TYPE_CHECKING:
    from ignite.engine import Engine

    from gan_ignite.trainer import Trainer

__all__ = ["ManualScheduleTrigger"]


class ManualScheduleTrigger(_PreviousCall):
    """Fires at the first call at or past each of the given points.

    Points may be fractional epochs; with 2.5 iterations an epoch, epoch 1 is reached at
    iteration 3. As :class:`~gan_ignite.triggers.IntervalTrigger`, it compares with its
    previous call, so a point it was not asked at fires at the next call.

    Args:
        points: the epochs or iterations to fire at (a number or an iterable of them).
        unit: ``"epoch"`` or ``"iteration"``.

    Attributes:
        finished: whether it has fired at its last point, so will never fire again (an
            extension with a finished trigger needs no initialising on resume).
    """

    def __init__(self, points: float | Iterable[float], unit: str) -> None:
        _check_unit(unit)
        self.points = sorted(points) if isinstance(points, Iterable) else [points]
        if not self.points:
            raise UsageError(f"Argument `points` should be a number or a non-empty list of them, but given {points!r}")
        super().__init__()
        self.unit = unit
        self.finished = False
        # Set when a state without ``finished`` was loaded: the next call works it out.
        self._finished_unknown = False

    def __call__(self, trainer: Trainer | Engine, event: int | None = None) -> bool:
        """Whether a point lies after the previous call and at or before this one."""
        previous, current = self._advance(trainer)
        fire = any(previous < point <= current for point in self.points)
        if self._finished_unknown:
            self._finished_unknown = False
            self.finished = current >= self.points[-1]
        if fire and current >= self.points[-1]:
            self.finished = True
        return fire

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "finished": self.finished}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        if "finished" in state:
            self.finished = bool(state["finished"])
            return
        warnings.warn("ManualScheduleTrigger's `finished` was not saved: the next call works it out")
        self.finished, self._finished_unknown = False, True

    def __repr__(self) -> str:
        return f"ManualScheduleTrigger({self.points!r}, {self.unit!r})"
