"""TimeTrigger: fires after each period of ``trainer.elapsed_time``; its state survives a resume.

Ports Chainer's tests/chainer_tests/training_tests/triggers_tests/test_time_trigger.py and
pytorch-pfn-extras' tests/pytorch_pfn_extras_tests/training_tests/triggers_tests/test_time_trigger.py.
"""

from types import SimpleNamespace

import pytest

from gan_ignite.errors import UsageError
from gan_ignite.triggers import TimeTrigger

TIMES = [0.0, 0.9, 1.2, 1.3, 2.1, 2.2, 5.0, 5.1, 5.2, 5.3, 5.4]
# Each firing moves the next time on by one period: after the pause to 5.0 it catches up.
EXPECTED = [False, False, True, False, True, False, True, True, True, False, False]


def answers(trigger: TimeTrigger, times: list[float]) -> list[bool]:
    trainer = SimpleNamespace(elapsed_time=0.0)
    result = []
    for elapsed in times:
        trainer.elapsed_time = elapsed
        result.append(trigger(trainer))
    return result


def test_fires_once_per_period():
    # first at the call after 1.0 (1.2), then after 2.0 (2.1, not 2.2)
    assert answers(TimeTrigger(1), TIMES) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(TIMES)))
def test_rebuilt_from_state_fires_as_uninterrupted(checkpoint, cut):
    trigger = TimeTrigger(1)
    before = answers(trigger, TIMES[:cut])
    state = checkpoint(trigger.state_dict())
    rebuilt = TimeTrigger(1)
    rebuilt.load_state_dict(state)
    assert before + answers(rebuilt, TIMES[cut:]) == EXPECTED


def test_state_is_the_next_time():
    trigger = TimeTrigger(1)
    answers(trigger, [1.2])
    assert trigger.state_dict() == {"next_time": 2.0}


@pytest.mark.parametrize("period", [0, -1.0])
def test_bad_period(period):
    with pytest.raises(UsageError, match=rf"`period` should be a positive number of seconds, but given {period}"):
        TimeTrigger(period)
