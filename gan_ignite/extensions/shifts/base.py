"""The base of the hyperparameter shifts, and how an ``optimizer`` argument names optimizers."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Union

from torch import Tensor
from torch.optim import Optimizer

from gan_ignite.errors import UsageError
from gan_ignite.extensions.extension import Extension

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["Shift", "OptimizerLike", "target_optimizers", "check_optimizer", "is_number"]

OptimizerLike = Union[Optimizer, str, None]


def check_optimizer(optimizer: OptimizerLike) -> None:
    """Raise :class:`UsageError` unless ``optimizer`` is an Optimizer, a name or ``None``."""
    if optimizer is not None and not isinstance(optimizer, (Optimizer, str)):
        raise UsageError(
            f"Argument `optimizer` should be a torch Optimizer, an optimizer name such as 'gen', or None, "
            f"but given {optimizer!r}"
        )


def target_optimizers(trainer: Trainer, optimizer: OptimizerLike) -> list[Optimizer]:
    """The optimizers ``optimizer`` stands for: itself, ``trainer.optimizers[name]``, or all of them.

    Raises:
        UsageError: an unknown name, or ``None`` with a trainer that has no optimizers.
    """
    if isinstance(optimizer, Optimizer):
        return [optimizer]
    if optimizer is None:
        if not trainer.optimizers:
            raise UsageError("The trainer has no optimizers; pass `optimizer` (a torch Optimizer)")
        return list(trainer.optimizers.values())
    if optimizer not in trainer.optimizers:
        names = ", ".join(repr(name) for name in trainer.optimizers) or "none"
        raise UsageError(
            f"Argument `optimizer` should be one of the trainer's optimizers {names}, but given {optimizer!r}"
        )
    return [trainer.optimizers[optimizer]]


def is_number(value: Any) -> bool:
    """Whether ``value`` is a finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _read(group: dict[str, Any], attr: str) -> float:
    if attr not in group:
        known = ", ".join(repr(key) for key in group if key != "params")
        raise UsageError(f"Argument `attr` should be a hyperparameter of the optimizer ({known}), but given {attr!r}")
    value = group[attr]
    return float(value.item() if isinstance(value, Tensor) else value)


def _write(group: dict[str, Any], attr: str, value: float) -> None:
    if isinstance(group[attr], Tensor):  # a tensor learning rate (capturable optimizers) is set in place
        group[attr].fill_(value)
    else:
        group[attr] = value


class Shift(Extension):
    """Sets ``param_group[attr]`` of the target optimizers to ``value(t, start)`` after each call.

    Subclasses define :meth:`value`. ``initialize`` sets ``value(0, start)`` (or, on
    resume, the values set last); each call adds one to ``t`` and sets ``value(t, start)``.

    Args:
        attr: the hyperparameter, a key of the optimizer's param groups (``'lr'``).
        optimizer: a torch Optimizer, a name of ``trainer.optimizers``, or ``None`` for
            every optimizer of the trainer (Chainer's default is the ``'main'`` one).
    """

    def __init__(self, attr: str, optimizer: OptimizerLike = None) -> None:
        if not isinstance(attr, str):
            raise UsageError(f"Argument `attr` should be a hyperparameter name such as 'lr', but given {attr!r}")
        check_optimizer(optimizer)
        self.attr = attr
        self.optimizer = optimizer
        self._t = 0
        self._starts: list[list[float]] | None = None  # per target optimizer, per param group
        self._last_values: list[list[float]] | None = None

    def value(self, t: int, start: float) -> float | None:
        """The value after ``t`` calls (``None`` leaves the hyperparameter as it is).

        Args:
            t: the number of calls so far, 0 in ``initialize``.
            start: the param group's value when training began, for schedules whose
                starting value is read from the optimizer.
        """
        raise NotImplementedError

    @property
    def t(self) -> int:
        """The number of calls so far."""
        return self._t

    @property
    def last_values(self) -> list[list[float]] | None:
        """The values set last, per target optimizer and param group (``None`` before any)."""
        return self._last_values

    def initialize(self, trainer: Trainer) -> None:
        targets = self._targets(trainer)
        if self._last_values is not None:  # resuming: put back what this extension set last,
            if self._sets_a_value():  # unless its schedule ended (a warm-up handed over to another shift)
                self._apply(targets, self._last_values)
        else:
            self._shift(targets)

    def __call__(self, trainer: Trainer) -> None:
        self._t += 1
        self._shift(self._targets(trainer))

    def _targets(self, trainer: Trainer) -> list[Optimizer]:
        """The target optimizers; the first time, their starting values are read."""
        targets = target_optimizers(trainer, self.optimizer)
        if self._starts is None:
            self._starts = [[_read(group, self.attr) for group in opt.param_groups] for opt in targets]
        shape = [len(opt.param_groups) for opt in targets]
        if shape != [len(starts) for starts in self._starts]:
            raise UsageError(
                f"{type(self).__name__} was saved for optimizers with {[len(s) for s in self._starts]} param "
                f"groups, but its optimizers now have {shape}; shift the same optimizers as the saved run"
            )
        return targets

    def _sets_a_value(self) -> bool:
        return all(self.value(self._t, start) is not None for starts in self._starts or [] for start in starts)

    def _shift(self, targets: list[Optimizer]) -> None:
        values = [[self.value(self._t, start) for start in starts] for starts in self._starts or []]
        if all(value is not None for group_values in values for value in group_values):
            self._apply(targets, values)

    def _apply(self, targets: list[Optimizer], values: list[list[float]]) -> None:
        for opt, group_values in zip(targets, values):
            for group, value in zip(opt.param_groups, group_values):
                _write(group, self.attr, value)
        self._last_values = [list(group_values) for group_values in values]

    def state_dict(self) -> dict[str, Any]:
        return {"t": self._t, "starts": self._starts, "last_values": self._last_values}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._t = int(state["t"])
        self._starts = state["starts"]
        self._last_values = state["last_values"]
