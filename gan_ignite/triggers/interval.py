"""Interval triggers and :func:`get_trigger`: Chainer's ``(N, 'epoch')`` / ``(N, 'iteration')``.

A trigger is asked ``trigger(trainer)`` after every iteration, but it may also be asked
less often (by an outer trigger, or inside an extension). So, as in Chainer, it compares
where training is now with where it was at the *previous call*, not with the previous
iteration: asked at iterations 3 and 7 only, ``IntervalTrigger(5, 'iteration')`` fires
at 7, the first call after 5. That memory is the trigger's state, saved with the run.

Every trigger here also takes an Ignite ``Engine`` in place of the trainer (it reads
``engine.state.iteration`` and ``engine.state.epoch_length``) and ignores a second
argument, so it serves as an Ignite event filter::

    engine.add_event_handler(Events.ITERATION_COMPLETED(event_filter=IntervalTrigger(2, "epoch")), fn)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Union

from gan_ignite.errors import UsageError

if TYPE_CHECKING:
    from ignite.engine import Engine

    from gan_ignite.trainer import Trainer

__all__ = [
    "IntervalTrigger", "TriggerLike", "UNITS", "get_trigger", "trigger_state", "load_trigger_state",
    "without_saved_state",
]

UNITS = ("epoch", "iteration")

TriggerLike = Union[tuple[float, str], Callable[..., bool], None]


def _check_unit(unit: str) -> None:
    if unit not in UNITS:
        raise UsageError(f"Argument `unit` should be one of {', '.join(UNITS)}, but given {unit!r}")


def _progress(target: Trainer | Engine) -> tuple[int, float, float]:
    """``(iteration, epoch_detail, previous_epoch_detail)`` of a trainer or an Ignite engine.

    A trainer (anything with an ``updater``, as in Chainer) tells them; an engine's are
    computed from ``state.iteration`` and ``state.epoch_length`` (0.0 while it has no length).
    """
    updater = getattr(target, "updater", None)
    if updater is not None:
        previous = updater.previous_epoch_detail  # None before the first iteration
        return updater.iteration, float(updater.epoch_detail), float(previous or 0.0)
    state = target.state
    iteration, length = state.iteration, state.epoch_length
    if not length:
        return iteration, 0.0, 0.0
    return iteration, iteration / length, max(iteration - 1, 0) / length


def _periods(position: float, period: float) -> int:
    """Whole periods in ``position``, a quotient a rounding error short of an integer counting as it.

    Chainer's ``position // period`` makes 0.3 epochs hold two periods of 0.1 (0.3 is a
    hair under 3 * 0.1 in binary), so a 0.1-epoch trigger would skip the third tenth.
    """
    quotient = position / period
    nearest = round(quotient)
    return nearest if math.isclose(quotient, nearest, rel_tol=1e-12, abs_tol=1e-9) else math.floor(quotient)


class _PreviousCall:
    """Remembers the iteration and epoch_detail of a trigger's previous call (its saved state).

    A negative value marks a state loaded without them (Chainer's backward compatibility):
    the next call then guesses the previous iteration as the current one minus one and the
    previous epoch_detail as the updater's.
    """

    unit: str

    def __init__(self) -> None:
        self._previous_iteration = 0
        self._previous_epoch_detail = 0.0

    def _advance(self, target: Trainer | Engine) -> tuple[float, float]:
        """``(previous, current)`` position in this trigger's unit; remembers the current one."""
        iteration, epoch_detail, updater_previous = _progress(target)
        if self.unit == "epoch":
            previous = self._previous_epoch_detail
            previous, current = (previous if previous >= 0 else updater_previous), epoch_detail
        else:
            previous = self._previous_iteration
            previous, current = (previous if previous >= 0 else iteration - 1), iteration
        self._previous_iteration, self._previous_epoch_detail = iteration, epoch_detail
        return previous, current

    def state_dict(self) -> dict[str, Any]:
        return {"previous_iteration": self._previous_iteration, "previous_epoch_detail": self._previous_epoch_detail}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._previous_iteration = int(self._saved(state, "previous_iteration", "guesses it from the current one"))
        self._previous_epoch_detail = float(self._saved(state, "previous_epoch_detail", "uses the updater's"))

    def _saved(self, state: Mapping[str, Any], key: str, guess: str) -> float:
        """``state[key]``, or -1 (guess at the next call) with a warning when it was not saved."""
        if key in state:
            return state[key]
        warnings.warn(
            f"The {key.replace('_', ' ')} of {type(self).__name__} was not saved: it {guess}, "
            "which is wrong if the trigger is not called every iteration"
        )
        return -1


class IntervalTrigger(_PreviousCall):
    """Fires every ``period`` epochs or iterations.

    It fires at the first call past each multiple of ``period``: with 5 iterations an
    epoch, ``(0.5, 'epoch')`` fires at iterations 3, 5, 8, 10, ... when called after
    every iteration, and at the next call after a multiple it was not asked at.

    Args:
        period: a positive number of units; fractional epochs are allowed, iterations are whole.
        unit: ``"epoch"`` or ``"iteration"``.
    """

    def __init__(self, period: float, unit: str) -> None:
        _check_unit(unit)
        if not period > 0 or (unit == "iteration" and int(period) != period):
            raise UsageError(f"Argument `period` should be a positive number of {unit}s, but given {period!r}")
        super().__init__()
        self.period = period
        self.unit = unit

    def __call__(self, trainer: Trainer | Engine, event: int | None = None) -> bool:
        """Whether a multiple of ``period`` was passed since the previous call."""
        previous, current = self._advance(trainer)
        if self.unit == "epoch":
            return _periods(previous, self.period) != _periods(current, self.period)
        return previous // self.period != current // self.period

    def get_training_length(self) -> tuple[float, str]:
        """``(period, unit)``: what this trigger means as a stop trigger."""
        return self.period, self.unit

    def __repr__(self) -> str:
        return f"IntervalTrigger({self.period!r}, {self.unit!r})"


def _never_fire(trainer: Trainer | Engine, event: int | None = None) -> bool:
    """The trigger ``get_trigger(None)`` gives: it never fires."""
    return False


def get_trigger(trigger: TriggerLike) -> Callable[..., bool]:
    """Turn a trigger-like value into a trigger (Chainer's ``training.get_trigger``).

    Args:
        trigger: a callable ``(trainer) -> bool``, used as it is; a ``(period, unit)``
            tuple, made an :class:`IntervalTrigger`; or ``None``, a trigger that never fires.

    Raises:
        UsageError: ``trigger`` is none of these, or a tuple with a bad period or unit.
    """
    if callable(trigger):
        return trigger
    if trigger is None:
        return _never_fire
    try:
        period, unit = trigger
    except (TypeError, ValueError):
        raise UsageError(
            f"Argument `trigger` should be a (period, 'epoch' | 'iteration') tuple or a callable, "
            f"but given {trigger!r}"
        ) from None
    return IntervalTrigger(period, unit)


def trigger_state(trigger: Callable[..., bool]) -> dict[str, Any]:
    """``trigger.state_dict()``, or ``{}`` for a trigger without state (a plain function)."""
    state_dict = getattr(trigger, "state_dict", None)
    return state_dict() if state_dict is not None else {}


def load_trigger_state(trigger: Callable[..., bool], state: Mapping[str, Any]) -> None:
    """``trigger.load_state_dict(state)`` where the trigger has state; nothing otherwise."""
    load_state_dict = getattr(trigger, "load_state_dict", None)
    if load_state_dict is not None:
        load_state_dict(state)


def without_saved_state(trigger: Callable[..., bool]) -> None:
    """Restore a trigger from a checkpoint that saved no state for it (written before
    triggers kept state): it then takes its previous call to be the iteration before its
    next one, Chainer's guess, right for a trigger asked every iteration. Quietly: the
    guess is the old behaviour."""
    load_state_dict = getattr(trigger, "load_state_dict", None)
    if load_state_dict is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            load_state_dict({})
        except KeyError:  # a trigger with no guess for a missing state starts afresh
            pass
