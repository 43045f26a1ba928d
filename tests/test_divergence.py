"""DivergenceCheck: NaN/inf stops the run before anything of it is saved; warnings once per stretch.

FiniteGuard and TrainingHealth on their own: tests/extensions/test_finite_guard.py and
tests/extensions/test_training_health.py.
"""

import hashlib
import io
import json
import logging
import math
import re
import subprocess
import sys

import pytest
import torch
from torch import nn

from experiments import gan_mnist
from gan_ignite import extensions as E
from gan_ignite.cli import run_experiment
from gan_ignite.config import parse_config
from gan_ignite.errors import DivergenceError, UsageError, one_line
from gan_ignite.extensions.divergence import reports_probabilities, rms_pairwise_distance
from gan_ignite.losses import (
    EBGANLoss,
    FeatureMatching,
    HingeLoss,
    LSGANLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    SemiSupervisedLoss,
    WGANGPLoss,
)
from gan_ignite.models import MLPDiscriminator, MLPGenerator
from gan_ignite.recipes import dataset_from_config, dcgan_models, gan_trainer
from gan_ignite.trainer import Trainer
from gan_ignite.updaters import make_gan_step
from tests.conftest import PROJECT_ROOT

SMALL = ["--limit", "64", "--batch-size", "16", "--image-size", "16", "--feature-maps", "8", "--z-dim", "8",
         "--n-samples", "4", "--no-progress"]


