"""Hyperparameter shifts: Chainer's value tables, resume, GAN optimizers, and a real trainer run."""

from __future__ import annotations

import pytest
import torch

from gan_ignite.errors import UsageError
from gan_ignite.extensions.shifts import ExponentialShift, LinearShift, MultistepShift, Shift, WarmupShift
from gan_ignite.trainer import Trainer
from gan_ignite.triggers import IntervalTrigger
from tests.fakes import FakeTrainer, round_trip


def sgd(lr=0.0, groups=1):
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in range(groups)]
    return torch.optim.SGD([{"params": [p]} for p in params], lr=lr)


def lr_of(opt, group=0):
    return opt.param_groups[group]["lr"]


def run_table(extension, opt, n, interval, trainer=None):
    """Chainer's loop: the value each of ``n`` iterations trains with; a call every ``interval``."""
    trainer = trainer or FakeTrainer(optimizers={"main": opt})
    trigger = IntervalTrigger(interval, "iteration")
    extension.initialize(trainer)
    actual = []
    for _ in range(n):
        trainer.advance()
        actual.append(lr_of(opt))
        if trigger(trainer):
            extension(trainer)
    return actual


# -- ExponentialShift ------------------------------------------------------------------
EXPONENTIAL = [  # Chainer's test table: init, rate, target, the value for each 4 iterations
    (2.0, 0.5, None, [2.0, 1.0, 0.5]),
    (2.0, 0.5, 1.2, [2.0, 1.2, 1.2]),
    (-2.0, 0.5, -1.2, [-2.0, -1.2, -1.2]),
    (2.0, 2.0, None, [2.0, 4.0, 8.0]),
    (2.0, 2.0, 3.0, [2.0, 3.0, 3.0]),
    (-2.0, 2.0, -3.0, [-2.0, -3.0, -3.0]),
]


@pytest.mark.parametrize("init, rate, target, expect", EXPONENTIAL)
def test_exponential_shift_chainer_table(init, rate, target, expect):
    opt = sgd(0.0)
    ext = ExponentialShift("lr", rate, init=init, target=target, optimizer=opt)
    assert run_table(ext, opt, 12, 4) == [e for e in expect for _ in range(4)]


@pytest.mark.parametrize("init, rate, target, expect", EXPONENTIAL)
def test_exponential_shift_without_init_reads_the_optimizer(init, rate, target, expect):
    opt = sgd(0.0)
    opt.param_groups[0]["lr"] = init
    ext = ExponentialShift("lr", rate, target=target)  # the trainer's only optimizer
    assert run_table(ext, opt, 12, 4) == [e for e in expect for _ in range(4)]


@pytest.mark.parametrize("init, rate, target, expect", EXPONENTIAL)
def test_exponential_shift_resume_continues_exactly(init, rate, target, expect):
    opt = sgd(0.0)
    ext = ExponentialShift("lr", rate, init=init, target=target, optimizer=opt)
    run_table(ext, opt, 5, 1)  # five calls: init * rate**5, clipped
    state = round_trip(ext.state_dict())

    new_opt = sgd(0.0)
    new_ext = ExponentialShift("lr", rate, init=init, target=target, optimizer=new_opt)
    new_ext.load_state_dict(state)
    new_ext.initialize(FakeTrainer())
    assert lr_of(new_opt) == lr_of(opt)
    assert isinstance(lr_of(new_opt), float)
    for _ in range(3):
        ext(FakeTrainer())
        new_ext(FakeTrainer())
        assert lr_of(new_opt) == lr_of(opt)


def test_exponential_shift_resume_keeps_the_start_read_from_the_optimizer():
    # Chainer re-reads `init` from the already decayed optimizer after a resume; the start is saved here.
    opt = sgd(0.8)
    ext = ExponentialShift("lr", 0.5)
    trainer = FakeTrainer(optimizers={"gen": opt})
    ext.initialize(trainer)
    ext(trainer), ext(trainer)
    assert lr_of(opt) == 0.2
    new_opt = sgd(0.2)  # the optimizer as a checkpoint restores it
    new_ext = ExponentialShift("lr", 0.5)
    new_ext.load_state_dict(round_trip(ext.state_dict()))
    new_trainer = FakeTrainer(optimizers={"gen": new_opt})
    new_ext.initialize(new_trainer)
    new_ext(new_trainer)
    assert lr_of(new_opt) == 0.1  # 0.8 * 0.5**3, not 0.2 * 0.5**3


