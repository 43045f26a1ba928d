"""ManualScheduleTrigger: firings and ``finished``, every iteration, sparsely, and resumed.

Ports Chainer's tests/chainer_tests/training_tests/triggers_tests/test_manual_schedule_trigger.py
(its table of firings and ``finished``, resume, sparse calls, resume with sparse calls,
the old state without the previous call or ``finished``, bad unit), whose aligned rows are
also pytorch-pfn-extras' tests/pytorch_pfn_extras_tests/training_tests/triggers_tests/test_schedule_trigger.py.
"""

import itertools
from types import SimpleNamespace

import pytest

from gan_ignite.errors import UsageError
from gan_ignite.triggers import ManualScheduleTrigger

F, T = False, True


def finished_from(position: int, length: int = 7) -> list[bool]:
    return [step >= position for step in range(length)]


# iter_per_epoch, (points, unit), resume after, expected answers, expected `finished` after each call
CASES = [
    (2, (2, "iteration"), 3, [F, T, F, F, F, F, F], finished_from(1)),
    (2, ([2, 4], "iteration"), 3, [F, T, F, T, F, F, F], finished_from(3)),
    (3, (1, "epoch"), 3, [F, F, T, F, F, F, F], finished_from(2)),
    (3, ([1, 2], "epoch"), 4, [F, F, T, F, F, T, F], finished_from(5)),
    (2, (1.5, "epoch"), 4, [F, F, T, F, F, F, F], finished_from(2)),  # fractional epoch
    (2, ([1.5, 2.5], "epoch"), 4, [F, F, T, F, T, F, F], finished_from(4)),
    (2.5, (1, "epoch"), 4, [F, F, T, F, F, F, F], finished_from(2)),  # unaligned epoch
    (2.5, ([1, 2], "epoch"), 4, [F, F, T, F, T, F, F], finished_from(4)),
    (0.5, (1, "epoch"), 4, [T, F, F, F, F, F, F], finished_from(0)),  # tiny epoch
    (0.5, ([1, 2], "epoch"), 4, [T, F, F, F, F, F, F], finished_from(0)),
]


def run(make_trainer, checkpoint, iter_per_epoch, schedule, asked, cut=None) -> list[tuple[bool, bool]]:
    """``(answer, finished)`` at each call; rebuilt from its saved state after ``cut`` iterations."""
    trainer = make_trainer(iter_per_epoch)
    trigger, answers = ManualScheduleTrigger(*schedule), []
    for step, ask in enumerate(asked):
        if step == cut:
            state = checkpoint(trigger.state_dict())
            trigger = ManualScheduleTrigger(*schedule)
            trigger.load_state_dict(state)
        trainer.updater.update()
        if ask:
            answers.append((trigger(trainer), trigger.finished))
    return answers


@pytest.mark.parametrize("iter_per_epoch, schedule, resume, expected, finished", CASES)
def test_firing_table(make_trainer, checkpoint, iter_per_epoch, schedule, resume, expected, finished):
    every = (1,) * len(expected)
    assert run(make_trainer, checkpoint, iter_per_epoch, schedule, every) == list(zip(expected, finished))
    resumed = run(make_trainer, checkpoint, iter_per_epoch, schedule, every, cut=resume)
    assert resumed == list(zip(expected, finished))


@pytest.mark.parametrize("iter_per_epoch, schedule, resume, expected, finished", CASES)
def test_sparse_calls_fire_at_the_next_call(
    make_trainer, checkpoint, iter_per_epoch, schedule, resume, expected, finished
):
    for asked in itertools.product((0, 1), repeat=len(expected)):
        want, due = [], False
        for fire, done, ask in zip(expected, finished, asked):
            due = due or fire
            if ask:
                want.append((due, done))
                due = False
        for cut in (None, resume):
            assert run(make_trainer, checkpoint, iter_per_epoch, schedule, asked, cut) == want, (asked, cut)


@pytest.mark.parametrize("iter_per_epoch, schedule, resume, expected, finished", CASES)
def test_state_without_the_previous_call_or_finished(
    make_trainer, iter_per_epoch, schedule, resume, expected, finished
):
    trainer = make_trainer(iter_per_epoch)
    trigger = ManualScheduleTrigger(*schedule)
    for fire, done in zip(expected[:resume], finished[:resume]):
        trainer.updater.update()
        assert (trigger(trainer), trigger.finished) == (fire, done)
    trigger = ManualScheduleTrigger(*schedule)
    with pytest.warns(UserWarning, match="not saved"):
        trigger.load_state_dict({})
    for fire, done in zip(expected[resume:], finished[resume:]):
        trainer.updater.update()
        assert (trigger(trainer), trigger.finished) == (fire, done)


def test_as_an_ignite_event_filter():
    def fired(trigger: ManualScheduleTrigger, n_iterations: int, epoch_length: int) -> list[int]:
        hits = []
        for iteration in range(1, n_iterations + 1):
            engine = SimpleNamespace(state=SimpleNamespace(iteration=iteration, epoch_length=epoch_length))
            if trigger(engine, iteration):
                hits.append(iteration)
        return hits

    assert fired(ManualScheduleTrigger([7, 2], "iteration"), 10, 4) == [2, 7]
    assert fired(ManualScheduleTrigger([1, 2.5], "epoch"), 12, 4) == [4, 10]


def test_state_holds_plain_values(make_trainer):
    trainer, trigger = make_trainer(2), ManualScheduleTrigger(1, "epoch")
    for _ in range(2):
        trainer.updater.update()
    assert trigger(trainer)
    assert trigger.state_dict() == {"previous_iteration": 2, "previous_epoch_detail": 1.0, "finished": True}


def test_bad_arguments():
    with pytest.raises(UsageError, match=r"`unit` should be one of epoch, iteration, but given 'day'"):
        ManualScheduleTrigger(1, "day")
    with pytest.raises(UsageError, match=r"`points` should be a number or a non-empty list of them, but given \[\]"):
        ManualScheduleTrigger([], "epoch")
