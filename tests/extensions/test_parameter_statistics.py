"""ParameterStatistics: Chainer's key counts and patterns, hand-computed values, NaN, resume, a trainer."""

from __future__ import annotations

import math
import re

import numpy
import pytest
import torch

from gan_ignite.errors import UsageError
from gan_ignite.extensions.parameter_statistics import PERCENTILES, ParameterStatistics, percentile
from gan_ignite.trainer import Trainer
from tests.fakes import FakeTrainer, round_trip


def linear_with_grads():
    torch.manual_seed(0)
    link = torch.nn.Linear(3, 2)
    link(torch.randn(4, 3)).sum().backward()
    return link


MIN = {"min": lambda x: x.min()}
DEFAULT = ParameterStatistics.default_statistics


# Chainer's table (weight and bias of a Linear(3, 2)). With the default statistics each of
# (parameter, data | grad) gives 5 single values and 7 percentiles: 12. Chainer counts 36 and
# 12 with gradients, as its NaN gradients before a backward pass collapse the percentiles to one key.
@pytest.mark.parametrize("statistics, report_params, report_grads, prefix, expect", [
    (MIN, True, True, None, 4),
    (MIN, False, True, "test", 2),
    (MIN, True, False, None, 2),
    (MIN, False, False, "test", 0),
    (DEFAULT, True, True, None, 48),
    (DEFAULT, True, False, "test", 24),
    (DEFAULT, False, True, None, 24),
    (DEFAULT, False, False, "test", 0),
])
def test_chainer_table(statistics, report_params, report_grads, prefix, expect):
    kwargs = dict(report_params=report_params, report_grads=report_grads, prefix=prefix, skip_nan_params=True)
    models = {"link": linear_with_grads()}
    observation = FakeTrainer().run(ParameterStatistics(models, statistics, **kwargs), 10)
    assert len(observation) == expect

    late = ParameterStatistics(models, None, **kwargs)  # Chainer's test_report_late_register
    for name, function in statistics.items():
        late.register_statistics(name, function)
    assert FakeTrainer().run(late, 10).keys() == observation.keys()

    for key in observation:  # Chainer's test_report_key_pattern
        match = re.match(r"^(.+/){2,}(data|grad)/.+[^/]$", key)
        assert match is not None and key.startswith(prefix or "link/")
        assert match.group(2) in (["data"] if report_params else []) + (["grad"] if report_grads else [])


def test_custom_function():
    observation = FakeTrainer().run(ParameterStatistics({"link": linear_with_grads()}, {"one": lambda x: 1.0}), 10)
    assert observation == {
        "link/weight/data/one": 1.0, "link/weight/grad/one": 1.0, "link/bias/data/one": 1.0, "link/bias/grad/one": 1.0,
    }


def test_default_statistics_by_hand_and_the_key_format():
    link = torch.nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        link.weight.copy_(torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, -1.0]]))
    ext = ParameterStatistics(link, report_grads=False, trigger=(1, "iteration"))  # one module: no model name
    observation = FakeTrainer().run(ext, 1)
    values = [1.0, 2.0, 3.0, 4.0, 0.0, -1.0]
    assert observation["weight/data/mean"] == pytest.approx(1.5)
    assert observation["weight/data/std"] == pytest.approx(math.sqrt(17.5 / 6))  # population, as NumPy's
    assert (observation["weight/data/min"], observation["weight/data/max"]) == (-1.0, 4.0)
    assert observation["weight/data/zeros"] == 1.0
    expect = numpy.percentile(values, PERCENTILES)
    got = [observation[f"weight/data/percentile/{i}"] for i in range(7)]
    torch.testing.assert_close(got, expect.tolist(), rtol=1e-6, atol=1e-6)
    assert got[3] == pytest.approx(1.5)  # the median
    assert len(observation) == 12


@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_percentile_is_numpys(n):
    x = torch.randn(n, generator=torch.Generator().manual_seed(n))
    torch.testing.assert_close(percentile(x), torch.from_numpy(numpy.percentile(x.numpy(), PERCENTILES)).float())
    double = x.double()
    torch.testing.assert_close(percentile(double), torch.from_numpy(numpy.percentile(double.numpy(), PERCENTILES)))


