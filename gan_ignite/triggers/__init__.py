"""Triggers: when an extension runs and when training stops (Chainer's ``training.triggers``).

A trigger is a callable ``trigger(trainer) -> bool``. The trainer asks every extension's
trigger, and its stop trigger, after each iteration; a trigger may also be asked less
often (by an outer trigger, or inside an extension) and then fires at the next call after
a point it was not asked at. ``(N, 'epoch')`` and ``(N, 'iteration')`` tuples stand for
:class:`IntervalTrigger`; :func:`get_trigger` turns any trigger-like value into a trigger.

Triggers remember their previous call (and the value triggers their running means), so
they carry state: ``state_dict()`` / ``load_state_dict(state)`` hold only numbers, strings,
``None``, lists and dicts, so a checkpoint loads with ``torch.load(weights_only=True)``.
The position triggers (interval, schedule, once) also take an Ignite ``Engine`` in place
of the trainer and ignore a second argument, so they work as Ignite event filters.

=================================  ==================================================
:class:`IntervalTrigger`           every ``period`` epochs or iterations
:class:`ManualScheduleTrigger`     at given epochs or iterations
:class:`MinValueTrigger`,          when an interval's mean of a key is the best yet
:class:`MaxValueTrigger`,
:class:`BestValueTrigger`
:class:`EarlyStoppingTrigger`      when a key stops improving (a stop trigger)
:class:`OnceTrigger`               at the first call (and after a resume)
:class:`TimeTrigger`               every ``period`` seconds of training
=================================  ==================================================
"""

from gan_ignite.triggers.early_stopping import EarlyStoppingTrigger
from gan_ignite.triggers.interval import (
    UNITS,
    IntervalTrigger,
    TriggerLike,
    get_trigger,
    load_trigger_state,
    trigger_state,
    without_saved_state,
)
from gan_ignite.triggers.manual_schedule import ManualScheduleTrigger
from gan_ignite.triggers.once import OnceTrigger
from gan_ignite.triggers.time_trigger import TimeTrigger
from gan_ignite.triggers.value import BestValueTrigger, MaxValueTrigger, MinValueTrigger

__all__ = [
    "UNITS",
    "TriggerLike",
    "get_trigger",
    "trigger_state",
    "load_trigger_state",
    "without_saved_state",
    "IntervalTrigger",
    "ManualScheduleTrigger",
    "BestValueTrigger",
    "MaxValueTrigger",
    "MinValueTrigger",
    "EarlyStoppingTrigger",
    "OnceTrigger",
    "TimeTrigger",
]
