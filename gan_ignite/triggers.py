"""Triggers: when an extension fires, as stateless checks on the engine state.

Chainer's ``(N, 'epoch')`` / ``(N, 'iteration')`` tuples, evaluated after every
iteration. A trigger is a callable ``(engine, event=None) -> bool`` that reads only
``engine.state.iteration`` and ``engine.state.epoch_length``, so it needs no saving for
resume and it doubles as an Ignite event filter::

    engine.add_event_handler(Events.ITERATION_COMPLETED(event_filter=IntervalTrigger(2, "epoch")), fn)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Union

from gan_ignite.errors import UsageError

__all__ = ["IntervalTrigger", "ManualScheduleTrigger", "TriggerLike", "get_trigger", "UNITS"]

UNITS = ("epoch", "iteration")

TriggerLike = Union[tuple[float, str], Callable[..., bool], None]


def _check_unit(unit: str) -> None:
    if unit not in UNITS:
        raise UsageError(f"Argument `unit` should be one of {', '.join(UNITS)}, but given {unit!r}")


def _epochs_done(state: Any) -> float:
    """Epochs completed so far, fractional mid-epoch (``iteration / epoch_length``)."""
    if not state.epoch_length:
        return 0.0
    return state.iteration / state.epoch_length


class IntervalTrigger:
    """Fires every ``period`` epochs or iterations.

    Epoch periods may be fractional (``(0.5, 'epoch')`` fires twice an epoch): it fires
    at the first iteration that crosses a multiple of ``period * epoch_length``.

    Args:
        period: a positive number of units (an integer for iterations).
        unit: ``"epoch"`` or ``"iteration"``.
    """

    def __init__(self, period: float, unit: str) -> None:
        _check_unit(unit)
        if not period > 0 or (unit == "iteration" and int(period) != period):
            raise UsageError(f"Argument `period` should be a positive number of {unit}s, but given {period!r}")
        self.period = period
        self.unit = unit

    def __call__(self, engine: Any, event: Any = None) -> bool:
        state = engine.state
        if self.unit == "iteration":
            return state.iteration > 0 and state.iteration % self.period == 0
        if not state.epoch_length:
            return False
        span = self.period * state.epoch_length
        return int(state.iteration / span) != int((state.iteration - 1) / span)

    def __repr__(self) -> str:
        return f"IntervalTrigger({self.period!r}, {self.unit!r})"


class ManualScheduleTrigger:
    """Fires at the given epochs or iterations (Chainer's ``ManualScheduleTrigger``).

    Args:
        points: the epochs or iterations to fire at (a number or an iterable of them).
        unit: ``"epoch"`` or ``"iteration"``.
    """

    def __init__(self, points: float | Iterable[float], unit: str) -> None:
        _check_unit(unit)
        self.points = sorted(points) if isinstance(points, Iterable) else [points]
        self.unit = unit

    def __call__(self, engine: Any, event: Any = None) -> bool:
        state = engine.state
        if self.unit == "iteration":
            return state.iteration in self.points
        if not state.epoch_length:
            return False
        now, before = _epochs_done(state), (state.iteration - 1) / state.epoch_length
        return any(before < p <= now for p in self.points)


def get_trigger(trigger: TriggerLike) -> Callable[..., bool]:
    """Turn a trigger-like value into a trigger.

    ``None`` fires every iteration; a ``(period, unit)`` tuple becomes an
    :class:`IntervalTrigger`; a callable ``(engine, event=None) -> bool`` is used as it is.
    """
    if trigger is None:
        return IntervalTrigger(1, "iteration")
    if callable(trigger):
        return trigger
    try:
        period, unit = trigger
    except (TypeError, ValueError):
        raise UsageError(
            f"Argument `trigger` should be a (period, 'epoch' | 'iteration') tuple or a callable, "
            f"but given {trigger!r}"
        ) from None
    return IntervalTrigger(period, unit)