def test_means_over_the_interval_and_resume_mid_interval():
    link = torch.nn.Linear(1, 1, bias=False)
    trainer = FakeTrainer(models={"gen": link}, iter_per_epoch=3)
    ext = ParameterStatistics(statistics={"max": torch.max}, report_grads=False)  # trainer.models, each epoch
    for w in (1.0, 2.0):
        with torch.no_grad():
            link.weight.fill_(w)
        assert trainer.run(ext, 1) == {}
    state = round_trip(ext.state_dict())

    resumed = ParameterStatistics(statistics={"max": torch.max}, report_grads=False)
    resumed.load_state_dict(state)
    with torch.no_grad():
        link.weight.fill_(6.0)
    assert trainer.run(resumed, 1) == {"gen/weight/data/max": 3.0}  # (1 + 2 + 6) / 3
    with torch.no_grad():
        link.weight.fill_(5.0)
    assert trainer.run(resumed, 3) == {"gen/weight/data/max": 5.0}  # a new interval


def test_skip_nan_params_keeps_the_keys():
    link = torch.nn.Linear(2, 1)
    with torch.no_grad():
        link.weight[0, 0] = float("nan")
    ext = ParameterStatistics({"dis": link}, report_grads=False, skip_nan_params=True, trigger=(1, "iteration"))
    observation = FakeTrainer().run(ext, 1)
    weight = {k: v for k, v in observation.items() if "/weight/" in k}
    assert len(weight) == 12 and all(math.isnan(v) for v in weight.values())
    assert observation["dis/bias/data/min"] == link.bias.item()
    unskipped = FakeTrainer().run(ParameterStatistics({"dis": link}, report_grads=False, trigger=(1, "iteration")), 1)
    assert unskipped.keys() == observation.keys() and unskipped["dis/weight/data/zeros"] == 0.0


def test_a_parameter_without_a_gradient_reports_no_grad_keys():
    link = torch.nn.Linear(2, 1)
    observation = FakeTrainer().run(ParameterStatistics({"gen": link}, MIN, prefix="stats"), 10)
    assert observation == {"stats/gen/weight/data/min": link.weight.min().item(),
                           "stats/gen/bias/data/min": link.bias.item()}


def test_bad_arguments():
    with pytest.raises(UsageError, match=r"Argument `models` should be an nn.Module, a dict of them or None"):
        ParameterStatistics([torch.nn.Linear(1, 1)])
    with pytest.raises(UsageError, match=r"Argument `statistics` should be a dict, 'default' or None, but given 'all'"):
        ParameterStatistics(None, "all")
    with pytest.raises(UsageError, match=r"Argument `function` should be a function of a tensor"):
        ParameterStatistics().register_statistics("x", 3)


def test_in_a_trainer_with_its_models(tmp_path):
    gen, dis = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    opt = torch.optim.SGD([*gen.parameters(), *dis.parameters()], lr=0.1)
    weights, seen = [], []

    def update(engine, batch):
        opt.zero_grad()
        dis(gen(torch.ones(1, 2))).sum().backward()
        opt.step()
        weights.append(gen.weight.detach().mean().item())
        return {}

    trainer = Trainer(update, [0, 0], stop_trigger=(2, "epoch"), out=tmp_path, models={"gen": gen, "dis": dis})
    trainer.extend(ParameterStatistics())
    trainer.extend(lambda t: seen.append(dict(t.observation)), name="spy", priority=0)
    trainer.run()
    assert trainer.get_extension("parameter_statistics").priority > 100
    assert [len(o) for o in seen] == [0, 96, 0, 96]  # 4 parameters x data and grad x 12, at each epoch's end
    assert seen[1]["gen/weight/data/mean"] == pytest.approx((weights[0] + weights[1]) / 2)
    assert seen[3]["gen/weight/data/mean"] == pytest.approx((weights[2] + weights[3]) / 2)
    assert seen[3]["dis/bias/grad/mean"] == pytest.approx(1.0)  # d(sum of the output)/d(bias)
