"""MinValueTrigger, MaxValueTrigger and BestValueTrigger: tables, resume, missing key.

Ports pytorch-pfn-extras' tests/pytorch_pfn_extras_tests/training_tests/triggers_tests/test_minmax_value_trigger.py
(its table, with the BestValueTrigger row, and the resumed run) and Chainer's
tests/chainer_tests/training_tests/triggers_tests/test_minmax_trigger.py (the same firings
as iterations, with aligned and unaligned resumes). Two rows are added that only pass if
the summary of the interval under way and the interval trigger's memory are saved.
"""

import pytest
import torch

from gan_ignite.errors import UsageError
from gan_ignite.triggers import BestValueTrigger, MaxValueTrigger, MinValueTrigger

F, T = False, True
KEY = "main/accuracy"


def _closer_to_zero(best: float, new: float) -> bool:
    return abs(new) < abs(best)


# trigger class, its arguments after the key, iter_per_epoch, values, expected answers, resume after
CASES = [
    (MaxValueTrigger, ((1, "iteration"),), 1, [0.5, 0.5, 0.4, 0.6], [T, F, F, T], 1),
    (MinValueTrigger, ((1, "iteration"),), 1, [0.5, 0.5, 0.4, 0.6], [T, F, T, F], 1),
    (MaxValueTrigger, ((2, "iteration"),), 1, [0.5, 0.5, 0.5, 0.5, 0.4, 0.4, 0.6, 0.6], [F, T, F, F, F, F, F, T], 2),
    (MinValueTrigger, ((2, "iteration"),), 1, [0.5, 0.5, 0.5, 0.5, 0.4, 0.4, 0.6, 0.6], [F, T, F, F, F, T, F, F], 2),
    (MaxValueTrigger, ((2, "iteration"),), 1, [0.5, 0.5, 0.5, 0.5, 0.4, 0.4, 0.6, 0.6], [F, T, F, F, F, F, F, T], 3),
    (MinValueTrigger, ((2, "iteration"),), 1, [0.5, 0.5, 0.5, 0.5, 0.4, 0.4, 0.6, 0.6], [F, T, F, F, F, T, F, F], 3),
    (MaxValueTrigger, ((1, "epoch"),), 2, [0.5, 0.5, 0.5, 0.5, 0.4, 0.4, 0.6, 0.6], [F, T, F, F, F, F, F, T], 2),
    (MinValueTrigger, ((1, "epoch"),), 2, [0.5, 0.5, 0.5, 0.5, 0.4, 0.4, 0.6, 0.6], [F, T, F, F, F, T, F, F], 2),
    (MaxValueTrigger, ((1, "epoch"),), 2, [0.5, 0.5, 0.5, 0.5, 0.4, 0.4, 0.6, 0.6], [F, T, F, F, F, F, F, T], 3),
    (MinValueTrigger, ((1, "epoch"),), 2, [0.5, 0.5, 0.5, 0.5, 0.4, 0.4, 0.6, 0.6], [F, T, F, F, F, T, F, F], 3),
    (BestValueTrigger, (_closer_to_zero, (1, "iteration")), 2, [0.5, -0.5, -0.6, 0.6, 0.4, -0.4, -0.3, 0.3],
     [T, F, F, F, T, F, T, F], 3),
    # The mean of iterations 3-4 is 0.5 (no new best) only if 0.1, added before the cut, is kept.
    (MaxValueTrigger, ((2, "iteration"),), 1, [0.5, 0.5, 0.1, 0.9, 0.6, 0.6], [F, T, F, F, F, T], 3),
    # A fresh interval trigger would take iteration 3 as the end of an interval (mean 0.4, a new best).
    (MinValueTrigger, ((2, "iteration"),), 1, [0.5, 0.5, 0.4, 0.4], [F, T, F, T], 2),
]


def run(make_trainer, checkpoint, trigger_type, args, iter_per_epoch, values, cut=None) -> list[bool]:
    """Answers after each iteration that reports ``values[i]``; rebuilt from its state after ``cut`` of them."""
    trainer = make_trainer(iter_per_epoch)
    trigger, answers = trigger_type(KEY, *args), []
    for step, value in enumerate(values):
        if step == cut:
            state = checkpoint(trigger.state_dict())
            trigger = trigger_type(KEY, *args)
            trigger.load_state_dict(state)
        trainer.updater.update()
        trainer.observation = {KEY: value}
        answers.append(trigger(trainer))
    return answers


@pytest.mark.parametrize("trigger_type, args, iter_per_epoch, values, expected, resume", CASES)
def test_firing_table(make_trainer, checkpoint, trigger_type, args, iter_per_epoch, values, expected, resume):
    assert run(make_trainer, checkpoint, trigger_type, args, iter_per_epoch, values) == expected


@pytest.mark.parametrize("trigger_type, args, iter_per_epoch, values, expected, resume", CASES)
def test_rebuilt_from_state_fires_as_uninterrupted(
    make_trainer, checkpoint, trigger_type, args, iter_per_epoch, values, expected, resume
):
    assert run(make_trainer, checkpoint, trigger_type, args, iter_per_epoch, values, cut=resume) == expected


def test_tensor_values_and_the_best_mean(make_trainer, checkpoint):
    values = [torch.tensor(v) for v in (0.25, 0.75, 1.0, 0.0, 0.5, 2.0)]
    assert run(make_trainer, checkpoint, MaxValueTrigger, ((2, "iteration"),), 1, values) == [F, T, F, F, F, T]
    trainer, trigger = make_trainer(1), MinValueTrigger("val/loss", (2, "iteration"))
    for value in (3.0, 1.0):
        trainer.updater.update()
        trainer.observation = {"val/loss": torch.tensor(value)}
        trigger(trainer)
    assert trigger.best_value == 2.0 and type(trigger.best_value) is float
    state = checkpoint(trigger.state_dict())
    assert state == {"interval_trigger": {"previous_iteration": 2, "previous_epoch_detail": 2.0}, "summary": {},
                     "best_value": 2.0}


def test_iterations_without_the_key_are_left_out_of_the_mean(make_trainer):
    trainer, trigger = make_trainer(4), MinValueTrigger("val/loss")
    answers = []
    for value in (None, 0.4, None, 0.4, None, None, 0.3, None):  # the key reported now and then
        trainer.updater.update()
        trainer.observation = {"main/loss": 1.0} if value is None else {"val/loss": value}
        answers.append(trigger(trainer))
    assert answers == [F, F, F, T, F, F, F, T]
    assert trigger.best_value == pytest.approx(0.3)


def test_an_interval_without_the_key_names_the_keys(make_trainer):
    trainer, trigger = make_trainer(1), MaxValueTrigger("val/acc", (1, "iteration"))
    trainer.updater.update()
    trainer.observation = {"main/loss": 1.0, "main/accuracy": 0.5}
    message = r"`key` should be a key reported.*given 'val/acc'; .* main/accuracy, main/loss"
    with pytest.raises(UsageError, match=message):
        trigger(trainer)
