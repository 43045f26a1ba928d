"""observe_value and observe_lr: what they record, when, under which name."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from gan_ignite.errors import UsageError
from gan_ignite.extensions.extension import PRIORITY_WRITER
from gan_ignite.extensions.observation import observe_lr, observe_value
from gan_ignite.extensions.shifts import ExponentialShift
from gan_ignite.trainer import Trainer


def fake_trainer(**optimizers):
    return SimpleNamespace(observation={}, optimizers=optimizers, iteration=7)


def adam(lr):
    return torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_observe_value_records_the_function_of_the_trainer():
    ext = observe_value("iteration_squared", lambda trainer: trainer.iteration**2)
    trainer = fake_trainer()
    ext(trainer)
    assert trainer.observation == {"iteration_squared": 49}
    assert (ext.trigger, ext.priority, ext.default_name) == ((1, "epoch"), PRIORITY_WRITER, "observe_iteration_squared")


def test_observe_lr_by_name_and_by_optimizer():
    opt_gen, opt_dis = adam(0.01), adam(0.002)
    trainer = fake_trainer(gen=opt_gen, dis=opt_dis)
    observe_lr()(trainer)
    observe_lr("dis", "dis/lr")(trainer)
    observe_lr(opt_gen, "gen/lr")(trainer)
    assert trainer.observation == {"lr": 0.01, "dis/lr": 0.002, "gen/lr": 0.01}
    assert observe_lr().trigger == (1, "iteration")


def test_observe_lr_of_a_param_group():
    opt = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))]},
                           {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.5}], lr=0.1)
    trainer = fake_trainer(gen=opt)
    observe_lr(param_group=1)(trainer)
    assert trainer.observation == {"lr": 0.5}
    with pytest.raises(UsageError, match=r"Argument `param_group` should be below the optimizer's 2 param groups, "
                                         r"but given 2"):
        observe_lr(param_group=2).initialize(trainer)


def test_observe_lr_checks_the_name_before_training():
    with pytest.raises(UsageError, match=r"one of the trainer's optimizers 'dis', but given 'gen'"):
        observe_lr().initialize(fake_trainer(dis=adam(0.1)))


@pytest.mark.parametrize("make, message", [
    (lambda: observe_value("", lambda t: 1), r"Argument `observation_key` should be a non-empty string"),
    (lambda: observe_value("x", 3), r"Argument `target_func` should be a function of the trainer, but given 3"),
    (lambda: observe_value("x", len, trigger=(1, "day")), r"Argument `unit` should be one of epoch, iteration"),
    (lambda: observe_lr(None), r"Argument `optimizer` should be an optimizer name such as 'gen' or a torch Optimizer"),
    (lambda: observe_lr(param_group=-1), r"Argument `param_group` should be a non-negative integer, but given -1"),
])
def test_bad_arguments(make, message):
    with pytest.raises(UsageError, match=message):
        make()


def test_observed_learning_rate_in_a_trainer_with_a_shift(tmp_path):
    gen = torch.nn.Linear(1, 1)
    opt_gen = torch.optim.SGD(gen.parameters(), lr=0.8)
    observed = []

    def update(engine, batch):
        return {"gen/loss": 0.0}

    trainer = Trainer(update, [0, 0], stop_trigger=(2, "epoch"), out=tmp_path,
                      models={"gen": gen}, optimizers={"gen": opt_gen})
    trainer.extend(ExponentialShift("lr", 0.5), trigger=(1, "epoch"))
    trainer.extend(observe_lr("gen", "gen/lr"))
    trainer.extend(observe_value("epoch_detail", lambda t: t.epoch_detail), trigger=(1, "iteration"))
    trainer.extend(lambda t: observed.append(dict(t.observation)), name="spy", priority=0)
    trainer.run()
    # A writer runs before the shift (a reader) of the same iteration: each iteration's own rate.
    assert observed == [
        {"gen/loss": 0.0, "gen/lr": 0.8, "epoch_detail": 0.5},
        {"gen/loss": 0.0, "gen/lr": 0.8, "epoch_detail": 1.0},
        {"gen/loss": 0.0, "gen/lr": 0.4, "epoch_detail": 1.5},
        {"gen/loss": 0.0, "gen/lr": 0.4, "epoch_detail": 2.0},
    ]
