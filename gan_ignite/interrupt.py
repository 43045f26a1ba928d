"""Stopping a run cleanly on SIGINT or SIGTERM.

The trainer turns a signal into a flag; the iteration under way finishes, the engine
stops before fetching the next batch, and :class:`TrainingInterrupted` reaches every
extension's ``on_error`` (the snapshot saves the run there) and then the caller.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["TrainingInterrupted", "handle_signals"]


class TrainingInterrupted(KeyboardInterrupt):
    """A run stopped by a signal at an iteration boundary (a ``KeyboardInterrupt``).

    Raised by :meth:`Trainer.run` after ``iteration`` finished completely (every
    extension and Ignite handler ran), so a checkpoint taken then resumes exactly.

    Attributes:
        signum: the signal, e.g. ``signal.SIGINT`` (2) or ``signal.SIGTERM`` (15).
        iteration: the last finished iteration.
        epoch: the epoch that iteration belongs to (from 1; 0 before the first).
    """

    def __init__(self, signum: int, iteration: int, epoch: int) -> None:
        super().__init__(f"{signal.Signals(signum).name} at iteration {iteration} (epoch {epoch})")
        self.signum, self.iteration, self.epoch = signum, iteration, epoch


@contextlib.contextmanager
def handle_signals(signals: tuple[int, ...], handler: Callable[[int, Any], None]) -> Iterator[None]:
    """Handle ``signals`` with ``handler`` while the block runs, then restore the previous handlers.

    Python delivers signals to the main thread only; in another thread nothing is changed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in signals}
    for signum in previous:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, signal.SIG_DFL if old is None else old)
