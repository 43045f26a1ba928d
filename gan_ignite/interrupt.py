"""Stopping a run cleanly on SIGINT or SIGTERM.

The trainer turns a signal into a flag (:class:`SignalStop`); the iteration under way
finishes, the engine stops before fetching the next batch, and
:class:`TrainingInterrupted` reaches every extension's ``on_error`` (the snapshot saves
the run there) and then the caller. In a run of several processes, the flags travel
with each iteration's collective, so that every process stops at the same boundary.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["TrainingInterrupted", "SignalStop", "handle_signals"]


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


class SignalStop:
    """Which stop signal arrived, and whether to stop now, agreed between processes.

    A signal only sets a flag: the iteration under way must finish. Alone, a process
    stops at the next boundary after its signal. In a run of several processes each
    iteration's collective carries every process's :meth:`flags` and gives back how many
    processes had each signal (:meth:`record`); all stop at the same boundary, with the
    first signal of the handled ones that any process had, also those it never reached.
    On CUDA the counts of the iteration before the last are read (the host does not wait
    for the device), so the processes stop one iteration later than alone.

    Attributes:
        signum: the signal to stop with, ``None`` while none arrived.
        interrupted: whether :meth:`should_stop` said to stop (it says so once).
        world: the number of processes of the run.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.interrupted = False
        self.world = 1
        self._signals: tuple[int, ...] = ()
        # Per iteration: how many processes had each signal, and (on a device) the event
        # that marks the end of its copy to the host.
        self._agreed: list[tuple[Tensor, Any]] = []

    def handling(self, signals: tuple[int, ...], world: int) -> contextlib.AbstractContextManager[None]:
        """Reset, and handle ``signals`` while the block runs (:func:`handle_signals`)."""
        self.signum, self.interrupted, self._agreed = None, False, []
        self._signals, self.world = tuple(signals), world
        return handle_signals(self._signals, self._request)

    def _request(self, signum: int, frame: Any) -> None:
        self.signum = signum

    def flags(self) -> list[float]:
        """This process's flag per handled signal, 1.0 where it arrived, for the collective."""
        return [float(self.signum == signum) for signum in self._signals]

    def record(self, counts: Tensor) -> None:
        """Keep one iteration's result of the collective: the processes that had each signal."""
        self._agreed.append(_host_copy(counts))

    def should_stop(self) -> bool:
        """Whether to stop before the next batch; ``True`` once, then ``False``."""
        if self.interrupted:
            return False
        if self.world > 1:
            signum = self._agreed_signal()
            if signum is None:
                return False
            self.signum = signum  # every process stops with the same signal
        elif self.signum is None:
            return False
        self.interrupted = True
        return True

    def _agreed_signal(self) -> int | None:
        # On a device the agreement of the iteration before the last is read, from a copy
        # that iteration's collective queued: the host never waits for the iteration the
        # device still runs. Every process reads the same iteration's.
        lag = 1 if self._agreed and self._agreed[-1][1] is not None else 0
        while len(self._agreed) > lag:
            counts, copied = self._agreed.pop(0)
            if copied is not None:
                copied.synchronize()
            for signum, count in zip(self._signals, counts.tolist()):
                if count > 0:
                    return signum
        return None


def _host_copy(counts: Tensor) -> tuple[Tensor, Any]:
    """``counts`` on the host: at once on the CPU; on CUDA a copy queued into pinned memory, with its event."""
    if counts.device.type != "cuda":
        return counts, None
    import torch

    host = torch.empty(counts.shape, dtype=counts.dtype, pin_memory=True)
    host.copy_(counts, non_blocking=True)
    event = torch.cuda.Event()
    event.record()
    return host, event
