"""get_trigger: tuples, callables, None, and the errors for anything else.

Ports pytorch-pfn-extras' tests/pytorch_pfn_extras_tests/training_tests/test_trigger_util.py
(``get_trigger`` on None, tuples and callables, driven like a trainer) and keeps the firing
table and the bad inputs of this project's former tests/test_triggers.py, driven like an
Ignite engine (``state.iteration``, ``state.epoch_length``).
"""

from types import SimpleNamespace

import pytest

from gan_ignite.errors import UsageError
from gan_ignite.triggers import UNITS, IntervalTrigger, get_trigger, load_trigger_state, trigger_state

F, T = False, True


def fired_on_engine(trigger, n_iterations: int, epoch_length: int) -> list[int]:
    """Iterations at which the trigger fires, asked after each one with an engine's state."""
    hits = []
    for iteration in range(1, n_iterations + 1):
        engine = SimpleNamespace(state=SimpleNamespace(iteration=iteration, epoch_length=epoch_length))
        if trigger(engine, iteration):
            hits.append(iteration)
    return hits


@pytest.mark.parametrize(
    "trigger, epoch_length, expected",
    [
        ((1, "iteration"), 5, list(range(1, 13))),
        ((3, "iteration"), 5, [3, 6, 9, 12]),
        ((1, "epoch"), 5, [5, 10]),
        ((2, "epoch"), 4, [8]),
        ((0.5, "epoch"), 4, [2, 4, 6, 8, 10, 12]),
        ((0.5, "epoch"), 5, [3, 5, 8, 10]),  # first iteration past each half epoch
        ((1, "epoch"), 12, [12]),
    ],
)
def test_tuples_fire_on_an_engine(trigger, epoch_length, expected):
    assert fired_on_engine(get_trigger(trigger), 12, epoch_length) == expected


@pytest.mark.parametrize(
    "trigger, expected",
    [
        (None, [F, F, F, F, F, F, F]),  # never fires
        ((2, "iteration"), [F, T, F, T, F, T, F]),
        ((2, "epoch"), [F, F, F, T, F, F, F]),
        (get_trigger(None), [F, F, F, F, F, F, F]),
        (IntervalTrigger(2, "iteration"), [F, T, F, T, F, T, F]),
        (lambda trainer: trainer.updater.iteration == 3, [F, F, T, F, F, F, F]),
    ],
)
def test_on_a_trainer(make_trainer, trigger, expected):
    trainer, made = make_trainer(2), get_trigger(trigger)
    answers = []
    for _ in expected:
        trainer.updater.update()
        answers.append(made(trainer))
    assert answers == expected


def test_none_never_fires_on_an_engine_and_callables_pass_through():
    assert fired_on_engine(get_trigger(None), 3, 10) == []
    custom = lambda engine, event=None: engine.state.iteration == 2  # noqa: E731
    assert get_trigger(custom) is custom
    interval = IntervalTrigger(1, "epoch")
    assert get_trigger(interval) is interval
    made = get_trigger((2, "epoch"))
    assert isinstance(made, IntervalTrigger) and made.get_training_length() == (2, "epoch")


def test_state_of_any_trigger(make_trainer):
    plain = get_trigger(None)
    assert trigger_state(plain) == {}
    load_trigger_state(plain, {})  # nothing to load into
    trainer, interval = make_trainer(2), IntervalTrigger(1, "epoch")
    trainer.updater.update()
    interval(trainer)
    rebuilt = IntervalTrigger(1, "epoch")
    load_trigger_state(rebuilt, trigger_state(interval))
    assert rebuilt.state_dict() == {"previous_iteration": 1, "previous_epoch_detail": 0.5}


@pytest.mark.parametrize(
    "bad, message",
    [
        ((0, "epoch"), r"`period` should be a positive number of epochs, but given 0"),
        ((1.5, "iteration"), r"`period` should be a positive number of iterations, but given 1.5"),
        ((1, "epochs"), r"`unit` should be one of epoch, iteration, but given 'epochs'"),
        ("often", r"`trigger` should be a \(period, 'epoch' \| 'iteration'\) tuple or a callable"),
        ((1, "epoch", 2), r"`trigger` should be a \(period, 'epoch' \| 'iteration'\) tuple or a callable"),
    ],
)
def test_bad_triggers(bad, message):
    with pytest.raises(UsageError, match=message):
        get_trigger(bad)


def test_units():
    assert UNITS == ("epoch", "iteration")