def test_exponential_shift_decays_both_gan_optimizers_from_their_own_rates():
    opt_gen, opt_dis = sgd(2e-4), sgd(1e-4)
    trainer = FakeTrainer(optimizers={"gen": opt_gen, "dis": opt_dis})
    ext = ExponentialShift("lr", 0.5)
    ext.initialize(trainer)
    assert (lr_of(opt_gen), lr_of(opt_dis)) == (2e-4, 1e-4)
    ext(trainer)
    assert (lr_of(opt_gen), lr_of(opt_dis)) == (1e-4, 5e-5)
    ext(trainer)
    assert (lr_of(opt_gen), lr_of(opt_dis)) == (5e-5, 2.5e-5)
    assert ext.last_values == [[5e-5], [2.5e-5]] and ext.t == 2


def test_shift_by_optimizer_name_leaves_the_other_alone():
    opt_gen, opt_dis = sgd(0.1), sgd(0.1)
    trainer = FakeTrainer(optimizers={"gen": opt_gen, "dis": opt_dis})
    ext = ExponentialShift("lr", 0.5, optimizer="dis")
    ext.initialize(trainer)
    ext(trainer)
    assert (lr_of(opt_gen), lr_of(opt_dis)) == (0.1, 0.05)


def test_shift_sets_every_param_group():
    opt = sgd(0.0, groups=2)
    opt.param_groups[0]["lr"], opt.param_groups[1]["lr"] = 0.4, 0.2
    trainer = FakeTrainer(optimizers={"gen": opt})
    own = ExponentialShift("lr", 0.5)  # each group from its own value
    own.initialize(trainer)
    own(trainer)
    assert (lr_of(opt, 0), lr_of(opt, 1)) == (0.2, 0.1)
    shared = ExponentialShift("lr", 0.5, init=1.0)  # one value for all, as Chainer's single attribute
    shared.initialize(trainer)
    assert (lr_of(opt, 0), lr_of(opt, 1)) == (1.0, 1.0)
    shared(trainer)
    assert (lr_of(opt, 0), lr_of(opt, 1)) == (0.5, 0.5)


def test_shift_sets_a_tensor_learning_rate_in_place():
    param = torch.nn.Parameter(torch.zeros(2))
    lr = torch.tensor(0.1)
    opt = torch.optim.Adam([param], lr=lr, foreach=False)
    ext = ExponentialShift("lr", 0.5)
    trainer = FakeTrainer(optimizers={"gen": opt})
    ext.initialize(trainer)
    ext(trainer)
    assert opt.param_groups[0]["lr"] is lr and lr.item() == pytest.approx(0.05)


def test_shift_of_another_hyperparameter():
    param = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([param], lr=0.1, momentum=0.5)
    ext = LinearShift("momentum", (0.5, 0.9), (0, 4), optimizer=opt)
    assert run_table(ext, opt, 1, 1) == [0.1]
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.6)


# -- LinearShift -----------------------------------------------------------------------
def test_linear_shift_chainer_table():
    opt = sgd(0.0)
    ext = LinearShift("lr", (2.0, 6.0), (1, 3))
    assert run_table(ext, opt, 10, 2) == [2.0, 2.0, 2.0, 2.0, 4.0, 4.0, 6.0, 6.0, 6.0, 6.0]


def test_linear_shift_with_optimizer_and_resume():
    opt = sgd(0.0)
    ext = LinearShift("lr", (2.0, 6.0), (1, 3), opt)
    run_table(ext, opt, 4, 2, FakeTrainer())  # two calls: 4.0
    new_opt = sgd(0.0)
    new_ext = LinearShift("lr", (2.0, 6.0), (1, 3), new_opt)
    new_ext.load_state_dict(round_trip(ext.state_dict()))
    new_ext.initialize(FakeTrainer())
    assert lr_of(new_opt) == lr_of(opt) == 4.0
    assert isinstance(lr_of(new_opt), float)
    new_ext(FakeTrainer())
    assert lr_of(new_opt) == 6.0


# -- MultistepShift --------------------------------------------------------------------
@pytest.mark.parametrize("init, gamma, expect", [  # Chainer's table, steps [1, 3, 5], a call every iteration
    (2.0, 0.1, [2.0, 0.2, 0.2, 0.02, 0.02, 0.002]),
    (-2.0, 0.1, [-2.0, -0.2, -0.2, -0.02, -0.02, -0.002]),
    (2.0, 2, [2.0, 4.0, 4.0, 8.0, 8.0, 16.0]),
    (-2.0, 2, [-2.0, -4.0, -4.0, -8.0, -8.0, -16.0]),
])
@pytest.mark.parametrize("from_optimizer", [False, True])
def test_multistep_shift_chainer_table(init, gamma, expect, from_optimizer):
    opt = sgd(0.0)
    if from_optimizer:
        opt.param_groups[0]["lr"] = init
    ext = MultistepShift("lr", gamma, [1, 3, 5], None if from_optimizer else init, opt)
    torch.testing.assert_close(run_table(ext, opt, 6, 1), expect)


