"""LRScheduler: pytorch-pfn-extras' cases, Ignite's schedulers against their own tables, resume."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest
import torch
from ignite.handlers import LinearCyclicalScheduler, PiecewiseLinear
from ignite.handlers import LRScheduler as IgniteLRScheduler
from torch.optim.lr_scheduler import MultiStepLR, ReduceLROnPlateau, StepLR

from gan_ignite.errors import UsageError
from gan_ignite.extensions.lr_scheduler import LRScheduler
from gan_ignite.trainer import Trainer
from tests.fakes import round_trip


class FakeTrainer:
    """What LRScheduler reads: the observation, the iteration, the engine for Ignite's schedulers."""

    def __init__(self):
        self.iteration = 0
        self.observation = {}
        self.engine = SimpleNamespace(state=SimpleNamespace())


def sgd(lr=1.0):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(10))], lr)


def lr_of(opt):
    return opt.param_groups[0]["lr"]


def run(ext, opt, n, trainer=None, observe=None, step_optimizer=True):
    """The learning rate each of ``n`` iterations trains with, the extension called after each."""
    trainer = trainer or FakeTrainer()
    seen = []
    for _ in range(n):
        trainer.iteration += 1
        seen.append(lr_of(opt))
        if step_optimizer:
            opt.step()
        trainer.observation = dict(observe or {})
        ext(trainer)
    return seen


def test_multistep_lr_ppe_table():
    opt = sgd()
    ext = LRScheduler(MultiStepLR(opt, milestones=[1, 2, 3], gamma=0.1), trigger=(1, "iteration"))
    ext.initialize(FakeTrainer())
    torch.testing.assert_close(run(ext, opt, 4), [1.0, 1e-1, 1e-2, 1e-3])


def test_serialize_scheduler_ppe_case():
    opt = sgd()
    ext = LRScheduler(MultiStepLR(opt, milestones=[1, 2, 3], gamma=0.1), trigger=(1, "iteration"))
    ext.initialize(FakeTrainer())
    torch.testing.assert_close(run(ext, opt, 2), [1.0, 1e-1])
    state = round_trip(ext.state_dict())

    new_opt = sgd()  # not restored: the extension puts its last value back
    new_ext = LRScheduler(MultiStepLR(new_opt, milestones=[1, 2, 3], gamma=0.1), trigger=(1, "iteration"))
    new_ext.load_state_dict(state)
    new_ext.initialize(FakeTrainer())
    torch.testing.assert_close(run(new_ext, new_opt, 2), [1e-2, 1e-3])


def test_loads_a_ppe_state_without_last_values():
    opt = sgd()
    sched = StepLR(opt, step_size=1, gamma=0.5)
    ext = LRScheduler(sched)
    ext.initialize(FakeTrainer())
    run(ext, opt, 1)
    new_ext = LRScheduler(StepLR(sgd(), step_size=1, gamma=0.5))
    new_ext.load_state_dict({"scheduler": sched.state_dict()})
    assert new_ext.scheduler.last_epoch == 1


def test_reduce_lr_on_plateau_steps_by_val_loss():
    opt = sgd()
    ext = LRScheduler(ReduceLROnPlateau(opt, patience=1), trigger=(1, "iteration"))
    ext.initialize(FakeTrainer())
    # best 1.0 at the first call; the third without improvement exceeds patience 1.
    assert run(ext, opt, 5, observe={"val/loss": 1.0}) == [1.0, 1.0, 1.0, 0.1, 0.1]


def test_reduce_lr_on_plateau_by_another_key_and_tensor_values():
    opt = sgd()
    ext = LRScheduler(ReduceLROnPlateau(opt, patience=0), stepper=LRScheduler.step_by_value("dis/loss"))
    ext.initialize(FakeTrainer())
    assert run(ext, opt, 3, observe={"dis/loss": torch.tensor(2.0)}) == [1.0, 1.0, 0.1]


def test_reduce_lr_on_plateau_without_the_key_names_it():
    ext = LRScheduler(ReduceLROnPlateau(sgd(), patience=1))
    trainer = FakeTrainer()
    trainer.iteration = 3
    trainer.observation = {"gen/loss": 1.0}
    with pytest.raises(UsageError, match=r"by the observation 'val/loss', .* at iteration 3 \('gen/loss'\)"):
        ext(trainer)


def test_wait_for_first_optimizer_step():
    opt = sgd()
    stepper = MagicMock()
    ext = LRScheduler(MultiStepLR(opt, milestones=[1, 2, 3]), stepper=stepper,
                      wait_for_first_optimizer_step=True, trigger=(1, "iteration"))
    run(ext, opt, 4, step_optimizer=False)
    assert stepper.call_count == 0
    run(ext, opt, 4)
    assert stepper.call_count == 4
    run(ext, opt, 4, step_optimizer=False)
    assert stepper.call_count == 8


def test_wait_for_first_optimizer_step_with_another_scheduler():
    sched = MagicMock()
    sched.optimizer = sgd()
    stepper = MagicMock()
    ext = LRScheduler(sched, stepper=stepper, wait_for_first_optimizer_step=True, trigger=(1, "iteration"))
    run(ext, sgd(), 4, step_optimizer=False)
    assert stepper.call_count == 4


