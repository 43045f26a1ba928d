"""OnceTrigger: the first call, ``call_on_resume``, sparse calls, the old state without the flag.

Ports Chainer's tests/chainer_tests/training_tests/triggers_tests/test_once_trigger.py
(all its cases) and pytorch-pfn-extras'
tests/pytorch_pfn_extras_tests/training_tests/triggers_tests/test_once_trigger.py.
Sparse calls are checked over every pattern of calls instead of ten random ones.
"""

import itertools

import pytest
from ignite.engine import Engine, Events

from gan_ignite.triggers import OnceTrigger

PARAMS = [  # iter_per_epoch, call_on_resume, resume after
    (5, False, 4),
    (5, True, 4),
    (2.5, False, 3),  # unaligned epoch
    (2.5, True, 3),
    (0.5, False, 4),  # tiny epoch
    (0.5, True, 4),
]


def expected_answers(call_on_resume: bool, resume: int | None) -> tuple[list[bool], list[bool]]:
    """Answers and ``finished`` (before each call) when called every iteration, resumed at ``resume``."""
    fired, finished = [True] + [False] * 6, [False] + [True] * 6
    if call_on_resume and resume is not None:
        fired[resume], finished[resume] = True, False
    return fired, finished


def run(make_trainer, checkpoint, iter_per_epoch, call_on_resume, asked, cut=None) -> list[tuple[bool, bool]]:
    """``(finished before, answer)`` at each call; rebuilt from its saved state after ``cut`` iterations."""
    trainer = make_trainer(iter_per_epoch)
    trigger, answers = OnceTrigger(call_on_resume), []
    for step, ask in enumerate(asked):
        if step == cut:
            state = checkpoint(trigger.state_dict())
            trigger = OnceTrigger(call_on_resume)
            trigger.load_state_dict(state)
        trainer.updater.update()
        if ask:
            answers.append((trigger.finished, trigger(trainer)))
    return answers


@pytest.mark.parametrize("iter_per_epoch, call_on_resume, resume", PARAMS)
def test_fires_at_the_first_call_only(make_trainer, checkpoint, iter_per_epoch, call_on_resume, resume):
    fired, finished = expected_answers(call_on_resume, None)
    assert run(make_trainer, checkpoint, iter_per_epoch, call_on_resume, (1,) * 7) == list(zip(finished, fired))


@pytest.mark.parametrize("iter_per_epoch, call_on_resume, resume", PARAMS)
def test_rebuilt_from_state_fires_again_only_with_call_on_resume(
    make_trainer, checkpoint, iter_per_epoch, call_on_resume, resume
):
    fired, finished = expected_answers(call_on_resume, resume)
    resumed = run(make_trainer, checkpoint, iter_per_epoch, call_on_resume, (1,) * 7, cut=resume)
    assert resumed == list(zip(finished, fired))


@pytest.mark.parametrize("iter_per_epoch, call_on_resume, resume", PARAMS)
def test_sparse_calls(make_trainer, checkpoint, iter_per_epoch, call_on_resume, resume):
    for asked in itertools.product((0, 1), repeat=7):
        for cut in (None, resume):
            first_call = asked.index(1) if any(asked) else None
            # After a resume with call_on_resume, the first call after the cut fires again.
            again = next((step for step in range(cut, 7) if asked[step]), None) if cut and call_on_resume else None
            want = [(step not in (first_call, again), step in (first_call, again)) for step in range(7) if asked[step]]
            assert run(make_trainer, checkpoint, iter_per_epoch, call_on_resume, asked, cut) == want, (asked, cut)


def test_state_without_the_flag_takes_the_first_call_as_past(make_trainer):
    trigger = OnceTrigger()
    with pytest.warns(UserWarning, match="was not saved"):
        trigger.load_state_dict({})
    assert trigger.finished and not trigger(make_trainer())
    trigger = OnceTrigger(call_on_resume=True)
    with pytest.warns(UserWarning, match="was not saved"):
        trigger.load_state_dict({})
    assert [trigger(make_trainer()), trigger(make_trainer())] == [True, False]


def test_as_an_ignite_event_filter():
    calls = []
    engine = Engine(lambda e, b: None)
    engine.add_event_handler(
        Events.ITERATION_COMPLETED(event_filter=OnceTrigger()), lambda e: calls.append(e.state.iteration)
    )
    engine.run(range(3), max_epochs=2)
    assert calls == [1]
