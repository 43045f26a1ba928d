"""Evaluator: means over a validation loader, named as Chainer names them, Ignite metrics beside.

Ports Chainer's tests/chainer_tests/training_tests/extensions_tests/test_evaluator.py and
pytorch-pfn-extras' tests/pytorch_pfn_extras_tests/training_tests/extensions_tests/test_evaluator.py:
``evaluate`` reports through the reporter in scope but adds nothing to it
(``test_evaluate``), a call names the single target ``main`` (``test_call``) and prefixes
the keys (``test_evaluator_name``; here the ``prefix`` argument), a call without a trainer
reports to the current reporter (``test_current_report``), tuple and dict batches are
spread over the arguments (``TestEvaluatorTupleData``, ``TestEvaluatorDictData``), an
``eval_func`` replaces the target (``TestEvaluatorWithEvalFunc``), Ignite metrics are
reported beside the reported values (``test_ignite_evaluator_reporting_metrics``). Added:
weighted means, eval mode and ``no_grad``, every error, and runs with the real trainer
whose logged values are recomputed directly from the weights of that iteration.
"""

from __future__ import annotations

import copy
from collections import namedtuple

import pytest
import torch
from ignite.metrics import Accuracy, ConfusionMatrix, MeanSquaredError
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from gan_ignite.errors import UsageError
from gan_ignite.extensions.evaluator import Evaluator
from gan_ignite.extensions.extension import PRIORITY_WRITER, make_extension
from gan_ignite.extensions.log_report import LogReport
from gan_ignite.reporting import Reporter, report
from gan_ignite.trainer import Trainer


class DummyModel(nn.Module):
    """Reports the sum of its input as ``loss``, and remembers its inputs (Chainer's DummyModel)."""

    def __init__(self):
        super().__init__()
        self.args = []

    def forward(self, x):
        self.args.append(x)
        report({"loss": x.sum()}, self)
        return x


class DummyModelTwoArgs(nn.Module):
    def __init__(self):
        super().__init__()
        self.args = []

    def forward(self, x, y):
        self.args.append((x, y))
        report({"loss": x.sum() + y.sum()}, self)


class FakeTrainer:
    """The part of the trainer the evaluator touches: the observation."""

    def __init__(self):
        self.observation = {"dis/loss": 0.5}


@pytest.fixture
def dummies():
    torch.manual_seed(0)
    data = [torch.rand(2, 3, 4) * 2 - 1 for _ in range(2)]
    loader = DataLoader(data)  # batches of one: (1, 2, 3, 4)
    target = DummyModel()
    expect_mean = torch.stack([x.sum() for x in data]).mean().item()
    return data, loader, target, Evaluator(loader, target), expect_mean


# -- Chainer's and ppe's cases --------------------------------------------------------------
def test_evaluate_reports_through_the_reporter_in_scope_but_adds_nothing_to_it(dummies):
    data, loader, target, evaluator, expect_mean = dummies
    reporter = Reporter()
    reporter.add_observer("target", target)
    with reporter.scope({}):
        mean = evaluator.evaluate()
        assert reporter.observation == {}  # each batch reported into an observation of its own
    assert len(target.args) == len(data)
    for seen, x in zip(target.args, data):
        torch.testing.assert_close(seen, x.unsqueeze(0))
    assert mean.keys() == {"target/loss"}
    assert mean["target/loss"] == pytest.approx(expect_mean, abs=1e-6)


def test_a_call_names_the_single_target_main_and_prefixes_every_key(dummies):
    _, _, _, evaluator, expect_mean = dummies
    mean = evaluator()
    assert mean.keys() == {"validation/main/loss"}
    assert mean["validation/main/loss"] == pytest.approx(expect_mean, abs=1e-6)


@pytest.mark.parametrize("prefix, key", [("eval", "eval/main/loss"), ("val/gen", "val/gen/main/loss"),
                                         ("", "main/loss")])
def test_the_prefix_names_the_keys_and_the_extension(dummies, prefix, key):
    _, loader, target, _, expect_mean = dummies
    evaluator = Evaluator(loader, target, prefix=prefix)
    assert evaluator().keys() == {key}
    assert evaluator.default_name == (prefix or "validation")


def test_a_call_without_a_trainer_reports_to_the_current_reporter(dummies):
    _, _, _, evaluator, _ = dummies
    reporter = Reporter()
    observation = {}
    with reporter.scope(observation):
        mean = evaluator()
    assert observation == mean


def test_a_call_with_a_trainer_adds_to_its_observation(dummies):
    _, _, _, evaluator, expect_mean = dummies
    trainer = FakeTrainer()
    evaluator(trainer)
    assert trainer.observation.keys() == {"dis/loss", "validation/main/loss"}
    assert trainer.observation["validation/main/loss"] == pytest.approx(expect_mean, abs=1e-6)


