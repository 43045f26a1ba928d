"""FailOnNonNumber: pytorch-pfn-extras' cases in a real trainer, the message, the cheap check's edge."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from gan_ignite.errors import DivergenceError
from gan_ignite.extensions.fail_on_non_number import FailOnNonNumber
from gan_ignite.trainer import Trainer


class NaNGradient(torch.autograd.Function):
    """The identity plus one, whose backward pass makes the gradient NaN (ppe's ErroneousFunc)."""

    @staticmethod
    def forward(ctx, x):
        return x + 1.0

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output + float("nan")


class Model(torch.nn.Module):
    def __init__(self, grad_error=False):
        super().__init__()
        self.l1 = torch.nn.Linear(1, 3)
        self.grad_error = grad_error

    def forward(self, x):
        y = self.l1(x)
        return NaNGradient.apply(y) if self.grad_error else y


def run_train(tmp_path, model, iterations=None, *, check_grad=True, optimizer_step=True, trigger=(1, "iteration")):
    """ppe's set-up: 3 epochs of 4 examples, SGD with lr 1, a classification loss.

    The iterations that ran are appended to ``iterations``.
    """
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    data = [(torch.tensor([[float(i)]]), torch.tensor([i % 2])) for i in range(4)]
    iterations = [] if iterations is None else iterations

    def update(engine, batch):
        iterations.append(engine.state.iteration)
        x, y = batch
        optimizer.zero_grad()
        torch.nn.functional.nll_loss(model(x), y).backward()
        if optimizer_step:
            optimizer.step()
        return {}

    trainer = Trainer(update, data, stop_trigger=(3, "epoch"), out=tmp_path,
                      models={"main": model}, optimizers={"main": optimizer})
    trainer.extend(FailOnNonNumber(check_grad=check_grad, trigger=trigger))
    trainer.run()


def test_valid(tmp_path):
    iterations = []
    run_train(tmp_path, Model(), iterations)
    assert iterations == list(range(1, 13))


def test_nan(tmp_path):
    model = Model()
    with torch.no_grad():
        model.l1.weight[1, 0] = float("nan")
    with pytest.raises(RuntimeError, match=r"Kill the process since parameters in model 'main' diverge: "
                                           r"the parameter 'l1.weight' has nan at iteration 1"):
        run_train(tmp_path, model)


def test_inf(tmp_path):
    model = Model()
    with torch.no_grad():
        model.l1.bias[2] = float("inf")
    with pytest.raises(DivergenceError, match=r"diverge: the parameter 'l1.bias' has (inf|nan) at iteration 1"):
        run_train(tmp_path, model)


def test_check_grad(tmp_path):
    with pytest.raises(DivergenceError, match=r"the gradient of 'l1.weight' has nan at iteration 1.*R\.I\.P\."):
        run_train(tmp_path, Model(grad_error=True), optimizer_step=False)


def test_no_check_grad(tmp_path):
    iterations = []
    run_train(tmp_path, Model(grad_error=True), iterations, check_grad=False, optimizer_step=False)
    assert iterations == list(range(1, 13))


def test_check_interval(tmp_path):
    model = Model()
    with torch.no_grad():
        model.l1.weight[0, 0] = float("nan")
    iterations = []
    with pytest.raises(DivergenceError, match=r"at iteration 4;"):
        run_train(tmp_path, model, iterations, trigger=(1, "epoch"))
    assert iterations == [1, 2, 3, 4]


def fake_trainer(**models):
    return SimpleNamespace(models=models, iteration=5)


def test_finite_values_whose_sum_overflows_pass():
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.fill_(3e38)  # finite, but their float32 sum is inf
    FailOnNonNumber()(fake_trainer(gen=model))


def test_names_the_model_and_the_first_broken_parameter():
    gen, dis = torch.nn.Linear(2, 2), torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    with torch.no_grad():
        dis[1].weight[0, 1] = -float("inf")
    with pytest.raises(DivergenceError, match=r"model 'dis' diverge: the parameter '1.weight' has -inf at iteration 5"):
        FailOnNonNumber()(fake_trainer(gen=gen, dis=dis))


def test_bad_trigger():
    with pytest.raises(ValueError, match=r"Argument `period` should be a positive number of iterations, but given -1"):
        FailOnNonNumber(trigger=(-1, "iteration"))
