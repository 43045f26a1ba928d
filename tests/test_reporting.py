"""The reporter and summaries, ported from Chainer's tests/chainer_tests/test_reporter.py
(TestReporter, TestReport, TestSummary, TestDictSummary) and checked inside a real trainer."""

import math
import threading
import time

import numpy
import pytest
import torch
from torch import nn

from gan_ignite.reporting import DictSummary, Reporter, Summary, get_current_reporter, report, report_scope
from gan_ignite.trainer import Trainer


def test_enter_exit_nests_and_scope_restores_the_observation():
    reporter1, reporter2 = Reporter(), Reporter()
    assert reporter1.observation == {}
    with reporter1:
        assert get_current_reporter() is reporter1
        observation = {}
        with reporter2.scope(observation):
            assert get_current_reporter() is reporter2
            assert reporter2.observation is observation
        assert get_current_reporter() is reporter1
        assert reporter2.observation is not observation


def test_each_thread_has_its_own_current_reporter():
    records = {1: [], 2: []}

    def run(reporter, record):
        with reporter:
            time.sleep(0.01)  # the two scopes overlap in time
            record.append(get_current_reporter())

    reporters = {1: Reporter(), 2: Reporter()}
    threads = [threading.Thread(target=run, args=(reporters[i], records[i])) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert records[1] == [reporters[1]] and records[2] == [reporters[2]]


def test_observers_prefix_their_keys():
    reporter = Reporter()
    observer1, observer2 = object(), object()
    reporter.add_observer("o1", observer1)
    reporter.add_observer("o2", observer2)
    reporter.report({"x": 1}, observer1)
    reporter.report({"y": 2}, observer2)
    reporter.report({"z": 3})
    assert reporter.observation == {"o1/x": 1, "o2/y": 2, "z": 3}


def test_add_observers_prefixes_each_name():
    reporter, a, b = Reporter(), object(), object()
    reporter.add_observers("main/", [("a", a), ("b", b)])
    reporter.report({"x": 1}, a)
    reporter.report({"x": 2}, b)
    assert reporter.observation == {"main/a/x": 1, "main/b/x": 2}


def test_report_goes_to_the_current_reporter_and_nowhere_without_one():
    report({"x": 1}, object())  # no reporter in scope: nothing happens, nothing raises
    reporter, observer = Reporter(), object()
    reporter.add_observer("o", observer)
    with reporter:
        report({"x": 1})
        report({"y": 2}, observer)
        with pytest.raises(KeyError, match="not registered"):
            report({"x": 1}, object())
    assert reporter.observation == {"x": 1, "o/y": 2}


def test_report_scope_redirects_and_works_without_a_reporter():
    reporter, observation = Reporter(), {}
    with reporter:
        with report_scope(observation):
            report({"x": 1})
    assert observation == {"x": 1} and "x" not in reporter.observation
    alone = {}
    with report_scope(alone):
        report({"y": 2})
    assert alone == {"y": 2}


def test_reported_tensors_are_detached():
    reporter, w = Reporter(), torch.ones((), requires_grad=True)
    with reporter:
        report({"loss": w * 3})
    assert not reporter.observation["loss"].requires_grad and reporter.observation["loss"].item() == 3


@pytest.mark.parametrize("values", [[1, -2], [1.0, 2.0, 3.0], [torch.tensor(1.0), torch.tensor(-2.0)],
                                    [numpy.array(1, "f"), numpy.array(-2, "f")]])
def test_summary_mean_and_standard_deviation(values):
    summary = Summary()
    for v in values:
        summary.add(v)
    numbers = [float(v) for v in values]
    mean = sum(numbers) / len(numbers)
    std = math.sqrt(sum(x * x for x in numbers) / len(numbers) - mean * mean)
    assert summary.compute_mean() == pytest.approx(mean)
    assert summary.make_statistics() == pytest.approx((mean, std))


def test_summary_weights_and_state_round_trip():
    summary = Summary()
    summary.add(1.0, 0.5)
    summary.add(2.0, numpy.array(0.4))
    summary.add(3.0, torch.tensor(0.3))
    assert summary.compute_mean() == pytest.approx((1 * 0.5 + 2 * 0.4 + 3 * 0.3) / 1.2)
    first = Summary()
    first.add(1.0)
    first.add(2.0)
    again = Summary()
    again.load_state_dict(first.state_dict())
    again.add(6.0)
    assert again.make_statistics() == pytest.approx((3.0, math.sqrt((1 + 4 + 36) / 3 - 9)))


def check(summary, data):
    means = summary.compute_mean()
    assert set(means) == set(data)
    stats = summary.make_statistics()
    assert set(stats) == set(data) | {k + ".std" for k in data}
    for key, values in data.items():
        m = sum(values) / len(values)
        assert means[key] == pytest.approx(m) and stats[key] == pytest.approx(m)
        assert stats[key + ".std"] == pytest.approx(math.sqrt(sum(x * x for x in values) / len(values) - m * m))


def test_dict_summary_dense_sparse_and_serialised():
    summary = DictSummary()
    rows = [{"numpy": numpy.array(3, "f"), "int": 1, "float": 4.0, "tensor": torch.tensor(2.0)},
            {"numpy": numpy.array(1, "f"), "int": 5, "float": 9.0},
            {"int": 6, "float": 5.0, "tensor": torch.tensor(4.0), "text": "skipped", "flag": True}]
    for row in rows:
        summary.add(row)
    again = DictSummary()
    again.load_state_dict(summary.state_dict())
    again.add({"numpy": numpy.array(3, "f"), "int": 5, "float": 8.0})
    check(again, {"numpy": (3, 1, 3), "int": (1, 5, 6, 5), "float": (4, 9, 5, 8), "tensor": (2, 4)})


def test_dict_summary_weights_must_be_scalars():
    summary = DictSummary()
    summary.add({"a": (1.0, 0.5)})
    summary.add({"a": (2.0, numpy.array(0.4))})
    summary.add({"a": (3.0, torch.tensor(0.3))})
    assert summary.compute_mean()["a"] == pytest.approx((1 * 0.5 + 2 * 0.4 + 3 * 0.3) / 1.2)
    with pytest.raises(ValueError, match="weight reported with 'a' should be a scalar"):
        summary.add({"a": (4.0, numpy.array([0.5]))})


class Reporting(nn.Module):
    """A network that reports a value of its own from inside forward()."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(1, 1)

    def forward(self, x):
        report({"seen": float(x)}, self)
        report({"inner_bias": self.inner.bias.detach().sum()}, self.inner)
        return x


def test_values_reported_inside_models_and_extensions_land_in_the_observation(tmp_path):
    net = Reporting()

    def update(engine, batch):
        net(torch.tensor(float(batch)))
        report({"plain": 2 * batch})
        return {"dis/loss": float(batch)}

    trainer = Trainer(update, [1, 2, 3], stop_trigger=(3, "iteration"), out=tmp_path, models={"dis": net})
    seen = []
    trainer.extend(lambda t: report({"from_extension": t.iteration}), name="reporter", priority=300)
    trainer.extend(lambda t: seen.append(dict(t.observation)), name="reader")
    trainer.run()
    bias = float(net.inner.bias.detach())
    assert seen == [{"dis/seen": b, "dis/inner/inner_bias": pytest.approx(bias), "plain": 2 * b,
                     "dis/loss": b, "from_extension": b} for b in (1, 2, 3)]