def test_defaults_are_chainers(dummies):
    _, _, _, evaluator, _ = dummies
    assert evaluator.trigger == (1, "epoch")
    assert evaluator.priority == PRIORITY_WRITER
    assert evaluator.default_name == "validation"


def test_tuple_batches_are_spread_over_the_arguments():
    data = [(torch.rand(2, 3), torch.rand(2, 3)) for _ in range(2)]
    target = DummyModelTwoArgs()
    mean = Evaluator(DataLoader(data), target)()
    assert len(target.args) == 2
    for (x, y), (x0, y0) in zip(target.args, data):
        torch.testing.assert_close(x, x0.unsqueeze(0))
        torch.testing.assert_close(y, y0.unsqueeze(0))
    expected = torch.stack([x.sum() + y.sum() for x, y in data]).mean().item()
    assert mean["validation/main/loss"] == pytest.approx(expected, abs=1e-6)


def test_dict_batches_are_passed_by_keyword():
    data = [{"y": torch.rand(2, 3), "x": torch.rand(2, 3)} for _ in range(2)]
    target = DummyModelTwoArgs()
    mean = Evaluator(DataLoader(data), target)()
    for (x, y), batch in zip(target.args, data):
        torch.testing.assert_close(x, batch["x"].unsqueeze(0))
        torch.testing.assert_close(y, batch["y"].unsqueeze(0))
    expected = torch.stack([b["x"].sum() + b["y"].sum() for b in data]).mean().item()
    assert mean["validation/main/loss"] == pytest.approx(expected, abs=1e-6)


def test_a_namedtuple_batch_is_one_argument():
    Pair = namedtuple("Pair", "x y")
    seen = []
    Evaluator([Pair(torch.ones(1), torch.zeros(1))], {}, eval_func=seen.append)()
    assert len(seen) == 1 and isinstance(seen[0], Pair)


def test_an_eval_func_replaces_the_target():
    data = [torch.rand(3, 4) for _ in range(2)]
    target = DummyModel()
    evaluator = Evaluator(DataLoader(data), {}, eval_func=target)
    reporter = Reporter()
    reporter.add_observer("target", target)
    with reporter.scope({}):
        mean = evaluator.evaluate()
    assert len(target.args) == len(data)
    assert mean["target/loss"] == pytest.approx(torch.stack([x.sum() for x in data]).mean().item(), abs=1e-6)


# -- the means and names ------------------------------------------------------------------
def test_weighted_reports_give_the_mean_over_examples():
    torch.manual_seed(1)
    x = torch.randn(10, 3)
    loader = DataLoader(TensorDataset(x), batch_size=4)  # batches of 4, 4 and 2

    def eval_func(batch):
        per_example = batch.pow(2).sum(1)
        report({"weighted": (per_example.mean(), batch.shape[0]), "plain": per_example.mean()})

    mean = Evaluator(loader, {}, eval_func=eval_func)()
    per_example = x.pow(2).sum(1)
    assert mean["validation/weighted"] == pytest.approx(per_example.mean().item(), rel=1e-6)
    batch_means = torch.stack([per_example[:4].mean(), per_example[4:8].mean(), per_example[8:].mean()])
    assert mean["validation/plain"] == pytest.approx(batch_means.mean().item(), rel=1e-6)
    assert mean["validation/weighted"] != pytest.approx(mean["validation/plain"])  # the two differ here


class Features(nn.Module):
    def forward(self, x):
        report({"norm": x.norm()}, self)
        return x