# -- Ignite's schedulers ---------------------------------------------------------------
def test_ignite_piecewise_linear_table():
    opt = sgd()
    sched = PiecewiseLinear(opt, "lr", milestones_values=[(0, 1.0), (4, 0.2)])
    ext = LRScheduler(sched, trigger=(1, "iteration"))
    ext.initialize(FakeTrainer())  # sets the first value, as Ignite's ITERATION_STARTED would
    torch.testing.assert_close(run(ext, opt, 6), [1.0, 0.8, 0.6, 0.4, 0.2, 0.2])


def test_ignite_cyclical_matches_its_own_simulation():
    opt = sgd()
    kwargs = dict(param_name="lr", start_value=0.1, end_value=1.0, cycle_size=6)
    expect = [value for _, value in LinearCyclicalScheduler.simulate_values(num_events=10, optimizer=sgd(), **kwargs)]
    ext = LRScheduler(LinearCyclicalScheduler(opt, **kwargs), trigger=(1, "iteration"))
    ext.initialize(FakeTrainer())
    torch.testing.assert_close(run(ext, opt, 10), expect)
    assert expect[:4] == pytest.approx([0.1, 0.4, 0.7, 1.0])


def test_ignite_lr_scheduler_wrapper_table():
    # Ignite's documented table for StepLR(step_size=3, gamma=0.1) from 0.1, attached at ITERATION_STARTED.
    opt = sgd(0.1)
    ext = LRScheduler(IgniteLRScheduler(StepLR(opt, step_size=3, gamma=0.1)), trigger=(1, "iteration"))
    ext.initialize(FakeTrainer())
    torch.testing.assert_close(run(ext, opt, 8), [0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001])


def test_ignite_scheduler_resume_continues_exactly():
    def make(opt):
        return LRScheduler(PiecewiseLinear(opt, "lr", milestones_values=[(0, 1.0), (4, 0.2)]), trigger=(1, "iteration"))

    opt = sgd()
    ext = make(opt)
    ext.initialize(FakeTrainer())
    assert run(ext, opt, 2) == pytest.approx([1.0, 0.8])
    new_opt = sgd(123.0)
    new_ext = make(new_opt)
    new_ext.load_state_dict(round_trip(ext.state_dict()))
    new_ext.initialize(FakeTrainer())  # no extra first call on resume: the saved last value
    torch.testing.assert_close(run(new_ext, new_opt, 4), [0.6, 0.4, 0.2, 0.2])


def test_bad_arguments():
    with pytest.raises(UsageError, match=r"Argument `scheduler` should be a torch.optim.lr_scheduler scheduler or an "
                                         r"Ignite parameter scheduler, but given str"):
        LRScheduler("StepLR")
    with pytest.raises(UsageError, match=r"Argument `stepper` should be a function"):
        LRScheduler(StepLR(sgd(), 1), stepper=3)
    with pytest.raises(UsageError, match=r"Argument `period` should be a positive number of epochs, but given 0"):
        LRScheduler(StepLR(sgd(), 1), trigger=(0, "epoch"))


# -- with the real trainer -------------------------------------------------------------
def make_trainer(tmp_path, n_epochs, seen):
    gen = torch.nn.Linear(1, 1)
    opt_gen = torch.optim.SGD(gen.parameters(), lr=1.0)

    def update(engine, batch):
        seen.append(lr_of(opt_gen))
        opt_gen.zero_grad()
        gen(batch).sum().backward()
        opt_gen.step()
        return {"val/loss": 1.0}

    trainer = Trainer(update, [torch.ones(1, 1)] * 3, stop_trigger=(n_epochs, "epoch"), out=tmp_path,
                      models={"gen": gen}, optimizers={"gen": opt_gen})
    return trainer, opt_gen


def test_step_lr_per_epoch_in_a_trainer_and_its_resume(tmp_path):
    seen = []
    trainer, opt = make_trainer(tmp_path, 2, seen)
    trainer.extend(LRScheduler(StepLR(opt, step_size=1, gamma=0.5)))
    trainer.run()
    assert seen == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5]

    resumed_seen = []
    resumed, new_opt = make_trainer(tmp_path, 3, resumed_seen)
    resumed.extend(LRScheduler(StepLR(new_opt, step_size=1, gamma=0.5)))
    resumed.load_state_dict(round_trip(trainer.state_dict()))
    resumed.run()
    assert resumed_seen == [0.25, 0.25, 0.25]


def test_ignite_scheduler_per_iteration_in_a_trainer(tmp_path):
    seen = []
    trainer, opt = make_trainer(tmp_path, 1, seen)
    trainer.extend(LRScheduler(PiecewiseLinear(opt, "lr", milestones_values=[(0, 0.9), (2, 0.1)]),
                               trigger=(1, "iteration")))
    trainer.run()
    assert seen == pytest.approx([0.9, 0.5, 0.1])