def read_log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def fingerprint(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


# -- the diversity measure -------------------------------------------------------------


def test_rms_pairwise_distance_equals_the_brute_force_mean_over_distinct_pairs():
    images = torch.randn(7, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    flat = images.flatten(1).double()
    squared = torch.cdist(flat, flat).square()
    n = len(flat)
    expected = (squared.sum() / (n * (n - 1))).sqrt()  # the diagonal is 0
    torch.testing.assert_close(rms_pairwise_distance(images), expected)
    assert rms_pairwise_distance(images[:1].expand(5, -1, -1, -1)) == 0  # identical samples


@pytest.mark.parametrize(
    "loss, expected",
    [
        (NonSaturatingLoss(), True), (MinimaxLoss(), True), (SemiSupervisedLoss(3), True),
        (FeatureMatching(NonSaturatingLoss()), True), (LSGANLoss(), False), (HingeLoss(), False),
        (WGANGPLoss(), False), (EBGANLoss(), False), (FeatureMatching(HingeLoss()), False), (None, False),
    ],
)
def test_the_dis_wins_check_applies_where_d_outputs_are_probabilities(loss, expected):
    assert reports_probabilities(loss) is expected


# -- NaN and inf -----------------------------------------------------------------------


def scripted(values):
    """An update function observing ``values[iteration - 1]`` (a dict)."""
    return lambda engine, batch: dict(values[engine.state.iteration - 1])


def test_nan_stops_the_run_before_writers_and_names_key_and_iteration(tmp_path):
    values = [{"dis/loss": 1.0, "gen/loss": 0.5}] * 2 + [{"dis/loss": 1.0, "gen/loss": math.nan}] * 2
    trainer = Trainer(scripted(values), [0, 1], stop_trigger=(2, "epoch"), out=tmp_path)
    trainer.extend(E.DivergenceCheck())
    written = []
    trainer.extend(E.make_extension(trigger=(1, "iteration"), priority=E.PRIORITY_WRITER, name="writer")(
        lambda t: written.append(t.engine.state.iteration)))
    with pytest.raises(DivergenceError) as info:
        trainer.run()
    assert str(info.value) == (
        "gen/loss became nan at iteration 3 (epoch 2); no checkpoint was written before it; "
        "lower the learning rate (--lr) or change the seed (--seed), and start again (--force)"
    )
    assert written == [1, 2]  # the check ran first at iteration 3: no writer saw the NaN


def test_every_non_finite_key_is_named_with_its_kind_and_the_latest_checkpoint(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    for it in (2, 10):
        (tmp_path / "checkpoints" / f"checkpoint_{it}.pt").write_bytes(b"")
    values = [{"dis/loss": math.inf, "dis/real": 0.5, "gen/loss": -math.inf}]
    trainer = Trainer(scripted(values), [0], stop_trigger=(1, "epoch"), out=tmp_path)
    trainer.extend(E.DivergenceCheck(hint="try again"))
    checkpoint = tmp_path / "checkpoints" / "checkpoint_10.pt"
    with pytest.raises(DivergenceError, match=(
        rf"^dis/loss became inf and gen/loss became -inf at iteration 1 \(epoch 1\); "
        rf"the last good checkpoint is {checkpoint}; try again$"
    )):
        trainer.run()


class Step:
    """A finite observation; at ``iteration`` it writes ``value`` into one weight of ``gen``."""

    def __init__(self, iteration, tensor_name, value):
        self.gen = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
        self.models = {"gen": self.gen}  # what trainer.models shows, and the check reads
        self.iteration, self.tensor_name, self.value = iteration, tensor_name, value

    def __call__(self, engine, batch):
        if engine.state.iteration == self.iteration:
            tensor = dict(self.gen.state_dict(keep_vars=True))[self.tensor_name]
            with torch.no_grad():
                tensor.view(-1)[1] = self.value
        return {"dis/loss": 1.0}


@pytest.mark.parametrize("tensor_name, value, kind",
                         [("0.weight", math.inf, "inf"), ("1.running_var", math.nan, "nan")])
def test_a_non_finite_weight_or_buffer_stops_the_run_though_the_losses_are_finite(tmp_path, tensor_name, value, kind):
    trainer = Trainer(Step(3, tensor_name, value), [0, 1, 2, 3], stop_trigger=(1, "epoch"), out=tmp_path)
    trainer.extend(E.DivergenceCheck(interval=(3, "iteration")))  # weights are checked at the interval's end
    with pytest.raises(DivergenceError, match=rf"^the weight gen\.{tensor_name} became {kind} at iteration 3 "):
        trainer.run()


def test_weights_are_not_checked_when_turned_off(tmp_path):
    trainer = Trainer(Step(3, "0.weight", math.inf), [0, 1, 2, 3], stop_trigger=(1, "epoch"), out=tmp_path)
    trainer.extend(E.DivergenceCheck(check_weights=False))
    trainer.run()
    assert trainer.engine.state.iteration == 4


def test_ignite_does_not_echo_a_divergence_error_but_still_logs_other_errors(tmp_path, caplog):
    def run(error):
        def fail(engine, batch):
            if error is not None:
                raise error
            return {"gen/loss": math.nan}

        trainer = Trainer(fail, [0], out=tmp_path)
        trainer.extend(E.DivergenceCheck())
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="ignite"), pytest.raises(Exception):
            trainer.run()
        return [r.getMessage() for r in caplog.records if "terminating due to exception" in r.getMessage()]

    assert run(None) == []  # DivergenceError
    assert run(UsageError("bad image")) == []
    echoed = run(RuntimeError("a bug"))
    assert echoed and all(m.endswith("terminating due to exception: a bug") for m in echoed)


def test_one_line_of_an_error_re_raised_from_a_data_loader_worker():
    message = "Cannot read image x.png (truncated); remove or replace it"
    wrapped = UsageError(
        "Caught UsageError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
        f'  File "data.py", line 1, in __getitem__\n    raise x\ngan_ignite.errors.UsageError: {message}\n'
    )
    assert one_line(wrapped) == message
    assert one_line(UsageError(message)) == message


class NaNAt(NonSaturatingLoss):
    """The standard loss whose generator loss becomes NaN at its ``at``-th call."""

    def __init__(self, at):
        self.at, self.calls = at, 0

    def generator(self, fake_out):
        self.calls += 1
        terms = super().generator(fake_out)
        return {"loss": terms["loss"] * math.nan} if self.calls == self.at else terms


def test_a_real_run_that_diverges_at_a_snapshot_iteration_leaves_its_checkpoints_untouched(tmp_path, capsys):
    out = tmp_path / "run"
    gan_mnist.main([*SMALL, "--epochs", "1", "--out", str(out)])  # 4 iterations, checkpoint_4.pt
    checkpoints = fingerprint(out / "checkpoints")
    assert list(checkpoints) == ["checkpoint_4.pt", "checkpoint_4.pt.sha256"]
    capsys.readouterr()

    def build(config):  # gan_mnist's build with the NaN at iteration 8, where epoch 2's snapshot falls
        gen, dis = dcgan_models(config)
        return gan_trainer(config, dataset_from_config(config), gen, dis, NaNAt(4))

    config = parse_config(gan_mnist.Config, [*SMALL, "--epochs", "3", "--out", str(out), "--resume"])
    with pytest.raises(SystemExit) as exit_info:
        run_experiment(build, config, experiment="gan_mnist")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: gen/loss became nan at iteration 8 (epoch 2); the last good checkpoint is "
        f"{out / 'checkpoints' / 'checkpoint_4.pt'}; lower the learning rate (--lr) or change the seed "
        f"(--seed), and start again (--force)\n"
    )
    assert fingerprint(out / "checkpoints") == checkpoints
    assert [e["iteration"] for e in read_log(out / "log.jsonl")] == [4]  # epoch 2 was not logged


@pytest.mark.slow
def test_the_command_line_reports_divergence_in_one_line(tmp_path):
    # A real process: Ignite's own "Engine run is terminating" lines would reach stderr here.
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "experiments.gan_mnist", *SMALL, "--lr", "1e30", "--epochs", "2", "--out", str(out)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "error: gen/loss became nan at iteration 1 (epoch 1); no checkpoint was written before it; "
        "lower the learning rate (--lr) or change the seed (--seed), and start again (--force)\n"
    )
    assert list((out / "checkpoints").iterdir()) == []