def test_multistep_shift_resume():
    opt = sgd(0.0)
    ext = MultistepShift("lr", 0.1, [1, 3, 5], 2.0, opt)
    run_table(ext, opt, 3, 1)  # three calls: 2.0 * 0.1**2
    new_opt = sgd(0.0)
    new_ext = MultistepShift("lr", 0.1, [1, 3, 5], 2.0, new_opt)
    new_ext.load_state_dict(round_trip(ext.state_dict()))
    new_ext.initialize(FakeTrainer())
    assert lr_of(new_opt) == pytest.approx(0.02)  # Chainer's initialize would set 2.0 here
    new_ext(FakeTrainer()), new_ext(FakeTrainer())
    assert lr_of(new_opt) == pytest.approx(0.002)


# -- WarmupShift -----------------------------------------------------------------------
@pytest.mark.parametrize("init, warmup_start, warmup_iter, expect", [  # Chainer's table
    (1, 0.1, 100, [0.1, 0.991, 1, 1]),
    (0.1, 1, 10, [1, 0.19, 0.1, 0.1]),
    (1, -1, 10, [-1, 0.8, 1, 1]),
    (1, -1, 2, [-1, 0, 1, 1]),
    (0.1, 1, 2, [1, 0.55, 0.1, 0.1]),
])
@pytest.mark.parametrize("from_optimizer", [False, True])
def test_warmup_shift_chainer_table(init, warmup_start, warmup_iter, expect, from_optimizer):
    opt = sgd(0.0)
    if from_optimizer:
        opt.param_groups[0]["lr"] = warmup_start
    ext = WarmupShift("lr", None if from_optimizer else warmup_start, warmup_iter, init, opt)
    actual = run_table(ext, opt, warmup_iter + 2, 1)
    picked = [actual[0], actual[warmup_iter - 1], actual[warmup_iter], actual[warmup_iter + 1]]
    torch.testing.assert_close(picked, [float(e) for e in expect])


def test_warmup_shift_leaves_the_value_alone_once_warmed_up():
    opt = sgd(0.0)
    ext = WarmupShift("lr", 0.0, 2, 1.0, opt)
    assert run_table(ext, opt, 3, 1) == [0.0, 0.5, 1.0]
    opt.param_groups[0]["lr"] = 0.3  # another schedule takes over
    ext(FakeTrainer())
    assert lr_of(opt) == 0.3


def test_warmup_shift_resume_mid_warmup():
    opt = sgd(0.0)
    ext = WarmupShift("lr", 0.0, 4, 1.0, opt)
    run_table(ext, opt, 1, 1)
    new_opt = sgd(0.0)
    new_ext = WarmupShift("lr", 0.0, 4, 1.0, new_opt)
    new_ext.load_state_dict(round_trip(ext.state_dict()))
    new_ext.initialize(FakeTrainer())
    assert lr_of(new_opt) == 0.25
    new_ext(FakeTrainer())
    assert lr_of(new_opt) == 0.5


# -- arguments -------------------------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda: ExponentialShift("lr", -1), r"Argument `rate` should be positive, but given -1"),
    (lambda: ExponentialShift("lr", 0.5, target=0), r"Argument `target` should be a non-zero number"),
    (lambda: ExponentialShift("lr", 0.5, optimizer=3), r"Argument `optimizer` should be a torch Optimizer"),
    (lambda: ExponentialShift(1, 0.5), r"Argument `attr` should be a hyperparameter name"),
    (lambda: LinearShift("lr", (1.0,), (0, 1)), r"Argument `value_range` should be a pair of numbers"),
    (lambda: LinearShift("lr", (1.0, 2.0), (3, 1)), r"Argument `time_range` should be a pair of integers"),
    (lambda: MultistepShift("lr", 0.1, [3, 1], 1.0), r"Argument `step_value` should be increasing"),
    (lambda: MultistepShift("lr", 0.1, [0, 1], 1.0), r"Argument `step_value` should be increasing positive"),
    (lambda: WarmupShift("lr", 0.0, 0, 1.0), r"Argument `warmup_iter` should be a positive integer, but given 0"),
])
def test_bad_arguments(make, message):
    with pytest.raises(UsageError, match=message):
        make()


