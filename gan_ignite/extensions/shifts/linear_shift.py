"""LinearShift: move a hyperparameter linearly between two values over a range of calls (Chainer's)."""

from __future__ import annotations

from collections.abc import Sequence

from gan_ignite.errors import UsageError
from gan_ignite.extensions.shifts.base import OptimizerLike, Shift, is_number

__all__ = ["LinearShift"]


class LinearShift(Shift):
    """Moves a hyperparameter linearly from one value to another over a range of calls.

    With ``value_range == (x, y)`` and ``time_range == (i, j)`` the value is ``x`` up to
    the ``i``-th call, goes linearly to ``y`` by the ``j``-th, and stays ``y`` after it.
    Chainer's table, called every 2 iterations with (2.0, 6.0) over calls (1, 3): 2.0 for
    iterations 1-4, 4.0 for 5-6, 6.0 from 7 on. The typical use is warming up momentum.

    Args:
        attr: the hyperparameter, a key of the optimizer's param groups.
        value_range: the first and the last value.
        time_range: the first and the last call of the change, ``0 <= i <= j``.
        optimizer: a torch Optimizer, a name of ``trainer.optimizers``, or ``None`` for
            every optimizer of the trainer (Chainer's default is the ``'main'`` one).
    """

    def __init__(
        self, attr: str, value_range: tuple[float, float], time_range: tuple[int, int],
        optimizer: OptimizerLike = None,
    ) -> None:
        super().__init__(attr, optimizer)
        if not (isinstance(value_range, Sequence) and len(value_range) == 2 and all(map(is_number, value_range))):
            raise UsageError(f"Argument `value_range` should be a pair of numbers, but given {value_range!r}")
        if not (
            isinstance(time_range, Sequence) and len(time_range) == 2
            and all(isinstance(t, int) and not isinstance(t, bool) for t in time_range)
            and 0 <= time_range[0] <= time_range[1]
        ):
            raise UsageError(
                f"Argument `time_range` should be a pair of integers 0 <= i <= j, but given {time_range!r}"
            )
        self.value_range, self.time_range = tuple(value_range), tuple(time_range)

    def value(self, t: int, start: float) -> float:
        (t1, t2), (v1, v2) = self.time_range, self.value_range
        if t <= t1:
            return v1
        if t >= t2:
            return v2
        return v1 + (t - t1) / (t2 - t1) * (v2 - v1)