# -- warnings --------------------------------------------------------------------------

HEALTHY = {"dis/real": 0.8, "dis/fake": 0.3}
WINNING = {"dis/real": 0.995, "dis/fake": 0.004}
# Intervals of 2 iterations, patience 3: stretches of 4, 1 (healthy), 3, 1, 2 intervals.
INTERVALS = [WINNING] * 4 + [HEALTHY] + [WINNING] * 3 + [HEALTHY] + [WINNING] * 2
DIS_WINS_AT = [6, 16]  # the 3rd interval of the 1st and 2nd stretch; the 3rd stretch is too short


def run_scripted(tmp_path, intervals, stop=None, state=None, **options):
    values = [v for interval in intervals for v in (interval, interval)]
    out = io.StringIO()
    trainer = Trainer(scripted(values), list(range(len(values))),
                      stop_trigger=(stop or len(values), "iteration"), out=tmp_path)
    trainer.extend(E.DivergenceCheck(interval=(2, "iteration"), patience=3, dis_wins=True, out=out, **options))
    trainer.extend(E.LogReport(trigger=(1, "iteration")))
    if state is not None:
        trainer.load_state_dict(state)
    trainer.run()
    return trainer, out.getvalue().splitlines()


def test_dis_wins_warns_once_per_stretch_on_the_console_and_in_the_log(tmp_path):
    _, lines = run_scripted(tmp_path, INTERVALS)
    assert lines == [
        f"warning: the discriminator wins outright: mean D(x) 0.9950 > 0.99 and D(G(z)) 0.004 < 0.01 for 3 "
        f"intervals of 2 iterations, up to iteration {it} (epoch 1); the generator learns little while it lasts; "
        f"weaken D (a lower learning rate, fewer feature maps) or restart from an earlier checkpoint"
        for it in DIS_WINS_AT
    ]
    log = read_log(tmp_path / "log.jsonl")
    assert [e["iteration"] for e in log if "warning/dis_wins" in e] == DIS_WINS_AT
    assert all(e["warning/dis_wins"] == 1.0 for e in log if "warning/dis_wins" in e)


@pytest.mark.parametrize("interval", [
    HEALTHY,
    {"dis/real": 0.99, "dis/fake": 0.001},  # at the threshold, not above it
    {"dis/real": 0.999, "dis/fake": 0.02},  # D(x) high but samples still fool D now and then
])
def test_no_dis_wins_warning_short_of_the_condition(tmp_path, interval):
    _, lines = run_scripted(tmp_path, [interval] * 8)
    assert lines == []
    assert not any("warning/dis_wins" in e for e in read_log(tmp_path / "log.jsonl"))


def test_the_interval_mean_decides_not_single_iterations(tmp_path):
    # Each interval has one confident and one unsure iteration: mean D(G(z)) 0.0105, not < 0.01.
    values = [{"dis/real": 1.0, "dis/fake": 0.001}, {"dis/real": 1.0, "dis/fake": 0.02}] * 6
    trainer = Trainer(scripted(values), list(range(12)), stop_trigger=(12, "iteration"), out=tmp_path)
    out = io.StringIO()
    trainer.extend(E.DivergenceCheck(interval=(2, "iteration"), patience=3, dis_wins=True, out=out))
    trainer.run()
    assert out.getvalue() == ""


