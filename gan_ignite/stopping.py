"""The stop trigger: how long a run trains, and the bound Ignite's ``Engine.run`` needs.

``(N, 'epoch')`` and ``(N, 'iteration')`` (fractional epochs too) become an
:class:`~gan_ignite.triggers.IntervalTrigger`, which Ignite's own ``max_epochs`` /
``max_iters`` carry out. Any other trigger object (an
:class:`~gan_ignite.triggers.EarlyStoppingTrigger`) is asked by the trainer after every
iteration; Ignite's bound comes from its ``get_training_length()`` when it has one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from gan_ignite.errors import UsageError
from gan_ignite.triggers import IntervalTrigger, TriggerLike

__all__ = ["as_stop_trigger", "ignite_bound", "bound_iterations"]

# Ignite needs a bound; a stop trigger without a training length ends the run itself.
_UNBOUNDED_EPOCHS = 2**31 - 1


def as_stop_trigger(stop_trigger: TriggerLike) -> Callable[..., bool]:
    """The stop trigger as an object: ``(N, unit)`` becomes an :class:`IntervalTrigger`."""
    if callable(stop_trigger):
        return stop_trigger
    try:
        length, unit = stop_trigger  # type: ignore[misc]
    except (TypeError, ValueError):
        raise UsageError(
            f"Argument `stop_trigger` should be (N, 'epoch' | 'iteration') or a trigger, but given {stop_trigger!r}"
        ) from None
    valid = isinstance(length, (int, float)) and not isinstance(length, bool) and length > 0
    if unit not in ("epoch", "iteration") or not valid or (unit == "iteration" and not float(length).is_integer()):
        raise UsageError(
            f"Argument `stop_trigger` should be a positive number of epochs or a positive integer number of "
            f"iterations, but given {stop_trigger!r}"
        )
    return IntervalTrigger(length, unit)


def ignite_bound(stop_trigger: Callable[..., bool], epoch_length: int) -> dict[str, int]:
    """Ignite's ``max_epochs`` or ``max_iters`` for the stop trigger's training length."""
    length = getattr(stop_trigger, "get_training_length", None)
    if length is None:
        return {"max_epochs": _UNBOUNDED_EPOCHS}
    period, unit = length()
    if unit == "iteration":
        return {"max_iters": int(period)}
    if float(period).is_integer():
        return {"max_epochs": int(period)}
    # The first iteration at or past the fraction, as an interval trigger fires.
    return {"max_iters": math.ceil(period * epoch_length - 1e-9)}


def bound_iterations(stop_trigger: Callable[..., bool], epoch_length: int) -> float:
    """The iteration at which Ignite's bound ends the run."""
    bound = ignite_bound(stop_trigger, epoch_length)
    if "max_iters" in bound:
        return bound["max_iters"]
    return bound["max_epochs"] * epoch_length
