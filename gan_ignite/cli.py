"""Running an experiment from the command line: checks, run directory, resume, clean errors.

:func:`run_experiment` is what every ``python -m experiments.NAME`` ends with. It checks
the run directory against ``--resume`` / ``--force``, builds the trainer, takes the run
directory's lock, resumes from the newest checkpoint that verifies when asked, writes
``run.json`` and ``config.json``, and trains. Bad input ends with one line on stderr and
exit status 2, before anything in the run directory is touched; so do a full disk and a
failed allocation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shlex
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

import ignite.distributed as idist

from gan_ignite.config import ExperimentConfig
from gan_ignite.distributed import is_main_process
from gan_ignite.errors import (
    USER_ERRORS, UsageError, allocation, disk_full, fail, lost_contact, one_line, out_of_memory,
)
from gan_ignite.extensions.snapshot import (
    latest_checkpoint, latest_verified_checkpoint, load_snapshot, no_space_left,
)
from gan_ignite.launch import check_launch, launch, share_cpu_threads, spawns, started_for_the_run
from gan_ignite.run_env import launcher_rank, under_launcher
from gan_ignite.options import shown_as_flags
from gan_ignite.registry import experiment_names, experiment_of, load_experiment, module_name
from gan_ignite.run_dir import (
    CHECKPOINTS, CONFIG, RunLock, checkpoint_name, check_folders_writable, check_same_experiment, check_writable_dir,
    foreign_entries, read_marker, removable_files, remove_files, write_atomic, write_marker,
)
from gan_ignite.summary import final_summary
from gan_ignite.trainer import Trainer, TrainingInterrupted

__all__ = ["run_experiment", "resume_command", "console_main", "fail"]

C = TypeVar("C", bound=ExperimentConfig)


@dataclasses.dataclass
class _Plan:
    """What starting the run will do to its directory."""

    checkpoint: Path | None = None  # to resume from
    notes: list[str] = dataclasses.field(default_factory=list)  # checkpoints passed over, and why
    removals: list[Path] | None = None  # what --force deletes


def plan_run_dir(config: ExperimentConfig, experiment: str, verify: bool = True) -> _Plan:
    """Check ``--out`` against ``--resume``/``--force``; what starting the run there will do.

    A new run goes into a new or empty directory; ``--force`` replaces a run, and only if
    the directory holds nothing but what that run wrote; ``--resume`` continues a run of
    the same experiment from its newest checkpoint that verifies (without ``verify``:
    its newest checkpoint, unhashed, for a quick first look). Writes nothing.
    """
    out = Path(config.out)
    check_writable_dir(out, "--out")
    marker = read_marker(out) if out.is_dir() else None
    if config.resume:
        if marker is None:
            held = out.is_dir() and bool(foreign_entries(out))
            remedy = "pass the --out of a gan_ignite run" if held else "start the run without --resume"
            raise UsageError(f"--resume: {out} holds no run{' (no run.json)' if held else ''}; {remedy}")
        check_same_experiment(out, marker, experiment)
        checkpoint, notes = latest_verified_checkpoint(out) if verify else (latest_checkpoint(out), [])
        if checkpoint is None:
            raise UsageError(f"--resume: no checkpoint in {out / CHECKPOINTS}; start it afresh with --force")
        return _Plan(checkpoint, notes)
    if marker is not None:
        if not config.force:
            raise UsageError(
                f"--out {out} already holds a run of {marker.experiment} (started {marker.created}); "
                f"pass --resume to continue it, --force to replace it, or choose another --out"
            )
        return _Plan(removals=removable_files(out, marker))
    others = foreign_entries(out) if out.is_dir() else []
    if others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        forced = "; --force replaces only a gan_ignite run" if config.force else ""
        raise UsageError(f"--out {out} is not empty ({shown}) and holds no run{forced}; "
                         f"choose a new or empty directory")
    return _Plan()


def write_config(config: ExperimentConfig, experiment: str | None = None) -> None:
    """Save the resolved settings as ``config.json`` in the run directory.

    ``experiment`` names the installed experiment that built the run (``gan_mnist``), so
    tools such as ``python -m gan_ignite.evaluate RUN_DIR`` can rebuild its networks.
    """
    settings = dataclasses.asdict(config)
    settings["device"] = config.resolved_device()
    # Not options: what the launch made of them (a resumed run may have other ones).
    settings["world_size"] = idist.get_world_size()
    settings["global_batch_size"] = config.batch_size * idist.get_world_size()
    if experiment is not None:
        settings["experiment"] = experiment
    text = json.dumps(settings, indent=2) + "\n"
    write_atomic(Path(config.out) / CONFIG, lambda f: f.write(text.encode()))


def run_experiment(build: Callable[[C], Trainer], config: C, experiment: str | None = None) -> Trainer | None:
    """Check, build, lock, resume if asked, and train; bad input exits with one line.

    With ``--nproc-per-node`` (or ``--nnodes``) above 1 this process starts the run's
    processes (:mod:`gan_ignite.launch`) and waits for them; under ``torchrun`` it is one
    of them. Every process builds the trainer; the main one (rank 0) takes the run
    directory's lock, checks it, resumes and writes ``run.json`` and ``config.json``, and
    tells the others which checkpoint to resume from.

    Args:
        build: the experiment's ``build(config) -> Trainer``.
        config: the parsed configuration.
        experiment: the experiment's name in ``run.json``; by default the installed
            experiment (or else the module) that defines ``build``. A resumed run must
            have been started by the same one.

    Returns:
        The trained trainer, or ``None`` where the training ran in other processes.
    """
    experiment = experiment or experiment_of(build.__module__) or module_name(build.__module__)
    module = module_name(build.__module__)
    with _exits_cleanly(config, module):
        check_launch(config)
        if _writes_run_dir(config):
            RunLock(Path(config.out)).check_free()  # a run in progress is the first thing to say
            plan_run_dir(config, experiment, verify=False)  # fail fast, before building: nothing is written yet
        if spawns(config) or under_launcher():
            launch(_process_main, config, build, config, experiment, module, fresh=started_for_the_run(module))
            return None
        return _train(build, config, experiment)


def _writes_run_dir(config: ExperimentConfig) -> bool:
    """Whether this process's run writes the run directory: not on another machine than the first."""
    if under_launcher():
        return launcher_rank() == 0
    return config.node_rank == 0


