"""IntervalTrigger, driven like a trainer and like an Ignite event filter.

Ports Chainer's tests/chainer_tests/training_tests/triggers_tests/test_interval_trigger.py
(the firing table, resume, sparse calls, resume with sparse calls, the old state without
the previous call, ``str``, bad unit) and the extra fractional-epoch row of
pytorch-pfn-extras' tests/pytorch_pfn_extras_tests/training_tests/triggers_tests/test_interval_trigger.py.
Sparse calls are checked over every pattern of calls instead of ten random ones.
"""

import itertools

import pytest
from ignite.engine import Engine, Events

from gan_ignite.errors import UsageError
from gan_ignite.triggers import IntervalTrigger

F, T = False, True

# iter_per_epoch, (period, unit), resume after, expected answer after each iteration
CASES = [
    (5, (2, "iteration"), 4, [F, T, F, T, F, T, F]),
    (1, (3, "epoch"), 4, [F, F, T, F, F, T, F]),
    (2, (1.5, "epoch"), 4, [F, F, T, F, F, T, F]),  # fractional epoch
    (2.5, (1, "epoch"), 3, [F, F, T, F, T, F, F]),  # unaligned epoch
    (0.5, (1, "epoch"), 4, [T, T, T, T, T, T, T]),  # tiny epoch
    (3, (1.5, "epoch"), 4, [F, F, F, F, T, F, F, F, T]),  # ppe's row
]


def answers_when_asked(expected: list[bool], asked: tuple[int, ...]) -> list[bool]:
    """What a trigger asked only where ``asked`` is 1 answers: whether it was due since its last call."""
    answers, due = [], False
    for fire, ask in zip(expected, asked):
        due = due or fire
        if ask:
            answers.append(due)
            due = False
    return answers


@pytest.mark.parametrize("iter_per_epoch, interval, resume, expected", CASES)
def test_firing_table(make_trainer, iter_per_epoch, interval, resume, expected):
    trainer = make_trainer(iter_per_epoch)
    trigger = IntervalTrigger(*interval)
    answers = [trigger(trainer)]  # before the first iteration it never fires
    for _ in expected:
        trainer.updater.update()
        answers.append(trigger(trainer))
    assert answers == [False] + expected


@pytest.mark.parametrize("iter_per_epoch, interval, resume, expected", CASES)
def test_rebuilt_from_state_fires_as_uninterrupted(
    make_trainer, checkpoint, iter_per_epoch, interval, resume, expected
):
    trainer = make_trainer(iter_per_epoch)
    trigger, answers = IntervalTrigger(*interval), []
    for step in range(len(expected)):
        if step == resume:
            state = checkpoint(trigger.state_dict())
            trigger = IntervalTrigger(*interval)
            trigger.load_state_dict(state)
        trainer.updater.update()
        answers.append(trigger(trainer))
    assert answers == expected


@pytest.mark.parametrize("iter_per_epoch, interval, resume, expected", CASES)
def test_sparse_calls_fire_at_the_next_call(make_trainer, checkpoint, iter_per_epoch, interval, resume, expected):
    for asked in itertools.product((0, 1), repeat=len(expected)):
        for cut in (None, resume):  # uninterrupted, and rebuilt from state after `resume` iterations
            trainer = make_trainer(iter_per_epoch)
            trigger, answers = IntervalTrigger(*interval), []
            for step, ask in enumerate(asked):
                if step == cut:
                    state = checkpoint(trigger.state_dict())
                    trigger = IntervalTrigger(*interval)
                    trigger.load_state_dict(state)
                trainer.updater.update()
                if ask:
                    answers.append(trigger(trainer))
            assert answers == answers_when_asked(expected, asked), (asked, cut)


@pytest.mark.parametrize("iter_per_epoch, interval, resume, expected", CASES)
def test_state_without_the_previous_call_guesses_it(make_trainer, iter_per_epoch, interval, resume, expected):
    trainer = make_trainer(iter_per_epoch)
    trigger = IntervalTrigger(*interval)
    for fire in expected[:resume]:
        trainer.updater.update()
        assert trigger(trainer) == fire
    trigger = IntervalTrigger(*interval)
    with pytest.warns(UserWarning, match="was not saved"):
        trigger.load_state_dict({})  # a state saved before triggers had any
    for fire in expected[resume:]:
        trainer.updater.update()
        assert trigger(trainer) == fire


def test_tenths_of_an_epoch_fire_every_tenth(make_trainer):
    # 0.3 // 0.1 == 2.0 in floats: Chainer's comparison would skip iteration 3 and 6.
    trainer, trigger = make_trainer(10), IntervalTrigger(0.1, "epoch")
    answers = []
    for _ in range(30):
        trainer.updater.update()
        answers.append(trigger(trainer))
    assert answers == [True] * 30


def test_as_an_ignite_event_filter():
    trigger, calls = IntervalTrigger(2, "epoch"), []
    engine = Engine(lambda e, b: None)
    engine.add_event_handler(
        Events.ITERATION_COMPLETED(event_filter=trigger), lambda e: calls.append(e.state.iteration)
    )
    engine.run(range(3), max_epochs=6)
    assert calls == [6, 12, 18]
    # It remembers its previous call: asked again at the same iteration, it does not fire twice.
    assert not trigger(engine)


def test_an_ignite_run_resumed_with_the_trigger_state_keeps_its_firings():
    def run(trigger: IntervalTrigger, engine_state: dict | None, max_epochs: int) -> list[int]:
        calls: list[int] = []
        engine = Engine(lambda e, b: None)
        engine.add_event_handler(
            Events.ITERATION_COMPLETED(event_filter=trigger), lambda e: calls.append(e.state.iteration)
        )
        if engine_state is not None:
            engine.load_state_dict(engine_state)
        engine.run(range(4), max_epochs=max_epochs)
        return calls

    assert run(IntervalTrigger(3, "iteration"), None, 5) == [3, 6, 9, 12, 15, 18]
    first = IntervalTrigger(3, "iteration")
    assert run(first, None, 2) == [3, 6]
    second = IntervalTrigger(3, "iteration")
    second.load_state_dict(first.state_dict())
    assert run(second, {"iteration": 8, "epoch_length": 4, "max_epochs": 5}, 5) == [9, 12, 15, 18]


def test_state_holds_plain_numbers(make_trainer):
    trainer, trigger = make_trainer(4), IntervalTrigger(0.5, "epoch")
    for _ in range(3):
        trainer.updater.update()
        trigger(trainer)
    assert trigger.state_dict() == {"previous_iteration": 3, "previous_epoch_detail": 0.75}


@pytest.mark.parametrize("interval", [(2, "iteration"), (1.5, "epoch")])
def test_str_and_training_length(interval):
    trigger = IntervalTrigger(*interval)
    assert str(trigger) == "IntervalTrigger({}, '{}')".format(*interval)
    assert trigger.get_training_length() == interval


def test_invalid_unit():
    with pytest.raises(UsageError, match=r"`unit` should be one of epoch, iteration, but given 'day'"):
        IntervalTrigger(1, "day")
