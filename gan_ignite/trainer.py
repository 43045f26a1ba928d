"""The trainer: Chainer's ``Trainer`` on an Ignite ``Engine``.

:class:`Trainer` owns an Ignite ``Engine`` whose process function is the update
function, a stop trigger, an output directory and a set of extensions. After every
iteration it runs the extensions whose trigger fires, highest priority first (Ignite
runs handlers in attachment order and has no priority, so the trainer dispatches its
extensions from one handler). Plain Ignite handlers attach to ``trainer.engine`` and run
alongside.

Extensions, hooks and callable triggers receive the trainer itself, whose public face
is Chainer's and pytorch-pfn-extras' (``docs/extensions.md``): the counters
(``iteration``, ``epoch`` completed, ``epoch_detail``, ``is_before_training``, and
``updater.iteration`` etc. for Chainer code), ``observation``, ``elapsed_time``, ``out``,
``models`` and ``optimizers`` by name, the ``reporter`` (in scope around each iteration
and each extension call, so :func:`gan_ignite.reporting.report` lands in the
observation), ``engine``, ``extend`` and ``get_extension``.

Failures follow Chainer: every extension's ``on_error`` runs, the exception propagates,
and every extension's ``finalize`` runs in any case; a hook that fails is reported on
stderr and the others still run.

The stop trigger is ``(N, 'epoch')``, ``(N, 'iteration')`` (fractional epochs too) or
any trigger object (an :class:`~gan_ignite.triggers.EarlyStoppingTrigger`). Interval
lengths become Ignite's own ``max_epochs``/``max_iters``; another trigger is asked
after every iteration, among the extensions after the readers and before the snapshots
(:data:`PRIORITY_STOP`), and ends the run when it fires, with Ignite's bound set from its
``get_training_length()`` when it has one. Chainer asks it at the top of the next
iteration instead; asking it before the snapshot makes the checkpoint of that iteration
hold its decision and its state, so a resume is exact.

Resuming is exact, also in the middle of an epoch: when the loader shuffles with a
:class:`~gan_ignite.sampling.ResumableSampler`, the trainer points it at the epoch and
position the engine's counters say at every epoch start (a plain Ignite ``Engine``
would restart a resumed epoch's data from a fresh, differently shuffled iterator), and
the sampler's seed is part of the trainer's state.

SIGINT and SIGTERM stop a run cleanly: the iteration under way finishes, the engine
stops before fetching the next batch, every extension's ``on_error`` sees a
:class:`TrainingInterrupted` (the snapshot extension saves a checkpoint there) and it
propagates.

In a run of several processes (``ignite.distributed``), each iteration's observation is
averaged over the processes before any extension sees it, and the processes agree on a
stop signal that reached any of them, in the same collective
(:func:`~gan_ignite.distributed.mean_over_processes`): all of them stop at the same
iteration boundary. A resumed run may have another number of processes if it keeps the
global batch (batch size times processes), and with it the epoch length.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ignite.engine import Engine, Events
from torch import Tensor

from torch import nn
from torch.optim import Optimizer

from gan_ignite.distributed import mean_over_processes
from gan_ignite.errors import UsageError, quiet_engine_echo
from gan_ignite.interrupt import SignalStop, TrainingInterrupted
from gan_ignite.lifecycle import PRIORITY_SNAPSHOT, ExtensionEntry, call_with_trainer, registered_name, run_guarded
from gan_ignite.reporting import Reporter
from gan_ignite.run_dir import resolve_path
from gan_ignite.sampling import ResumableSampler
from gan_ignite.stopping import as_stop_trigger, bound_iterations, ignite_bound
from gan_ignite.triggers import IntervalTrigger, TriggerLike, get_trigger, load_trigger_state, trigger_state, without_saved_state
from gan_ignite.updater_view import UpdaterView

__all__ = ["Trainer", "TrainingInterrupted", "PRIORITY_STOP"]

UpdateFn = Callable[[Engine, Any], Mapping[str, Any]]
#: Where in the order of extensions the stop trigger is asked: after the readers
#: (PRIORITY_READER, 100), before the snapshots (PRIORITY_SNAPSHOT, -100).
PRIORITY_STOP = 0


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
        stop_trigger: how long to train: ``(N, 'epoch')`` (fractional too),
            ``(N, 'iteration')`` or a trigger object such as
            :class:`~gan_ignite.triggers.EarlyStoppingTrigger`.
        out: the run directory extensions write into; ``~`` is expanded and the path made
            absolute here, once, so that every writer (Ignite's ``DiskSaver`` included)
            writes to the same place.
        models: the networks by name (reporting observers, ``trainer.models``); by
            default the update function's ``models`` mapping.
        optimizers: the optimizers by name (``trainer.optimizers``,
            ``updater.get_optimizer``); by default the update function's ``optimizers``.

    Attributes:
        stop_signals: the signals that stop ``run()`` at the next iteration boundary
            with :class:`TrainingInterrupted` (set it to ``()`` to keep Python's
            handlers); handled only when ``run()`` is called from the main thread.
        update_fn: the update function.
        updater: Chainer's updater face (:class:`~gan_ignite.updater_view.UpdaterView`):
            its counters and optimizers, and the update function's own attributes.
        stop_trigger: the stop trigger, as a trigger object.
        engine: the Ignite ``Engine``; attach any Ignite handler to it.
        observation: the latest iteration's observation.
        reporter: the :class:`~gan_ignite.reporting.Reporter` whose scope is open during
            each iteration and extension call; the models are its observers.
        images: image tensors that extensions made this iteration, by name (writers
            put sample grids here; readers such as TensorBoard log them).
    """

    stop_signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)

    def __init__(
        self,
        update_fn: UpdateFn,
        loader: Iterable,
        stop_trigger: TriggerLike = (1, "epoch"),
        out: str | Path = "result",
        *,
        models: Mapping[str, nn.Module] | None = None,
        optimizers: Mapping[str, Optimizer] | None = None,
    ) -> None:
        self.update_fn = update_fn
        self.updater = UpdaterView(self)
        self.loader = loader
        _check_length(loader)
        self.stop_trigger = as_stop_trigger(stop_trigger)
        self.out = resolve_path(out, "Argument `out`")
        self.models = dict(models if models is not None else getattr(update_fn, "models", {}))
        self.optimizers = dict(optimizers if optimizers is not None else getattr(update_fn, "optimizers", {}))
        self.reporter = Reporter()
        for name, model in self.models.items():
            self.reporter.add_observer(name, model)
            self.reporter.add_observers(name + "/", ((n, m) for n, m in model.named_modules() if n))
        self.observation: dict[str, Any] = {}
        self.images: dict[str, Tensor] = {}
        self.engine = Engine(self._process)
        self.engine.add_event_handler(Events.EPOCH_STARTED, self._position_sampler)
        self.engine.add_event_handler(Events.ITERATION_COMPLETED, self._run_extensions)
        # Checked before each batch is fetched: every handler of the previous iteration,
        # Ignite's included, has run, and no batch of the next one was taken.
        self.engine.add_event_handler(Events.GET_BATCH_STARTED, self._stop_if_signalled)
        self._stop = SignalStop()
        self._extensions: dict[str, ExtensionEntry] = {}
        self._order: list[ExtensionEntry] | None = None
        self._elapsed_before = 0.0
        self._start_time: float | None = None
        self._stopped_at: int | None = None  # the iteration a non-interval stop trigger fired at
        self._saved_data: dict[str, Any] = {}  # a resumed state's dataset size and global batch

    # -- progress ----------------------------------------------------------------------
    @property
    def epoch_length(self) -> int:
        """Iterations per epoch: the engine's, or the loader's length before a run."""
        return self.engine.state.epoch_length or len(self.loader)  # type: ignore[arg-type]

    @property
    def iteration(self) -> int:
        """Finished iterations (0 before the first)."""
        return self.engine.state.iteration

    @property
    def epoch(self) -> int:
        """Completed epochs, Chainer's ``epoch``: iteration 1 of 4 an epoch is epoch 0.

        (Ignite's ``engine.state.epoch`` is the epoch under way, counted from 1.)
        """
        length = self.epoch_length
        return self.iteration // length if length else 0

    @property
    def epoch_detail(self) -> float:
        """Epochs done, fractional within an epoch (``iteration / epoch_length``)."""
        length = self.epoch_length
        return self.iteration / length if length else 0.0

    @property
    def is_before_training(self) -> bool:
        """Whether no iteration has run yet (a resumed run is past it)."""
        return self.iteration == 0

    # -- extensions ------------------------------------------------------------------
    def extend(
        self,
        extension: Callable[[Trainer], Any],
        name: str | None = None,
        trigger: TriggerLike = None,
        priority: int | None = None,
        *,
        call_before_training: bool = False,
    ) -> None:
        """Register an extension; arguments override the extension's own defaults.

        Args:
            extension: a callable ``ext(trainer)``, usually an
                :class:`~gan_ignite.extensions.Extension` or a :func:`make_extension` function.
            name: the name to register under; by default the extension's ``name``,
                ``default_name``, ``__name__`` or class name. A name taken already gets
                ``_1``, ``_2``, ...; the registered name is written to ``extension.name``.
            trigger: when it runs; by default its ``trigger`` attribute, else every
                iteration. ``None`` as the extension's own trigger never fires.
            priority: higher runs first after the same iteration; by default its
                ``priority`` attribute, else ``PRIORITY_READER`` (100).
            call_before_training: also call it once before the first iteration.
        """
        name = registered_name(extension, name, self._extensions)
        if trigger is None:
            trigger = getattr(extension, "trigger", (1, "iteration"))
        if priority is None:
            priority = getattr(extension, "priority", 100)
        with contextlib.suppress(AttributeError, TypeError):  # a bound method takes no attributes
            extension.name = name  # type: ignore[attr-defined]
        self._extensions[name] = ExtensionEntry(name, extension, get_trigger(trigger), priority, call_before_training)
        self._order = None

    def get_extension(self, name: str) -> Any:
        """The extension registered under ``name``.

        Raises:
            ValueError: no extension has that name (the message lists the registered ones).
        """
        if name not in self._extensions:
            raise ValueError(f"No extension named {name!r}; registered: {', '.join(self._extensions) or 'none'}")
        return self._extensions[name].extension

    def _ordered(self) -> list[ExtensionEntry]:
        if self._order is None:
            # sorted() is stable: equal priorities keep their registration order.
            self._order = sorted(self._extensions.values(), key=lambda e: -e.priority)
        return self._order

    def _run_extensions(self, engine: Engine) -> None:
        asked, snapshots = False, []
        with self.reporter.scope(self.observation):
            for entry in self._ordered():
                if not asked and entry.priority < PRIORITY_STOP:
                    self._ask_stop_trigger()
                    asked = True
                if not entry.trigger(self):
                    continue
                # Snapshots run once every trigger was asked (pytorch-pfn-extras' rule): a
                # checkpoint then holds every trigger's state of this iteration, another
                # snapshot's included, and none fires again after a resume.
                if entry.priority <= PRIORITY_SNAPSHOT:
                    snapshots.append(entry)
                else:
                    entry.extension(self)
            if not asked:
                self._ask_stop_trigger()
            for entry in snapshots:
                entry.extension(self)
        if self._stopped_at == self.iteration:
            engine.terminate()

    def _ask_stop_trigger(self) -> None:
        # After the readers, before the snapshots: a checkpoint of this iteration holds
        # the trigger's decision, so a resumed run stops where an uninterrupted one did.
        if isinstance(self.stop_trigger, IntervalTrigger):
            return  # Ignite's own max_epochs / max_iters end the run
        if self.stop_trigger(self) and self.iteration < bound_iterations(self.stop_trigger, self.epoch_length):
            self._stopped_at = self.iteration

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

    def _stop_if_signalled(self, engine: Engine) -> None:
        if self._stop.should_stop():
            engine.terminate(skip_completed=True)

    def _process(self, engine: Engine, batch: Any) -> dict[str, Any]:
        self.images = {}
        self.observation = {}
        with self.reporter.scope(self.observation):
            # What the update function returns joins what was reported during it.
            self.observation.update(self.update_fn(engine, batch) or {})  # Chainer's update_core returns nothing
        if self._stop.world > 1:
            self.observation, agreed = mean_over_processes(self.observation, self._stop.flags())
            self._stop.record(agreed)
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
        import ignite.distributed as idist

        self.check_not_finished()
        world = idist.get_world_size()
        if world > 1:
            quiet_engine_echo(self.engine.logger)  # a peer's loss is reported once, by the caller
        with self._stop.handling(self.stop_signals, world):
            self._run()

    def _run(self) -> None:
        entries = self._ordered()
        for entry in entries:
            # A schedule that will not fire again needs no set-up (Chainer's rule).
            if (initialize := entry.hook("initialize")) is not None and not getattr(entry.trigger, "finished", False):
                initialize(self)
        if self.is_before_training:
            self.observation = {}
            with self.reporter.scope(self.observation):
                for entry in entries:
                    if entry.call_before_training:
                        entry.extension(self)
        if self.engine.has_event_handler(_reraise, Events.EXCEPTION_RAISED):
            self.engine.remove_event_handler(_reraise, Events.EXCEPTION_RAISED)
        self.engine.add_event_handler(Events.EXCEPTION_RAISED, _reraise)
        self._start_time = time.perf_counter()
        failed = False
        try:
            self.engine.run(self.loader, **ignite_bound(self.stop_trigger, self.epoch_length))
            if self._stop.interrupted:
                self._rewind_terminated_engine()
                raise TrainingInterrupted(self._stop.signum, *self._position())
        except BaseException as exc:
            failed = True
            run_guarded(
                (e.name, "on_error", lambda hook=hook, error=exc: hook(self, error, error.__traceback__))
                for e in entries if (hook := e.hook("on_error")) is not None
            )
            raise
        finally:
            self._elapsed_before, self._start_time = self.elapsed_time, None
            failures = run_guarded(
                (e.name, "finalize", lambda hook=hook: call_with_trainer(hook, self))
                for e in entries if (hook := e.hook("finalize")) is not None
            )
            if failures and not failed:  # a failed run's own exception is the one to see
                raise failures[0]

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
        if not self.iteration:
            return
        if self._stopped_at is not None:
            raise UsageError(
                f"The run already stopped at iteration {self._stopped_at} on its stop trigger "
                f"({type(self.stop_trigger).__name__}); start a new run to train further"
            )
        bound = ignite_bound(self.stop_trigger, self.epoch_length)
        if "max_iters" in bound:
            done, goal, unit = self.iteration, bound["max_iters"], "iteration"
        else:
            done, goal, unit = self.engine.state.epoch, bound["max_epochs"], "epoch"
        if done >= goal:
            raise UsageError(
                f"The run already reached {unit} {done} of {goal}; "
                f"pass a larger number of {unit}s to continue it"
            )

    def check_same_data(self) -> None:
        """Raise :class:`UsageError` if a resumed state's data or epoch length is not the loader's.

        The data (a folder that gained images, another ``limit``) changed since the
        snapshot, or the global batch did (``batch_size`` times the processes): Ignite
        would end each epoch after the old number of batches, and the sampler's place in
        the epoch would point elsewhere.
        """
        saved_size, sampler = self._saved_data.get("size"), self.sampler
        if saved_size is not None and sampler is not None and saved_size != sampler.dataset_size:
            raise UsageError(
                f"The run was trained on {saved_size} images, but its data now has {sampler.dataset_size}: the "
                f"dataset or its settings changed since; restore them to continue the run, or start a new run"
            )
        now = len(self.loader)  # type: ignore[arg-type]
        saved = self.engine.state.epoch_length
        if not self.engine.state.iteration or saved is None or saved == now:
            return
        saved_batch, batch = self._saved_data.get("global_batch"), self._global_batch()
        if saved_batch is not None and saved_batch != batch:
            raise UsageError(
                f"The run was trained on a global batch of {saved_batch} images (batch size times processes), but "
                f"this one takes {batch}: each epoch would have another length; resume with the same global batch"
            )
        raise UsageError(
            f"The run was trained with {saved} iterations an epoch, but its data now gives {now}: the dataset "
            f"or its settings changed since; restore them to continue the run, or start a new run"
        )

    # -- state -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The engine counters, elapsed time, the sampler's seed, and every stateful
        extension's and trigger's state (the stop trigger's included)."""
        state = {
            "engine": self.engine.state_dict(),
            "elapsed_time": self.elapsed_time,
            "extensions": {
                name: entry.extension.state_dict()
                for name, entry in self._extensions.items()
                if hasattr(entry.extension, "state_dict")
            },
            "triggers": {name: trigger_state(entry.trigger) for name, entry in self._extensions.items()},
            "stop_trigger": trigger_state(self.stop_trigger),
            "stopped_at": self._stopped_at,
        }
        if self.sampler is not None:
            state["sampler"] = self.sampler.state_dict()
            state["data"] = {"size": self.sampler.dataset_size, "global_batch": self._global_batch()}
        return state

    def _global_batch(self) -> int | None:
        """Samples one iteration takes over all processes, if the loader says its batch size."""
        import ignite.distributed as idist

        batch_size = getattr(self.loader, "batch_size", None)
        return batch_size * idist.get_world_size() if isinstance(batch_size, int) else None

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._saved_data = dict(state.get("data") or {})
        self.engine.load_state_dict(state["engine"])
        self._elapsed_before = float(state["elapsed_time"])
        self._stopped_at = state.get("stopped_at")
        if self.sampler is not None and "sampler" in state:  # older checkpoints have none
            self.sampler.load_state_dict(state["sampler"])
        if "stop_trigger" in state:
            load_trigger_state(self.stop_trigger, state["stop_trigger"])
        for name, ext_state in state["extensions"].items():
            if name in self._extensions:
                self._extensions[name].extension.load_state_dict(ext_state)
        saved_triggers = state.get("triggers", {})
        for name, entry in self._extensions.items():
            if name in saved_triggers:
                load_trigger_state(entry.trigger, saved_triggers[name])
            elif "triggers" not in state:
                without_saved_state(entry.trigger)

    def to_save(self) -> dict[str, Any]:
        """What a checkpoint of this trainer holds: itself and the update function's ``to_save``.

        An update function without a ``to_save`` mapping gets the trainer's models and
        optimizers saved (``gen``, ``dis``, ``opt_gen``, ``opt_dis``, as a GANUpdater names them).
        """
        saved = getattr(self.update_fn, "to_save", None)
        if saved is None:
            saved = {**self.models, **{f"opt_{name}": opt for name, opt in self.optimizers.items()}}
        return {"trainer": self, **dict(saved)}


def _check_length(loader: Iterable) -> None:
    """Refuse a loader without a length: epochs (triggers, the log, the stop) need one.

    Ignite would learn the epoch length only after the first epoch's last batch, so epoch
    triggers would fire one iteration late, and never in a one-epoch run.
    """
    try:
        len(loader)  # type: ignore[arg-type]
    except TypeError:
        raise UsageError(
            f"Argument `loader` should have a length (epochs are counted in its batches), but given a "
            f"{type(loader).__name__}; pass a DataLoader over a map-style dataset, or a list"
        ) from None