def _process_main(local_rank: int, build: Callable[[C], Trainer], config: C, experiment: str, module: str) -> None:
    """One process of a run of several: train, and exit as :func:`run_experiment` does."""
    # A forked process inherits the launcher's handlers, which pass signals on to children.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    share_cpu_threads(config)
    try:
        with _exits_cleanly(config, module):
            _train(build, config, experiment)
    except SystemExit as exc:
        if exc.code != _LOST_CONTACT:  # with every process alive, leave the process group cleanly
            with contextlib.suppress(Exception):
                idist.finalize()
        raise


def _train(build: Callable[[C], Trainer], config: C, experiment: str) -> Trainer:
    """Build, start (lock, check, resume, write the identity) and run; with several processes in step.

    Each stage's bad input is agreed on by all processes before the next stage, so that
    one of them failing never leaves the others waiting, and the main one reports it.
    """
    from ignite.utils import manual_seed

    main = is_main_process()
    manual_seed(config.seed)  # every process alike: they share the noise's RNG (see GANUpdater)
    trainer = _agreed(lambda: build(config))
    with contextlib.ExitStack() as stack:

        def start() -> Path | None:
            lock = stack.enter_context(RunLock(Path(config.out)))
            return _start(trainer, config, experiment, lock)

        checkpoint = _agreed(start if main else lambda: None)
        checkpoint = _agreed_checkpoint(checkpoint)
        _agreed(lambda: load_snapshot(trainer, checkpoint, keep_hyperparameters=True)
                if not main and checkpoint is not None else None)
        trainer.run()
    if main:
        print(final_summary(trainer, config, _train_command(build, experiment)))
    return trainer


def _train_command(build: Callable, experiment: str) -> str:
    """The command that trains the experiment: ``gan-ignite train NAME`` where it is installed."""
    if experiment in experiment_names():
        return f"gan-ignite train {experiment}"
    return f"python -m {module_name(build.__module__)}"


T = TypeVar("T")


def _agreed(stage: Callable[[], T]) -> T:
    """Run ``stage`` here; with several processes, fail in all of them if bad input failed it in any.

    The processes exchange their error lines (empty for none) in one ``all_gather``; the
    main process's is the one raised everywhere, else the first other one, naming its
    process.
    """
    if idist.get_world_size() == 1:
        return stage()
    result, error = None, ""
    try:
        result = stage()
    except USER_ERRORS as exc:
        error = one_line(exc)
    errors = idist.all_gather(error)
    errors = [errors] if isinstance(errors, str) else list(errors)
    failed = [(rank, line) for rank, line in enumerate(errors) if line]
    if failed:
        rank, line = failed[0]
        raise UsageError(line if rank == 0 else f"process {rank}: {line}")
    return result  # type: ignore[return-value]


def _agreed_checkpoint(checkpoint: Path | None) -> Path | None:
    """The main process's choice of checkpoint to resume from, in every process."""
    if idist.get_world_size() == 1:
        return checkpoint
    shared = idist.broadcast(str(checkpoint) if checkpoint is not None else "", src=0, safe_mode=True)
    return Path(shared) if shared else None


