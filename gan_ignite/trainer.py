"""The trainer: Chainer's ``Trainer`` on an Ignite ``Engine``.

:class:`Trainer` owns an Ignite ``Engine`` whose process function is the update
function, a stop trigger, an output directory and a set of extensions. After every
iteration it runs the extensions whose trigger fires, highest priority first (Ignite
runs handlers in attachment order and has no priority, so the trainer dispatches its
extensions from one handler). Plain Ignite handlers attach to ``trainer.engine`` and run
alongside.

Failures follow Chainer: every extension's ``on_error`` runs, the exception propagates,
and every extension's ``finalize`` runs in any case.

Resuming is exact, also in the middle of an epoch: when the loader shuffles with a
:class:`~gan_ignite.sampling.ResumableSampler`, the trainer points it at the epoch and
position the engine's counters say at every epoch start (a plain Ignite ``Engine``
would restart a resumed epoch's data from a fresh, differently shuffled iterator), and
the sampler's seed is part of the trainer's state.

SIGINT and SIGTERM stop a run cleanly: the iteration under way finishes, the engine
stops before fetching the next batch, every extension's ``on_error`` sees a
:class:`TrainingInterrupted` (the snapshot extension saves a checkpoint there) and it
propagates.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ignite.engine import Engine, Events
from torch import Tensor

from gan_ignite.errors import UsageError
from gan_ignite.run_dir import resolve_path
from gan_ignite.sampling import ResumableSampler
from gan_ignite.triggers import TriggerLike, get_trigger

__all__ = ["Trainer", "TrainingInterrupted"]

UpdateFn = Callable[[Engine, Any], Mapping[str, float]]


@dataclass
class _Entry:
    extension: Any
    trigger: Callable[..., bool]
    priority: int

    def hook(self, name: str) -> Callable[..., None] | None:
        return getattr(self.extension, name, None)


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


def _reraise(engine: Engine, exc: BaseException) -> None:
    # Attached last: Ignite swallows exceptions once any EXCEPTION_RAISED handler exists.
    raise exc


class Trainer:
    """Runs an update function over a data loader until a stop trigger, with extensions.

    Args:
        update_fn: an Ignite process function ``(engine, batch) -> observation dict``,
            e.g. a :class:`~gan_ignite.updaters.GANUpdater`. If it has a ``to_save``
            mapping (models, optimizers), snapshots save it.
        loader: the training data, an iterable of batches with a length.
        stop_trigger: ``(N, 'epoch')`` or ``(N, 'iteration')``: how long to train.
        out: the run directory extensions write into; ``~`` is expanded and the path made
            absolute here, once, so that every writer (Ignite's ``DiskSaver`` included)
            writes to the same place.

    Attributes:
        stop_signals: the signals that stop ``run()`` at the next iteration boundary
            with :class:`TrainingInterrupted` (set it to ``()`` to keep Python's
            handlers); handled only when ``run()`` is called from the main thread.
        engine: the Ignite ``Engine``; attach any Ignite handler to it.
        observation: the latest iteration's observation.
        images: image tensors that extensions made this iteration, by name (writers
            put sample grids here; readers such as TensorBoard log them).
    """

    stop_signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)

    def __init__(
        self,
        update_fn: UpdateFn,
        loader: Iterable,
        stop_trigger: tuple[int, str] = (1, "epoch"),
        out: str | Path = "result",
    ) -> None:
        self.updater = update_fn
        self.loader = loader
        self.stop_kwargs = _stop_kwargs(stop_trigger)
        self.out = resolve_path(out, "Argument `out`")
        self.observation: dict[str, float] = {}
        self.images: dict[str, Tensor] = {}
        self.engine = Engine(self._process)
        self.engine.add_event_handler(Events.EPOCH_STARTED, self._position_sampler)
        self.engine.add_event_handler(Events.ITERATION_COMPLETED, self._run_extensions)
        # Checked before each batch is fetched: every handler of the previous iteration,
        # Ignite's included, has run, and no batch of the next one was taken.
        self.engine.add_event_handler(Events.GET_BATCH_STARTED, self._stop_if_signalled)
        self._signal: int | None = None
        self._interrupted = False
        self._extensions: dict[str, _Entry] = {}
        self._order: list[_Entry] | None = None
        self._elapsed_before = 0.0
        self._start_time: float | None = None

    # -- extensions ------------------------------------------------------------------
    def extend(
        self,
        extension: Callable[[Trainer], None],
        name: str | None = None,
        trigger: TriggerLike = None,
        priority: int | None = None,
    ) -> None:
        """Register an extension; arguments override the extension's own defaults."""
        name = name or getattr(extension, "default_name", None) or type(extension).__name__
        if name in self._extensions:
            raise UsageError(f"An extension named {name!r} is already registered; pass another `name`")
        trigger = trigger if trigger is not None else getattr(extension, "trigger", None)
        priority = priority if priority is not None else getattr(extension, "priority", 100)
        self._extensions[name] = _Entry(extension, get_trigger(trigger), priority)
        self._order = None

    def get_extension(self, name: str) -> Any:
        """The extension registered under ``name``."""
        if name not in self._extensions:
            raise KeyError(f"No extension named {name!r}; registered: {', '.join(self._extensions)}")
        return self._extensions[name].extension

    def _ordered(self) -> list[_Entry]:
        if self._order is None:
            # sorted() is stable: equal priorities keep their registration order.
            self._order = sorted(self._extensions.values(), key=lambda e: -e.priority)
        return self._order

    def _run_extensions(self, engine: Engine) -> None:
        for entry in self._ordered():
            if entry.trigger(engine):
                entry.extension(self)

    # -- the loop --------------------------------------------------------------------
    @property
    def sampler(self) -> ResumableSampler | None:
        """The loader's :class:`~gan_ignite.sampling.ResumableSampler`, if it has one."""
        sampler = getattr(self.loader, "sampler", None)
        return sampler if isinstance(sampler, ResumableSampler) else None

    def _position_sampler(self, engine: Engine) -> None:
        sampler, state = self.sampler, engine.state
        if sampler is None or not state.epoch_length:
            return
        # Mid-epoch after a resume, Ignite fetches only the epoch's remaining batches
        # from a fresh iterator: start the epoch's order after the ones already done.
        done = state.iteration % state.epoch_length
        sampler.set_epoch(state.epoch - 1, start=done * self.loader.batch_size)

    def _request_stop(self, signum: int, frame: Any) -> None:
        self._signal = signum  # only a flag: the iteration under way must finish

    def _stop_if_signalled(self, engine: Engine) -> None:
        if self._signal is not None and not self._interrupted:
            self._interrupted = True
            engine.terminate(skip_completed=True)

    @contextlib.contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        """Handle ``stop_signals`` while the block runs, then restore the previous handlers."""
        self._signal, self._interrupted = None, False
        if threading.current_thread() is not threading.main_thread():
            yield  # Python delivers signals to the main thread only
            return
        previous = {signum: signal.getsignal(signum) for signum in self.stop_signals}
        for signum in previous:
            signal.signal(signum, self._request_stop)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, signal.SIG_DFL if handler is None else handler)

    def _process(self, engine: Engine, batch: Any) -> dict[str, float]:
        self.images = {}
        self.observation = dict(self.updater(engine, batch))
        return self.observation

    @property
    def elapsed_time(self) -> float:
        """Seconds spent in ``run()``, summed over resumed runs."""
        running = 0.0 if self._start_time is None else time.perf_counter() - self._start_time
        return self._elapsed_before + running

    def run(self) -> None:
        """Train until the stop trigger, with Chainer's failure semantics.

        Raises:
            TrainingInterrupted: a signal of ``stop_signals`` arrived; the run stopped
                after the iteration under way, and every ``on_error`` saw it.
        """
        self.check_not_finished()
        with self._stop_on_signals():
            self._run()

    def _run(self) -> None:
        entries = self._ordered()
        for entry in entries:
            if (initialize := entry.hook("initialize")) is not None:
                initialize(self)
        if self.engine.has_event_handler(_reraise, Events.EXCEPTION_RAISED):
            self.engine.remove_event_handler(_reraise, Events.EXCEPTION_RAISED)
        self.engine.add_event_handler(Events.EXCEPTION_RAISED, _reraise)
        self._start_time = time.perf_counter()
        try:
            self.engine.run(self.loader, **self.stop_kwargs)
            if self._interrupted:
                self._rewind_terminated_engine()
                raise TrainingInterrupted(self._signal, *self._position())
        except BaseException as exc:
            for entry in entries:
                if (on_error := entry.hook("on_error")) is not None:
                    on_error(self, exc, exc.__traceback__)
            raise
        finally:
            self._elapsed_before, self._start_time = self.elapsed_time, None
            for entry in entries:
                if (finalize := entry.hook("finalize")) is not None:
                    finalize(self)

    def _rewind_terminated_engine(self) -> None:
        # After terminate() Ignite would start a new epoch on the next run(); reloading
        # the counters makes it continue the interrupted one, as a resume from disk does.
        self.engine.should_terminate = False
        self.engine.load_state_dict(self.engine.state_dict())

    def _position(self) -> tuple[int, int]:
        """The last finished iteration and the epoch it belongs to."""
        state = self.engine.state
        epoch = (state.iteration - 1) // state.epoch_length + 1 if state.iteration and state.epoch_length else 0
        return state.iteration, epoch

    def check_not_finished(self) -> None:
        """Raise :class:`UsageError` if a resumed state already reached the stop trigger.

        Ignite would silently restart such a run from scratch.
        """
        state = self.engine.state
        if not state.iteration:
            return
        if "max_iters" in self.stop_kwargs:
            done, goal, unit = state.iteration, self.stop_kwargs["max_iters"], "iteration"
        else:
            done, goal, unit = state.epoch, self.stop_kwargs["max_epochs"], "epoch"
        if done >= goal:
            raise UsageError(
                f"The run already reached {unit} {done} of {goal}; "
                f"pass a larger number of {unit}s to continue it"
            )

    def check_same_data(self) -> None:
        """Raise :class:`UsageError` if a resumed state's epoch length is not the loader's.

        The data (a folder that gained images, another ``limit``) changed since the
        snapshot: Ignite would end each epoch after the old number of batches, and the
        sampler's place in the epoch would point elsewhere.
        """
        try:
            now = len(self.loader)  # type: ignore[arg-type]
        except TypeError:  # an iterable without a length: nothing to compare
            return
        saved = self.engine.state.epoch_length
        if self.engine.state.iteration and saved is not None and saved != now:
            raise UsageError(
                f"The run was trained with {saved} iterations an epoch, but its data now gives {now}: the dataset "
                f"or its settings changed since; restore them to continue the run, or start a new run"
            )

    # -- state -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The engine counters, elapsed time, the sampler's seed and every stateful extension's state."""
        state = {
            "engine": self.engine.state_dict(),
            "elapsed_time": self.elapsed_time,
            "extensions": {
                name: entry.extension.state_dict()
                for name, entry in self._extensions.items()
                if hasattr(entry.extension, "state_dict")
            },
        }
        if self.sampler is not None:
            state["sampler"] = self.sampler.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.engine.load_state_dict(state["engine"])
        self._elapsed_before = float(state["elapsed_time"])
        if self.sampler is not None and "sampler" in state:  # older checkpoints have none
            self.sampler.load_state_dict(state["sampler"])
        for name, ext_state in state["extensions"].items():
            if name in self._extensions:
                self._extensions[name].extension.load_state_dict(ext_state)

    def to_save(self) -> dict[str, Any]:
        """What a checkpoint of this trainer holds: itself and the updater's ``to_save``."""
        return {"trainer": self, **dict(getattr(self.updater, "to_save", {}))}


def _stop_kwargs(stop_trigger: tuple[int, str]) -> dict[str, int]:
    try:
        length, unit = stop_trigger
    except (TypeError, ValueError):
        raise UsageError(f"Argument `stop_trigger` should be (N, 'epoch' | 'iteration'), but given {stop_trigger!r}")
    if unit not in ("epoch", "iteration") or not isinstance(length, int) or length < 1:
        raise UsageError(
            f"Argument `stop_trigger` should be a positive integer number of epochs or iterations, "
            f"but given {stop_trigger!r}"
        )
    return {"max_epochs": length} if unit == "epoch" else {"max_iters": length}
