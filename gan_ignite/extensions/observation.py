"""observe_value and observe_lr: put a value of the trainer into the observation (Chainer's).

An observed value is one more key of ``trainer.observation``, so whatever reads the
observation (:class:`~gan_ignite.extensions.LogReport`, TensorBoard, a value trigger)
sees it like a loss. Both extensions are writers: they run before the readers of the
same iteration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from torch import Tensor
from torch.optim import Optimizer

from gan_ignite.errors import UsageError
from gan_ignite.extensions.extension import PRIORITY_WRITER, make_extension
from gan_ignite.extensions.shifts.base import target_optimizers
from gan_ignite.triggers import TriggerLike, get_trigger

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["observe_value", "observe_lr"]


def observe_value(
    observation_key: str,
    target_func: Callable[[Trainer], Any],
    trigger: TriggerLike = (1, "epoch"),
) -> Callable[[Trainer], None]:
    """An extension that records ``target_func(trainer)`` as ``trainer.observation[observation_key]``.

    Example::

        trainer.extend(observe_value("gen/weight_norm", lambda t: sum(p.norm() for p in t.models["gen"].parameters())))

    Args:
        observation_key: the key to record under.
        target_func: returns the value, given the trainer.
        trigger: when to record, every epoch by default (as Chainer); ``trainer.extend``'s
            ``trigger`` overrides it.

    Returns:
        the extension, registered by default as ``observe_<observation_key>``.
    """
    if not isinstance(observation_key, str) or not observation_key:
        raise UsageError(f"Argument `observation_key` should be a non-empty string, but given {observation_key!r}")
    if not callable(target_func):
        raise UsageError(f"Argument `target_func` should be a function of the trainer, but given {target_func!r}")
    get_trigger(trigger)  # a bad trigger fails here

    @make_extension(trigger=trigger, priority=PRIORITY_WRITER, default_name=f"observe_{observation_key}")
    def _observe_value(trainer: Trainer) -> None:
        trainer.observation[observation_key] = target_func(trainer)

    return _observe_value


def observe_lr(
    optimizer: Optimizer | str = "gen",
    observation_key: str = "lr",
    trigger: TriggerLike = (1, "iteration"),
    param_group: int = 0,
) -> Callable[[Trainer], None]:
    """An extension that records an optimizer's learning rate (``param_groups[param_group]['lr']``).

    Example::

        trainer.extend(observe_lr("gen", "gen/lr"))
        trainer.extend(observe_lr("dis", "dis/lr"))

    Args:
        optimizer: a name of ``trainer.optimizers`` or a torch Optimizer.
        observation_key: the key to record under.
        trigger: when to record. Every iteration by default, where Chainer's is every
            epoch, so that a log's interval mean is the mean learning rate of the interval.
        param_group: the index of the param group to read (pytorch-pfn-extras').

    Returns:
        the extension, registered by default as ``observe_<observation_key>``.

    Raises:
        UsageError: a bad argument; when training starts, an optimizer name the trainer
            does not have or a param group the optimizer does not have.
    """
    if optimizer is None or not isinstance(optimizer, (Optimizer, str)):
        raise UsageError(
            f"Argument `optimizer` should be an optimizer name such as 'gen' or a torch Optimizer, "
            f"but given {optimizer!r}"
        )
    if not isinstance(param_group, int) or isinstance(param_group, bool) or param_group < 0:
        raise UsageError(f"Argument `param_group` should be a non-negative integer, but given {param_group!r}")

    def learning_rate(trainer: Trainer) -> float:
        groups = target_optimizers(trainer, optimizer)[0].param_groups
        if param_group >= len(groups):
            raise UsageError(
                f"Argument `param_group` should be below the optimizer's {len(groups)} param groups, "
                f"but given {param_group}"
            )
        value = groups[param_group]["lr"]
        return float(value.item() if isinstance(value, Tensor) else value)

    def check(trainer: Trainer) -> None:
        learning_rate(trainer)  # an unknown name or group fails before the first iteration

    extension = observe_value(observation_key, learning_rate, trigger)
    extension.initialize = check  # type: ignore[attr-defined]
    return extension
