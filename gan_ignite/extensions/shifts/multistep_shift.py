"""MultistepShift: multiply a hyperparameter by a factor at given calls (Chainer's)."""

from __future__ import annotations

from collections.abc import Sequence

from gan_ignite.errors import UsageError
from gan_ignite.extensions.shifts.base import OptimizerLike, Shift, is_number

__all__ = ["MultistepShift"]


class MultistepShift(Shift):
    """Multiplies a hyperparameter by ``gamma`` at each of the given calls.

    With ``init = x``, ``gamma = y`` and ``step_value = [s1, s2, s3]`` the value is ``x``
    before call ``s1``, ``x * y`` from call ``s1``, ``x * y**2`` from ``s2`` and
    ``x * y**3`` from ``s3`` on. Chainer's table with 2.0, 0.1, [1, 3, 5], called every
    iteration: 2.0, 0.2, 0.2, 0.02, 0.02, 0.002 for iterations 1-6.

    Args:
        attr: the hyperparameter, a key of the optimizer's param groups.
        gamma: the factor at each step.
        step_value: the calls that start a step, increasing positive integers.
        init: the value before the first step; ``None`` reads each param group's own.
        optimizer: a torch Optimizer, a name of ``trainer.optimizers``, or ``None`` for
            every optimizer of the trainer (Chainer's default is the ``'main'`` one).
    """

    def __init__(
        self, attr: str, gamma: float, step_value: Sequence[int], init: float | None,
        optimizer: OptimizerLike = None,
    ) -> None:
        super().__init__(attr, optimizer)
        if not is_number(gamma):
            raise UsageError(f"Argument `gamma` should be a number, but given {gamma!r}")
        if not _increasing_positive(step_value):
            # Increasing steps make the value a function of t alone, the same as Chainer's
            # counter that moves at most one step per call.
            raise UsageError(f"Argument `step_value` should be increasing positive integers, but given {step_value!r}")
        if init is not None and not is_number(init):
            raise UsageError(f"Argument `init` should be a number or None, but given {init!r}")
        self.gamma, self.step_value, self.init = gamma, list(step_value), init

    def value(self, t: int, start: float) -> float:
        init = start if self.init is None else self.init
        return init * self.gamma ** sum(1 for step in self.step_value if step <= t)


def _increasing_positive(steps: object) -> bool:
    if not isinstance(steps, Sequence) or isinstance(steps, str) or not steps:
        return False
    if any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in steps):
        return False
    return all(a < b for a, b in zip(steps, steps[1:]))
