"""FailOnNonNumber: stop training when a parameter of a model became NaN or infinite (Chainer's, ppe's).

Training goes on computing after a weight diverged, to no use: every later loss is NaN.
This extension checks every parameter of every model of ``trainer.models`` (and, by
default, their gradients, as pytorch-pfn-extras) at each firing of its trigger, and
raises :class:`~gan_ignite.errors.DivergenceError`, a ``RuntimeError``, naming the model,
the parameter and the iteration. Its priority is a reader's, so it runs before the
snapshot of the same iteration, and the newest checkpoint holds no diverged weight.

:class:`~gan_ignite.extensions.FiniteGuard` does more (the observation's losses every
iteration, buffers, the top priority) and waits for the device only at its interval;
:class:`~gan_ignite.extensions.TrainingHealth` warns about a winning discriminator or
collapsing samples. This is the small check Chainer users know.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from gan_ignite.errors import DivergenceError, quiet_engine_echo
from gan_ignite.extensions.extension import Extension
from gan_ignite.triggers import TriggerLike, get_trigger

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["FailOnNonNumber"]


def _checked(models: Mapping[str, nn.Module], check_grad: bool) -> Iterator[tuple[str, str, Tensor]]:
    """``(model name, description, tensor)`` of every parameter, and gradient if asked."""
    for model_name, model in models.items():
        for name, param in model.named_parameters():
            yield model_name, f"the parameter '{name}'", param.detach()
            if check_grad and param.grad is not None:
                yield model_name, f"the gradient of '{name}'", param.grad.detach()


def _all_finite(tensors: list[Tensor]) -> bool:
    """Whether every element is finite, most often with one reduction per tensor and one host sync.

    A sum is non-finite if any term is (inf + -inf is NaN), so a finite total proves every
    tensor finite; a total that overflowed from finite values only costs the exact check.
    """
    if not tensors:
        return True
    device = tensors[0].device
    total = torch.stack([t.sum(dtype=torch.float32).to(device) for t in tensors]).sum()
    if math.isfinite(total.item()):
        return True
    return all(bool(t.isfinite().all()) for t in tensors)


def _kind(t: Tensor) -> str:
    return "nan" if bool(t.isnan().any()) else "inf"


class FailOnNonNumber(Extension):
    """Raises :class:`~gan_ignite.errors.DivergenceError` when a model's parameter is NaN or infinite.

    Args:
        check_grad: also check the gradients (those that exist); ``False`` skips them.
        trigger: how often to check, every iteration by default; each check reduces every
            parameter once and waits for the device once.
    """

    def __init__(self, *, check_grad: bool = True, trigger: TriggerLike = (1, "iteration")) -> None:
        get_trigger(trigger)  # a bad trigger fails here
        self.check_grad = check_grad
        self.trigger = trigger

    def initialize(self, trainer: Trainer) -> None:
        # The error is reported once, by whoever catches it; Ignite would log it as well.
        quiet_engine_echo(trainer.engine.logger)

    def __call__(self, trainer: Trainer) -> None:
        checked = list(_checked(trainer.models, self.check_grad))
        if _all_finite([t for _, _, t in checked]):
            return
        for model_name, what, t in checked:
            if not bool(t.isfinite().all()):
                raise DivergenceError(
                    f"Kill the process since parameters in model '{model_name}' diverge: {what} has {_kind(t)} "
                    f"at iteration {trainer.iteration}; lower the learning rate or resume from an earlier checkpoint. "
                    f"R.I.P."
                )
