"""TimeTrigger: fire every ``period`` seconds of training (Chainer's ``TimeTrigger``).

Named ``time_trigger`` (as in Chainer) so that no module of the package is called ``time``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gan_ignite.errors import UsageError

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["TimeTrigger"]


class TimeTrigger:
    """Fires at the first call after each multiple of ``period`` seconds of ``trainer.elapsed_time``.

    Elapsed time is the trainer's training time summed over resumed runs, so with the
    state saved a resumed run keeps the schedule. Each firing moves the next time on by
    one period (Chainer's rule): after a pause longer than several periods, the calls that
    follow fire once per missed period.

    Args:
        period: seconds between firings, positive.
    """

    def __init__(self, period: float) -> None:
        if not period > 0:
            raise UsageError(f"Argument `period` should be a positive number of seconds, but given {period!r}")
        self.period = period
        self._next_time = float(period)

    def __call__(self, trainer: Trainer, event: int | None = None) -> bool:
        """Whether ``trainer.elapsed_time`` is past the next multiple of ``period``."""
        if self._next_time < trainer.elapsed_time:
            self._next_time += self.period
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"next_time": self._next_time}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._next_time = float(state["next_time"])

    def __repr__(self) -> str:
        return f"TimeTrigger({self.period!r})"