class Dis(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = Features()

    def forward(self, x):
        h = self.features(x)
        report({"loss": h.sum()}, self)
        return h


def test_every_target_and_its_submodules_are_observers_and_plain_reports_get_the_prefix():
    gen, dis = nn.Identity(), Dis()
    x = torch.randn(5, 2)

    def eval_func(batch):
        report({"loss": batch.mean()}, gen)
        dis(batch)
        report({"count": 1.0})

    mean = Evaluator([x], {"gen": gen, "dis": dis}, eval_func=eval_func)()
    assert mean == pytest.approx({
        "validation/gen/loss": x.mean().item(), "validation/dis/loss": x.sum().item(),
        "validation/dis/features/norm": x.norm().item(), "validation/count": 1.0,
    })


def test_targets_run_in_eval_mode_without_gradients_and_get_their_modes_back():
    seen = []

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(0.5)
            self.frozen = nn.BatchNorm1d(2)

        def forward(self, x):
            seen.append((self.training, self.drop.training, self.frozen.training, torch.is_grad_enabled()))
            report({"out": self.drop(x).sum()}, self)

    probe = Probe()
    probe.frozen.eval()  # a submodule the user keeps in eval mode stays so
    x = torch.ones(4, 2, requires_grad=True)
    mean = Evaluator([x, x], probe)()
    assert seen == [(False, False, False, False)] * 2
    assert mean["validation/main/out"] == 8.0  # no dropout
    assert probe.training and probe.drop.training and not probe.frozen.training


def test_modes_come_back_when_the_evaluation_fails():
    model = nn.Linear(2, 2)

    def eval_func(batch):
        raise RuntimeError("broken batch")

    with pytest.raises(RuntimeError, match="^broken batch$"):
        Evaluator([torch.ones(1, 2)], model, eval_func=eval_func)()
    assert model.training and torch.is_grad_enabled()


def test_batches_are_moved_to_the_device():
    seen = []
    device = "cuda" if torch.cuda.is_available() else "cpu"
    Evaluator([(torch.ones(2), {"y": torch.zeros(2)})], {}, eval_func=lambda x, d: seen.append((x, d["y"])),
              device=device)()
    assert [t.device.type for t in seen[0]] == [device, device]


# -- Ignite metrics -----------------------------------------------------------------------
class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(4, 3)

    def forward(self, x, y):
        logits = self.net(x)
        report({"loss": (F.cross_entropy(logits, y), x.shape[0])}, self)
        return logits, y


@pytest.fixture
def classification():
    torch.manual_seed(2)
    x, y = torch.randn(23, 4), torch.randint(0, 3, (23,))
    return x, y, DataLoader(TensorDataset(x, y), batch_size=5)


def test_ignite_metrics_are_computed_over_the_loader_and_reported(classification):
    x, y, loader = classification
    model = Classifier()
    evaluator = Evaluator(loader, model, metrics={"acc": Accuracy(), "mse": MeanSquaredError(
        output_transform=lambda out: (out[0].softmax(1), F.one_hot(out[1], 3).float()))})
    mean = evaluator()
    with torch.no_grad():
        logits = model.net(x)
    assert mean.keys() == {"validation/main/loss", "validation/acc", "validation/mse"}
    assert mean["validation/acc"] == pytest.approx((logits.argmax(1) == y).float().mean().item())
    # Ignite's MSE: the squared error summed over an example's outputs, averaged over examples.
    expected_mse = (logits.softmax(1) - F.one_hot(y, 3).float()).pow(2).sum(1).mean().item()
    assert mean["validation/mse"] == pytest.approx(expected_mse, rel=1e-5)
    assert mean["validation/main/loss"] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)


def test_metrics_start_afresh_at_each_evaluation(classification):
    x, y, loader = classification
    model = Classifier()
    evaluator = Evaluator(loader, model, metrics={"acc": Accuracy()})
    results = []
    for _ in range(2):
        results.append(evaluator()["validation/acc"])
        with torch.no_grad():
            expected = (model.net(x).argmax(1) == y).float().mean().item()
        assert results[-1] == pytest.approx(expected)
        with torch.no_grad():  # class 2 for every example in the next evaluation
            model.net.weight.zero_()
            model.net.bias.copy_(torch.tensor([0.0, 0.0, 1.0]))
    assert results[1] == pytest.approx((y == 2).float().mean().item())
    assert results[0] != results[1]


def test_a_metric_reads_the_eval_funcs_output_through_its_output_transform(classification):
    x, y, loader = classification
    model = nn.Linear(4, 3)
    evaluator = Evaluator(loader, model, eval_func=lambda xb, yb: {"logits": model(xb), "labels": yb},
                          metrics={"acc": Accuracy(output_transform=lambda out: (out["logits"], out["labels"]))})
    with torch.no_grad():
        expected = (model(x).argmax(1) == y).float().mean().item()
    assert evaluator() == pytest.approx({"validation/acc": expected})


def test_a_metric_that_is_no_scalar_stays_in_the_engines_state(classification):
    x, y, loader = classification
    model = Classifier()
    evaluator = Evaluator(loader, model, metrics={"confusion": ConfusionMatrix(3)})
    assert evaluator().keys() == {"validation/main/loss"}
    confusion = evaluator.engine.state.metrics["confusion"]
    assert confusion.shape == (3, 3) and confusion.sum().item() == len(y)


def test_a_metric_named_as_a_reported_value_is_refused(classification):
    _, _, loader = classification

    def eval_func(xb, yb):
        report({"acc": 1.0})
        return torch.zeros(len(yb), 3), yb

    evaluator = Evaluator(loader, {}, eval_func=eval_func, metrics={"acc": Accuracy()})
    with pytest.raises(UsageError, match="^The metric 'acc' has the name of a value reported during evaluation; "
                                         "give the metric another name$"):
        evaluator()