def test_a_resumed_run_warns_where_an_uninterrupted_one_does(tmp_path):
    first, lines = run_scripted(tmp_path / "a", INTERVALS, stop=5)  # mid-stretch, mid-interval
    assert lines == []
    _, resumed = run_scripted(tmp_path / "b", INTERVALS, state=first.state_dict())
    _, straight = run_scripted(tmp_path / "c", INTERVALS)
    assert resumed == straight and len(straight) == 2


def test_dis_wins_is_not_checked_for_raw_scores(tmp_path):
    values = [{"dis/real": 5.0, "dis/fake": -4.0}] * 12
    step = scripted(values)
    step.loss = HingeLoss()  # what the check reads from the updater
    out = io.StringIO()
    trainer = Trainer(step, list(range(12)), stop_trigger=(12, "iteration"), out=tmp_path)
    trainer.extend(E.DivergenceCheck(interval=(2, "iteration"), patience=3, out=out))
    trainer.run()
    assert out.getvalue() == ""


class Spread(nn.Module):
    """A generator whose samples are ``scale * (z @ W)``: their spread is set by ``scale``."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 12, bias=False)
        self.register_buffer("scale", torch.tensor(1.0))

    def forward(self, z):
        return (self.scale * self.linear(z)).view(-1, 3, 2, 2)


def test_gen_diversity_is_the_spread_ratio_and_collapse_warns_once_per_stretch(tmp_path):
    torch.manual_seed(0)
    gen = Spread()
    real = [(torch.randn(5, 3, 2, 2), torch.zeros(5)) for _ in range(20)]
    # scale per interval of 2 iterations: collapsed 4 intervals, healthy 1, collapsed 3, healthy 2
    scales = [0.0] * 4 + [1.0] + [0.01] * 3 + [1.0] * 2

    def step(engine, batch):
        gen.scale.fill_(scales[(engine.state.iteration - 1) // 2])
        return {"dis/loss": 1.0}

    out = io.StringIO()
    trainer = Trainer(step, real, stop_trigger=(1, "epoch"), out=tmp_path)
    check = E.DivergenceCheck(gen, 4, interval=(2, "iteration"), patience=3, n_samples=6, seed=3, out=out,
                              observe_diversity=True)
    trainer.extend(check)
    trainer.extend(E.LogReport(trigger=(1, "iteration")))
    trainer.run()
    log = read_log(tmp_path / "log.jsonl")
    noise = torch.randn(6, 4, generator=torch.Generator().manual_seed(3))
    for entry in log:
        it = entry["iteration"]
        if it % 2:
            assert "gen/diversity" not in entry
            continue
        with torch.no_grad():
            fake = scales[it // 2 - 1] * gen.linear(noise)
        images = real[it - 1][0].flatten(1)
        expected = torch.cdist(fake, fake).square().sum().sqrt() / torch.cdist(images, images).square().sum().sqrt()
        assert entry["gen/diversity"] == pytest.approx(float(expected) * math.sqrt(5 * 4 / (6 * 5)), rel=1e-5)
    warned = [e for e in log if "warning/collapse" in e]
    assert [e["iteration"] for e in warned] == [6, 16]
    assert out.getvalue().splitlines() == [
        f"warning: the generator's samples collapse: their spread is {e['gen/diversity']:.3f} of the real batch's "
        f"(< 0.1) for 3 intervals of 2 iterations, up to iteration {e['iteration']} (epoch 1); try minibatch "
        f"discrimination or feature matching, a lower learning rate, or restart from an earlier checkpoint"
        for e in warned
    ]
    assert warned[0]["gen/diversity"] == 0 and 0 < warned[1]["gen/diversity"] < 0.1


def test_collapse_warns_without_observing_the_diversity_by_default(tmp_path):
    gen = Spread()
    gen.scale.fill_(0.0)  # every sample the same
    real = [(torch.randn(5, 3, 2, 2), torch.zeros(5)) for _ in range(6)]
    out = io.StringIO()
    trainer = Trainer(lambda engine, batch: {"dis/loss": 1.0}, real, stop_trigger=(1, "epoch"), out=tmp_path)
    trainer.extend(E.DivergenceCheck(gen, 4, interval=(2, "iteration"), patience=3, out=out))
    trainer.extend(E.LogReport(trigger=(1, "iteration")))
    trainer.run()
    assert [line[:58] for line in out.getvalue().splitlines()] == [
        "warning: the generator's samples collapse: their spread is"]
    log = read_log(tmp_path / "log.jsonl")
    assert [e["iteration"] for e in log if "warning/collapse" in e] == [6]
    assert not any("gen/diversity" in e for e in log)


def test_diversity_is_measured_as_in_training_and_leaves_batch_norm_as_it_was(tmp_path):
    # A young generator: tiny outputs that batch norm scales up in training. With the initial
    # running statistics (eval mode) every sample would look alike.
    torch.manual_seed(0)
    gen = nn.Sequential(nn.Linear(4, 12), nn.BatchNorm1d(12), nn.Unflatten(1, (3, 2, 2)))
    with torch.no_grad():
        gen[0].weight.mul_(0.01)
    real = [(torch.randn(5, 3, 2, 2), torch.zeros(5)) for _ in range(2)]
    trainer = Trainer(lambda engine, batch: {"dis/loss": 1.0}, real, stop_trigger=(1, "epoch"), out=tmp_path)
    trainer.extend(E.DivergenceCheck(gen, 4, interval=(2, "iteration"), n_samples=6, seed=3, observe_diversity=True))
    trainer.extend(E.LogReport(trigger=(1, "epoch")))
    gen.eval()  # the check must switch to train mode itself, and back
    before = {k: v.clone() for k, v in gen.state_dict().items()}
    trainer.run()
    assert not gen.training
    assert all(torch.equal(before[k], v) for k, v in gen.state_dict().items())
    noise = torch.randn(6, 4, generator=torch.Generator().manual_seed(3))
    gen.train()
    with torch.no_grad():
        fake = gen(noise)
    expected = rms_pairwise_distance(fake) / rms_pairwise_distance(real[1][0])
    assert read_log(tmp_path / "log.jsonl")[0]["gen/diversity"] == pytest.approx(float(expected), rel=1e-6)
    assert expected > 0.5  # in eval mode it would be below 0.01


def test_the_check_does_not_change_training(tmp_path):
    def train(with_check):
        torch.manual_seed(0)
        # Batch norm in the generator: the check's samples must not move its running statistics.
        gen = nn.Sequential(MLPGenerator(z_dim=4, image_size=4, hidden=8), nn.BatchNorm2d(1))
        dis = MLPDiscriminator(image_size=4, hidden=8)
        opt_gen = torch.optim.Adam(gen.parameters(), lr=1e-2)
        opt_dis = torch.optim.Adam(dis.parameters(), lr=1e-2)
        step = make_gan_step(gen, dis, opt_gen, opt_dis, NonSaturatingLoss(), z_dim=4)
        data = [(torch.rand(4, 1, 4, 4) * 2 - 1, torch.zeros(4)) for _ in range(6)]
        trainer = Trainer(step, data, stop_trigger=(2, "epoch"), out=tmp_path / str(with_check))
        if with_check:
            trainer.extend(E.DivergenceCheck(gen, 4, interval=(1, "iteration"), n_samples=8))
        trainer.run()
        return [t.clone() for t in (*gen.state_dict().values(), *dis.state_dict().values())]

    for a, b in zip(train(False), train(True), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("options, message", [
    (dict(patience=0), "Argument `patience` should be a positive integer, but given 0"),
    (dict(n_samples=1), "Argument `n_samples` should be an integer of at least 2, but given 1"),
    (dict(gen=nn.Linear(2, 2)), "Argument `z_dim` should be a positive integer with `gen`, but given None"),
])
def test_bad_arguments(options, message):
    with pytest.raises(UsageError, match=f"^{re.escape(message)}$"):
        E.DivergenceCheck(**options)


def test_without_a_loss_the_winning_check_follows_the_update_functions_loss(tmp_path):
    from gan_ignite.losses import get_loss

    class Update:
        def __init__(self, name):
            self.loss = get_loss(name)

        def __call__(self, engine, batch):
            return {"dis/loss": 1.0}

    for name, expected in (("gan", True), ("lsgan", False)):
        check = E.DivergenceCheck()
        trainer = Trainer(Update(name), [0], stop_trigger=(1, "iteration"), out=tmp_path / name)
        trainer.extend(check)
        trainer.run()
        assert check.dis_wins is expected, name