def test_bad_targets_fail_at_initialize():
    trainer = FakeTrainer(optimizers={"gen": sgd(0.1), "dis": sgd(0.1)})
    with pytest.raises(UsageError, match=r"one of the trainer's optimizers 'gen', 'dis', but given 'main'"):
        ExponentialShift("lr", 0.5, optimizer="main").initialize(trainer)
    with pytest.raises(UsageError, match=r"hyperparameter of the optimizer \(.*'lr'.*\), but given 'x'"):
        ExponentialShift("x", 0.5).initialize(trainer)
    with pytest.raises(UsageError, match=r"The trainer has no optimizers"):
        ExponentialShift("lr", 0.5).initialize(FakeTrainer())


def test_resume_with_other_optimizers_is_refused():
    ext = ExponentialShift("lr", 0.5)
    ext.initialize(FakeTrainer(optimizers={"gen": sgd(0.1)}))
    new_ext = ExponentialShift("lr", 0.5)
    new_ext.load_state_dict(round_trip(ext.state_dict()))
    with pytest.raises(UsageError, match=r"saved for optimizers with \[1\] param groups, but .* now have \[1, 1\]"):
        new_ext.initialize(FakeTrainer(optimizers={"gen": sgd(0.1), "dis": sgd(0.1)}))


def test_a_shift_of_ones_own():
    class Halving(Shift):
        def value(self, t, start):
            return start / 2**t

    opt = sgd(1.0)
    assert run_table(Halving("lr", opt), opt, 3, 1) == [1.0, 0.5, 0.25]


# -- with the real trainer -------------------------------------------------------------
def make_gan_trainer(tmp_path, n_epochs, seen):
    """A trainer with two SGD optimizers whose update records the learning rates it trains with."""
    gen, dis = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)
    opt_gen, opt_dis = torch.optim.SGD(gen.parameters(), lr=0.4), torch.optim.SGD(dis.parameters(), lr=0.2)

    def update(engine, batch):
        seen.append((lr_of(opt_gen), lr_of(opt_dis)))
        for opt in (opt_gen, opt_dis):
            opt.zero_grad()
        (gen(batch).sum() + dis(batch).sum()).backward()
        opt_gen.step(), opt_dis.step()
        return {}

    loader = [torch.ones(1, 1)] * 2
    return Trainer(update, loader, stop_trigger=(n_epochs, "epoch"), out=tmp_path,
                   models={"gen": gen, "dis": dis}, optimizers={"gen": opt_gen, "dis": opt_dis})


def test_exponential_shift_per_epoch_in_a_trainer_and_its_resume(tmp_path):
    seen = []
    trainer = make_gan_trainer(tmp_path, 2, seen)
    trainer.extend(ExponentialShift("lr", 0.5), trigger=(1, "epoch"))
    trainer.run()
    assert seen == [(0.4, 0.2), (0.4, 0.2), (0.2, 0.1), (0.2, 0.1)]

    resumed_seen = []
    resumed = make_gan_trainer(tmp_path, 3, resumed_seen)  # fresh optimizers at 0.4 and 0.2
    resumed.extend(ExponentialShift("lr", 0.5), trigger=(1, "epoch"))
    resumed.load_state_dict(round_trip(trainer.state_dict()))
    resumed.run()
    assert resumed_seen == [(0.1, 0.05), (0.1, 0.05)]  # the decay after epoch 2 holds for epoch 3


def test_a_finished_warm_up_does_not_put_its_value_back_over_the_next_shift(tmp_path):
    """WarmupShift hands over to a MultistepShift after 3 iterations; killed at iteration 6 and
    resumed, the learning rate must be the multistep's."""

    def run(stop, state=None):
        opt = sgd(1.0)
        trainer = Trainer(lambda engine, batch: {}, [0] * 4, stop_trigger=(stop, "iteration"), out=tmp_path,
                          optimizers={"main": opt})
        # The multistep first: in initialize, the warm-up's would come last and win.
        trainer.extend(MultistepShift("lr", 0.1, [1], 1.0), trigger=(4, "iteration"))
        trainer.extend(WarmupShift("lr", 0.1, 3, 1.0))
        seen = []
        trainer.extend(lambda t: seen.append(round(lr_of(opt), 6)), name="probe", priority=400)
        if state is not None:
            trainer.load_state_dict(round_trip(state))
        trainer.run()
        return seen, trainer.state_dict()

    whole, _ = run(8)
    first, state = run(6)
    rest, _ = run(8, state)
    assert first + rest == whole
    assert whole[-2:] == [0.1, 0.1]
