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

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from torch import Tensor, nn

from gan_ignite.errors import DivergenceError, quiet_engine_echo
from gan_ignite.extensions._non_finite import kind, non_finite_weight
from gan_ignite.extensions.extension import Extension
from gan_ignite.triggers import TriggerLike, get_trigger

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["FailOnNonNumber"]


def _checked(models: Mapping[str, nn.Module], check_grad: bool) -> Iterator[tuple[tuple[str, str], Tensor]]:
    """``((model name, description), tensor)`` of every parameter, and gradient if asked."""
    for model_name, model in models.items():
        for name, param in model.named_parameters():
            yield (model_name, f"the parameter '{name}'"), param.detach()
            if check_grad and param.grad is not None:
                yield (model_name, f"the gradient of '{name}'"), param.grad.detach()


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
        found = non_finite_weight(_checked(trainer.models, self.check_grad))
        if found is None:
            return
        (model_name, what), value = found
        raise DivergenceError(
            f"Kill the process since parameters in model '{model_name}' diverge: {what} has {kind(value)} "
            f"at iteration {trainer.iteration}; lower the learning rate or resume from an earlier checkpoint. "
            f"R.I.P."
        )
