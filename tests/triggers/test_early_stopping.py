"""EarlyStoppingTrigger: Chainer's tables, modes, the maximum length, and an exact resume.

Ports Chainer's tests/chainer_tests/training_tests/triggers_tests/test_early_stopping_trigger.py
and pytorch-pfn-extras' tests/pytorch_pfn_extras_tests/training_tests/triggers_tests/test_early_stopping_trigger.py
(accuracy, loss, max epoch, max iteration; values as 0-d tensors as in ppe). Chainer's
``patients`` alias is not kept. Added: explicit modes, bad arguments, the warning for a
missing key, and a resume at every iteration that fires exactly as the uninterrupted run.
"""

import pytest
import torch

from gan_ignite.errors import UsageError
from gan_ignite.triggers import EarlyStoppingTrigger

F, T = False, True


def run(make_trainer, checkpoint, make_trigger, key, values, iter_per_epoch=1, cut=None) -> list[bool]:
    """Answers after each iteration reporting ``values[i]``; rebuilt from its state after ``cut`` of them."""
    trainer = make_trainer(iter_per_epoch)
    trigger, answers = make_trigger(), []
    for step, value in enumerate(values):
        if step == cut:
            state = checkpoint(trigger.state_dict())
            trigger = make_trigger()
            trigger.load_state_dict(state)
        trainer.updater.update()
        trainer.observation = {key: torch.tensor(value)}
        answers.append(trigger(trainer))
    return answers


ACCURACIES = [0.5, 0.5, 0.6, 0.7, 0.6, 0.4, 0.3, 0.2]
LOSSES = [100, 80, 30, 10, 20, 24, 30, 35]

# keyword arguments, monitored key, values, expected answers
CASES = [
    (dict(patience=3, check_trigger=(1, "epoch")), "main/accuracy", ACCURACIES, [F, F, F, F, F, F, T, T]),
    (dict(patience=3, check_trigger=(1, "epoch")), "main/loss", LOSSES, [F, F, F, F, F, F, T, T]),
    (dict(patience=3, max_trigger=(3, "epoch")), "main/loss", LOSSES[:3], [F, F, T]),
    (dict(patience=3, max_trigger=(3, "iteration")), "main/loss", LOSSES[:3], [F, F, T]),
    # 'accuracy' in the key picks max in auto mode; min then stops as soon as accuracy rises.
    (dict(patience=2, mode="min"), "main/accuracy", [0.5, 0.6, 0.7, 0.8], [F, F, T, T]),
    (dict(patience=2, mode="max"), "main/loss", LOSSES[:5], [F, F, T, T, T]),
    # check every 2 iterations: means 1.0, 0.9, 1.2, 1.3; a resume at 3 must keep 0.2 in the mean.
    (dict(patience=2, check_trigger=(2, "iteration")), "main/loss", [1.0, 1.0, 0.2, 1.6, 1.2, 1.2, 1.3, 1.3],
     [F, F, F, F, F, F, F, T]),
    # the max trigger fires at 3 and 6; a resume must keep its previous call too.
    (dict(patience=3, max_trigger=(3, "iteration")), "main/loss", [8, 7, 6, 5, 4, 3, 2, 1], [F, F, T, F, F, T, F, F]),
]


@pytest.mark.parametrize("kwargs, key, values, expected", CASES)
def test_firing_table(make_trainer, checkpoint, kwargs, key, values, expected):
    make = lambda: EarlyStoppingTrigger(monitor=key, **kwargs)  # noqa: E731
    assert run(make_trainer, checkpoint, make, key, values) == expected


@pytest.mark.parametrize("kwargs, key, values, expected", CASES)
def test_rebuilt_from_state_at_any_iteration_fires_as_uninterrupted(
    make_trainer, checkpoint, kwargs, key, values, expected
):
    make = lambda: EarlyStoppingTrigger(monitor=key, **kwargs)  # noqa: E731
    for cut in range(1, len(values)):
        assert run(make_trainer, checkpoint, make, key, values, cut=cut) == expected, cut


def test_state_is_plain_and_complete(make_trainer, checkpoint):
    trainer, trigger = make_trainer(2), EarlyStoppingTrigger(monitor="val/loss")
    for value in (4.0, 2.0, 3.0):
        trainer.updater.update()
        trainer.observation = {"val/loss": value}
        trigger(trainer)
    state = checkpoint(trigger.state_dict())
    assert state == {
        "count": 0,
        "best": 3.0,
        "summary": {"val/loss": {"x": 3.0, "x2": 9.0, "n": 1.0}},
        "interval_trigger": {"previous_iteration": 3, "previous_epoch_detail": 1.5},
        "max_trigger": {"previous_iteration": 3, "previous_epoch_detail": 1.5},
    }
    assert EarlyStoppingTrigger().state_dict()["best"] == float("inf")
    assert EarlyStoppingTrigger(monitor="val/accuracy").state_dict()["best"] == float("-inf")


def test_a_check_without_the_key_warns_and_keeps_the_values(make_trainer):
    trainer, trigger = make_trainer(1), EarlyStoppingTrigger(monitor="val/loss", patience=1)
    trainer.updater.update()
    trainer.observation = {"val/loss": 1.0}
    assert not trigger(trainer)  # best 1.0
    trainer.updater.update()
    trainer.observation = {"other": 0.0}  # the check at 2 sees no key
    with pytest.warns(UserWarning, match="val/loss is not in observation"):
        assert not trigger(trainer)
    trainer.updater.update()
    trainer.observation = {"val/loss": 0.5}
    assert not trigger(trainer) and trigger.best == 0.5 and trigger.count == 0


def test_training_length_and_verbose(make_trainer, capsys):
    trigger = EarlyStoppingTrigger(monitor="val/accuracy", patience=1, verbose=True, max_trigger=(7, "iteration"))
    assert trigger.get_training_length() == (7, "iteration")
    assert EarlyStoppingTrigger().get_training_length() == (100, "epoch")
    trainer = make_trainer(1)
    for value in (0.9, 0.8):
        trainer.updater.update()
        trainer.observation = {"val/accuracy": value}
        fired = trigger(trainer)
    assert fired
    assert capsys.readouterr().out == "early stopping: operator is greater\nEpoch 2: early stopping\n"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mode="best"), r"`mode` should be one of auto, min, max, but given 'best'"),
        (dict(patience=0), r"`patience` should be a positive integer, but given 0"),
        (dict(patience=1.5), r"`patience` should be a positive integer, but given 1.5"),
        (dict(max_trigger=None), r"`max_trigger` should be a \(period, 'epoch' \| 'iteration'\) tuple, but given None"),
        (dict(max_trigger=(0, "epoch")), r"`period` should be a positive number of epochs, but given 0"),
        (dict(check_trigger=(1, "epochs")), r"`unit` should be one of epoch, iteration, but given 'epochs'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(UsageError, match=message):
        EarlyStoppingTrigger(**kwargs)


def test_a_monitored_value_that_is_not_a_scalar_is_one_clear_error(make_trainer):
    trainer = make_trainer(iter_per_epoch=1)
    trigger = EarlyStoppingTrigger(monitor="c", check_trigger=(1, "iteration"))
    trainer.updater.update()
    trainer.observation = {"c": torch.tensor([1.5])}
    with pytest.raises(UsageError, match=r"^Argument `monitor` should name a scalar observation, but 'c' is Tensor "
                                         r"of shape \(1,\)$"):
        trigger(trainer)
