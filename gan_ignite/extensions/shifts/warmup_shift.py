"""WarmupShift: move a hyperparameter evenly to its value over the first calls (Chainer's)."""

from __future__ import annotations

from gan_ignite.errors import UsageError
from gan_ignite.extensions.shifts.base import OptimizerLike, Shift, is_number

__all__ = ["WarmupShift"]


class WarmupShift(Shift):
    """Moves a hyperparameter evenly from ``warmup_start`` to ``init`` over the first calls.

    With ``warmup_start = x``, ``init = y`` and ``warmup_iter = n`` the value after call
    ``t <= n`` is ``(t * y + (n - t) * x) / n``; after that the extension leaves it alone,
    so another shift may take over. Chainer's table with 0.1 to 1 over 100 calls: 0.1 at
    iteration 1, 0.991 at 100, 1 from 101 on.

    Args:
        attr: the hyperparameter, a key of the optimizer's param groups.
        warmup_start: the value at the start; ``None`` reads each param group's own.
        warmup_iter: the number of calls the warm-up takes, positive.
        init: the value after the warm-up.
        optimizer: a torch Optimizer, a name of ``trainer.optimizers``, or ``None`` for
            every optimizer of the trainer (Chainer's default is the ``'main'`` one).
    """

    def __init__(
        self, attr: str, warmup_start: float | None, warmup_iter: int, init: float,
        optimizer: OptimizerLike = None,
    ) -> None:
        super().__init__(attr, optimizer)
        if warmup_start is not None and not is_number(warmup_start):
            raise UsageError(f"Argument `warmup_start` should be a number or None, but given {warmup_start!r}")
        if not isinstance(warmup_iter, int) or isinstance(warmup_iter, bool) or warmup_iter < 1:
            raise UsageError(f"Argument `warmup_iter` should be a positive integer, but given {warmup_iter!r}")
        if not is_number(init):
            raise UsageError(f"Argument `init` should be a number, but given {init!r}")
        self.warmup_start, self.warmup_iter, self.init = warmup_start, warmup_iter, init

    def value(self, t: int, start: float) -> float | None:
        if t > self.warmup_iter:
            return None  # warmed up: leave the value to whatever comes next
        begin = start if self.warmup_start is None else self.warmup_start
        return (t * self.init + (self.warmup_iter - t) * begin) / self.warmup_iter
