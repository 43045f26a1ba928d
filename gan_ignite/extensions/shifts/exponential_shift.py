"""ExponentialShift: multiply a hyperparameter by a rate at each call (Chainer's)."""

from __future__ import annotations

from gan_ignite.errors import UsageError
from gan_ignite.extensions.shifts.base import OptimizerLike, Shift, is_number

__all__ = ["ExponentialShift"]


class ExponentialShift(Shift):
    """Multiplies a hyperparameter by ``rate`` at each call: ``init * rate ** t``.

    The typical use is an exponential decay of the learning rate. With ``target`` the
    shift stops at that value (a floor when ``rate < 1``, a ceiling when ``rate > 1``;
    negative values work too). Chainer's table, called every 4 iterations from 2.0 with
    rate 0.5: 2.0 for iterations 1-4, 1.0 for 5-8, 0.5 for 9-12; with ``target=1.2``:
    2.0, 1.2, 1.2.

    Args:
        attr: the hyperparameter, a key of the optimizer's param groups (``'lr'``).
        rate: the factor per call, positive.
        init: the starting value; ``None`` reads each param group's own value at the start.
        target: the value where the shift stops (non-zero); ``None`` for none.
        optimizer: a torch Optimizer, a name of ``trainer.optimizers``, or ``None`` for
            every optimizer of the trainer (Chainer's default is the ``'main'`` one).
    """

    def __init__(
        self, attr: str, rate: float, init: float | None = None, target: float | None = None,
        optimizer: OptimizerLike = None,
    ) -> None:
        super().__init__(attr, optimizer)
        if not is_number(rate) or rate <= 0:
            raise UsageError(f"Argument `rate` should be positive, but given {rate!r}")
        if init is not None and not is_number(init):
            raise UsageError(f"Argument `init` should be a number or None, but given {init!r}")
        if target is not None and (not is_number(target) or target == 0):
            raise UsageError(f"Argument `target` should be a non-zero number or None, but given {target!r}")
        self.rate, self.init, self.target = rate, init, target

    def value(self, t: int, start: float) -> float:
        init = start if self.init is None else self.init
        if t == 0:
            return init  # as Chainer's initialize: the starting value, not clipped
        value = init * self.rate**t
        if self.target is not None:
            # Chainer's ratio test: a min / max by magnitude that also holds for negative values.
            ratio = value / self.target
            if (self.rate > 1 and ratio > 1) or (self.rate <= 1 and ratio < 1):
                value = self.target
        return value