_LOST_CONTACT = 3  # the exit status of a process whose peers went away


@contextlib.contextmanager
def _exits_cleanly(config: ExperimentConfig, module: str) -> Iterator[None]:
    """Bad input, a full disk, a failed allocation and a stop signal end the process with one line.

    With several processes, bad input is agreed on (:func:`_agreed`) or the same in
    every one (a divergence, seen in the averaged observation), so the main process
    alone reports it; another one speaks only of its own resources (memory, disk).
    """
    main = is_main_process()
    try:
        yield
    except USER_ERRORS as exc:
        # The traceback's frames hold the data loader's iterator; freed now, its worker
        # processes are shut down before the interpreter exits, not left waiting.
        traceback.clear_frames(exc.__traceback__)
        _fail_quietly(one_line(exc), main)
    except TrainingInterrupted as exc:
        if main:
            _report_interrupted(exc, config, module)
        if idist.get_world_size() > 1:
            idist.barrier()  # the others wait until the main process has saved and said so
        sys.exit(128 + exc.signum)
    except KeyboardInterrupt:  # before training started: nothing to save
        if main:
            sys.stderr.write("interrupted before training started; nothing was saved\n")
        sys.exit(128 + signal.SIGINT)
    except BaseException as exc:  # a bug: its traceback prints, but must not leave workers hanging the exit
        if isinstance(exc, SystemExit):
            raise
        traceback.clear_frames(exc.__traceback__)
        if (message := _resource_failure(exc, config)) is not None:
            _fail_quietly(message, True)
        if idist.get_world_size() > 1 and lost_contact(exc):
            if main:
                sys.stderr.write("error: lost contact with the run's other processes: one of them failed or was "
                                 "killed\n")
            sys.exit(_LOST_CONTACT)
        raise


def _fail_quietly(message: str, speaks: bool) -> NoReturn:
    """:func:`fail` with ``message`` where this process speaks; else exit 2 without a word."""
    if speaks:
        fail(f"process {idist.get_rank()}: {message}" if idist.get_rank() else message)
    sys.exit(2)


def _start(trainer: Trainer, config: ExperimentConfig, experiment: str, lock: RunLock) -> Path | None:
    """Under the lock: check the directory again, resume or replace, and write the run's identity.

    Returns the checkpoint the run resumed from.
    """
    out = Path(config.out)
    plan = plan_run_dir(config, experiment)  # again: another process may have written it meanwhile
    for note in plan.notes:
        sys.stderr.write(f"warning: {note}\n")
    check_folders_writable(out)
    if plan.checkpoint is not None:
        load_snapshot(trainer, plan.checkpoint, keep_hyperparameters=True)
        trainer.check_not_finished()
        trainer.check_same_data()
    lock.record_holder()
    if plan.removals is not None:
        remove_files(plan.removals)
    if not config.resume:
        write_marker(out, experiment)
    write_config(config, experiment)
    return plan.checkpoint


def _resource_failure(exc: BaseException, config: ExperimentConfig) -> str | None:
    """The one line for a full disk or a failed allocation, or None for any other failure."""
    if disk_full(exc):
        return no_space_left(getattr(exc, "filename", None) or config.out, Path(config.out) / CHECKPOINTS)
    if out_of_memory(exc):
        return (f"not enough memory: {allocation(exc)}; lower --batch-size or the network sizes (--z-dim, "
                f"--feature-maps, --fc-units)")
    return None


def resume_command(config: ExperimentConfig, module: str) -> str:
    """The command line that continues the run ``config`` describes: its options and ``--resume``."""
    args = ["--out", config.out]
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name in ("out", "resume", "force") or value == f.default:
            continue
        args += shown_as_flags(f.name, value)
    return shlex.join(["python", "-m", module, *args, "--resume"])


def _report_interrupted(exc: TrainingInterrupted, config: ExperimentConfig, module: str) -> None:
    """One line on how the run stopped and how to continue it."""
    checkpoint, command = latest_checkpoint(config.out), resume_command(config, module)
    if checkpoint is None:
        outcome = "nothing was saved; start again with --force"
    elif checkpoint.name == checkpoint_name(exc.iteration):
        outcome = f"checkpoint saved: {checkpoint}; continue with: {command}"
    else:  # a trainer without a snapshot extension
        outcome = f"no checkpoint of this iteration (latest: {checkpoint}); continue from it with: {command}"
    sys.stderr.write(f"interrupted at iteration {exc.iteration} (epoch {exc.epoch}); {outcome}\n")


def console_main(argv: Sequence[str] | None = None) -> None:
    """The ``gan-ignite`` console script (:mod:`gan_ignite.commands`)."""
    from gan_ignite.commands import main

    main(argv)
