"""The generator's moving average: the recurrence, its order among extensions, resume, and who samples it."""

import math

import pytest
import torch
from torch import nn

from experiments import gan_mnist
from gan_ignite import extensions as E
from gan_ignite.errors import DivergenceError, UsageError
from gan_ignite.evaluate import load_run_generator
from gan_ignite.extensions.snapshot import latest_checkpoint
from gan_ignite.trainer import Trainer

SMALL = ["--limit", "32", "--batch-size", "8", "--image-size", "16", "--feature-maps", "8", "--z-dim", "8",
         "--n-samples", "4", "--no-progress"]


def test_momentum_ramps_up_from_the_first_update_then_settles_at_one_minus_decay():
    assert E.ema_momentum(0.999, 1) == pytest.approx(1 - 2 / 11)
    assert E.ema_momentum(0.999, 90) == pytest.approx(1 - 91 / 100)
    assert E.ema_momentum(0.999, 10**6) == pytest.approx(0.001)
    momenta = [E.ema_momentum(0.99, t) for t in range(1, 2000)]
    assert all(a >= b for a, b in zip(momenta, momenta[1:]))
    assert momenta[-1] == pytest.approx(0.01)


class Scripted:
    """An update function that sets a one-weight generator to a scripted value each iteration."""

    def __init__(self, values):
        self.gen = nn.Linear(1, 1, bias=False)
        self.values = values

    def __call__(self, engine, batch):
        with torch.no_grad():
            self.gen.weight.fill_(self.values[engine.state.iteration - 1])
        return {"gen/loss": self.values[engine.state.iteration - 1]}


def test_average_follows_the_recurrence_and_writers_see_the_iterations_update(tmp_path):
    values = [3.0, -1.0, 4.0, 1.5, -5.0, 9.0]
    update = Scripted(values)
    trainer = Trainer(update, list(range(len(values))), stop_trigger=(1, "epoch"), out=tmp_path)
    ema = E.EMA(update.gen, decay=0.5)
    trainer.extend(ema)
    seen = []
    trainer.extend(lambda t: seen.append(ema.ema_model.weight.item()), name="writer", priority=E.PRIORITY_WRITER)
    initial = update.gen.weight.item()
    trainer.run()

    average, expected = initial, []
    for t, value in enumerate(values, start=1):
        m = 1 - min(0.5, (1 + t) / (10 + t))
        average = (1 - m) * average + m * value
        expected.append(average)
    assert seen == pytest.approx(expected, rel=1e-6)
    assert ema.ema_model.weight.item() == pytest.approx(expected[-1], rel=1e-6)
    assert not ema.ema_model.training and ema.ema_model is not update.gen


def test_a_non_finite_step_stops_the_run_before_it_reaches_the_average(tmp_path):
    update = Scripted([1.0, 2.0, math.nan, 4.0])
    trainer = Trainer(update, list(range(4)), stop_trigger=(1, "epoch"), out=tmp_path)
    trainer.extend(E.FiniteGuard())
    ema = E.EMA(update.gen, decay=0.5)
    trainer.extend(ema)
    with pytest.raises(DivergenceError):
        trainer.run()
    assert math.isfinite(ema.ema_model.weight.item())


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, True])
def test_decay_outside_zero_one_is_refused(decay):
    with pytest.raises(UsageError, match=r"Argument `decay` should be between 0 and 1 \(e\.g\. 0\.999\)"):
        E.EMA(nn.Linear(1, 1), decay=decay)


def ema_state(out):
    return torch.load(latest_checkpoint(out), weights_only=True)["trainer"]["extensions"]["ema"]["ema_model"]


def test_resume_continues_the_average_exactly(tmp_path, one_thread):
    whole, split = tmp_path / "whole", tmp_path / "split"
    gan_mnist.main([*SMALL, "--ema-decay", "0.9", "--epochs", "4", "--out", str(whole)])
    gan_mnist.main([*SMALL, "--ema-decay", "0.9", "--epochs", "2", "--out", str(split)])
    gan_mnist.main([*SMALL, "--ema-decay", "0.9", "--epochs", "4", "--out", str(split), "--resume"])
    a, b = ema_state(whole), ema_state(split)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_grids_evaluations_and_evaluate_sample_the_average(tmp_path):
    config = gan_mnist.parse_config(gan_mnist.Config, [*SMALL, "--ema-decay", "0.9", "--out", str(tmp_path)])
    trainer = gan_mnist.build(config)
    average = trainer.get_extension("ema").ema_model
    assert trainer.get_extension("SampleGrid").gen is average

    gan_mnist.main([*SMALL, "--ema-decay", "0.9", "--epochs", "2", "--out", str(tmp_path), "--force"])
    gen, _, _ = load_run_generator(tmp_path)
    saved = ema_state(tmp_path)
    online = torch.load(latest_checkpoint(tmp_path), weights_only=True)["gen"]
    weights = gen.state_dict()
    assert all(torch.equal(weights[k], saved[k]) for k in saved)
    assert not torch.equal(weights["net.0.weight"], online["net.0.weight"])


def test_without_decay_the_grid_samples_the_online_generator(tmp_path):
    config = gan_mnist.parse_config(gan_mnist.Config, [*SMALL, "--out", str(tmp_path)])
    trainer = gan_mnist.build(config)
    assert trainer.get_extension("SampleGrid").gen is trainer.updater.gen
    with pytest.raises(ValueError, match="No extension named 'ema'; registered: LogReport, "):
        trainer.get_extension("ema")
