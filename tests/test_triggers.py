from types import SimpleNamespace

import pytest
from ignite.engine import Engine, Events

from gan_ignite.errors import UsageError
from gan_ignite.triggers import IntervalTrigger, ManualScheduleTrigger, get_trigger


def fired(trigger, n_iterations: int, epoch_length: int) -> list[int]:
    """Iterations at which the trigger fires, checked after each iteration."""
    hits = []
    for it in range(1, n_iterations + 1):
        engine = SimpleNamespace(state=SimpleNamespace(iteration=it, epoch_length=epoch_length))
        if trigger(engine):
            hits.append(it)
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
def test_interval_trigger_firing_table(trigger, epoch_length, expected):
    assert fired(get_trigger(trigger), 12, epoch_length) == expected


def test_manual_schedule_trigger():
    assert fired(ManualScheduleTrigger([2, 7], "iteration"), 10, 4) == [2, 7]
    assert fired(ManualScheduleTrigger([1, 2.5], "epoch"), 12, 4) == [4, 10]


def test_trigger_is_stateless_and_works_as_an_ignite_event_filter():
    trigger = IntervalTrigger(2, "epoch")
    calls = []
    engine = Engine(lambda e, b: None)
    engine.add_event_handler(
        Events.ITERATION_COMPLETED(event_filter=trigger), lambda e: calls.append(e.state.iteration)
    )
    engine.run(range(3), max_epochs=6)
    assert calls == [6, 12, 18]
    # Asked twice about the same state, a stateless trigger answers the same.
    assert trigger(engine) and trigger(engine)


def test_none_fires_every_iteration_and_callables_pass_through():
    assert fired(get_trigger(None), 3, 10) == [1, 2, 3]
    custom = lambda engine, event=None: engine.state.iteration == 2  # noqa: E731
    assert get_trigger(custom) is custom


@pytest.mark.parametrize(
    "bad, message",
    [
        ((0, "epoch"), r"`period` should be a positive number of epochs, but given 0"),
        ((1.5, "iteration"), r"`period` should be a positive number of iterations, but given 1.5"),
        ((1, "epochs"), r"`unit` should be one of epoch, iteration, but given 'epochs'"),
        ("often", r"`trigger` should be a \(period, 'epoch' \| 'iteration'\) tuple or a callable"),
    ],
)
def test_bad_triggers(bad, message):
    with pytest.raises(UsageError, match=message):
        get_trigger(bad)