# -- bad arguments ------------------------------------------------------------------------
MODEL = nn.Linear(1, 1)


@pytest.mark.parametrize("kwargs, message", [
    ({"loader": 3}, r"^Argument `loader` should be an iterable of batches \(a DataLoader\), but given int$"),
    ({"loader": {"main": [1]}}, "but given dict$"),
    ({"loader": []}, "^Argument `loader` should give at least one batch, but it is empty$"),
    ({"target": "gen"}, r"^Argument `target` should be a torch.nn.Module or a mapping of names \(without '/'\) to "
                        r"modules, but given str$"),
    ({"target": {"gen/x": MODEL}}, "but given dict$"),
    ({"target": {"gen": MODEL, "dis": MODEL}},
     r"^Argument `eval_func` is needed when `target` has no 'main' network \(targets given: gen, dis\); "
     r"pass eval_func, or name a target 'main'$"),
    ({"target": {}}, r"\(targets given: none\)"),
    ({"eval_func": 3}, "^Argument `eval_func` should be a callable, but given int$"),
    ({"metrics": {"acc": "accuracy"}}, r"^Argument `metrics` should be a mapping of names to Ignite metrics, e.g. "
                                       r"\{'acc': Accuracy\(\)\}, but given \{'acc': 'accuracy'\}$"),
    ({"metrics": [Accuracy()]}, "should be a mapping of names to Ignite metrics"),
    ({"prefix": "validation/"}, r"^Argument `prefix` should be a name such as 'validation' \(no leading or trailing "
                                r"'/'\), but given 'validation/'$"),
    ({"prefix": None}, "but given None$"),
])
def test_bad_arguments_are_refused(kwargs, message):
    arguments = {"loader": [torch.ones(1, 1)], "target": MODEL, **kwargs}
    with pytest.raises(UsageError, match=message):
        Evaluator(**arguments)


# -- with the trainer ---------------------------------------------------------------------
class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(3, 1)

    def forward(self, x, y):
        loss = F.mse_loss(self.net(x), y)
        report({"loss": loss}, self)
        return loss


def test_with_the_trainer_log_report_sees_the_values_of_the_same_iteration(tmp_path):
    torch.manual_seed(3)
    model = Regressor()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    train = [(torch.randn(4, 3), torch.randn(4, 1)) for _ in range(3)]
    val_x, val_y = torch.randn(7, 3), torch.randn(7, 1)

    def update(engine, batch):
        opt.zero_grad()
        loss = model(*batch)  # reports "main/loss" through the trainer's reporter
        loss.backward()
        opt.step()
        return {}

    trainer = Trainer(update, train, stop_trigger=(2, "epoch"), out=tmp_path, models={"main": model},
                      optimizers={"main": opt})
    trainer.extend(Evaluator([(val_x[:4], val_y[:4]), (val_x[4:], val_y[4:])], model))
    log = LogReport(trigger=(1, "epoch"))
    trainer.extend(log)
    seen, weights = {}, {}

    @make_extension(trigger=(1, "iteration"))
    def remember(trainer):
        seen[trainer.iteration] = sorted(k for k in trainer.observation if k.startswith("validation/"))
        weights[trainer.iteration] = copy.deepcopy(model.state_dict())

    trainer.extend(remember)
    trainer.run()

    assert seen == {1: [], 2: [], 3: ["validation/main/loss"], 4: [], 5: [], 6: ["validation/main/loss"]}
    assert [entry["iteration"] for entry in log.log] == [3, 6]
    for entry in log.log:
        fresh = Regressor()
        fresh.load_state_dict(weights[entry["iteration"]])
        with torch.no_grad():  # the mean of the two batch losses, as reported
            expected = (F.mse_loss(fresh.net(val_x[:4]), val_y[:4]) + F.mse_loss(fresh.net(val_x[4:]), val_y[4:])) / 2
        assert entry["validation/main/loss"] == pytest.approx(expected.item(), rel=1e-6)
        assert "main/loss" in entry  # the training loss, beside it
    assert model.training


def test_with_the_trainer_evaluators_of_two_prefixes_register_apart(tmp_path):
    model = DummyModel()
    trainer = Trainer(lambda engine, batch: {}, [0, 1], stop_trigger=(1, "epoch"), out=tmp_path,
                      models={"main": model})
    trainer.extend(Evaluator([torch.ones(1)], model))
    trainer.extend(Evaluator([torch.zeros(1)], model, prefix="test"))
    trainer.run()
    assert isinstance(trainer.get_extension("validation"), Evaluator)
    assert isinstance(trainer.get_extension("test"), Evaluator)
    assert trainer.observation == {"validation/main/loss": 1.0, "test/main/loss": 0.0}
