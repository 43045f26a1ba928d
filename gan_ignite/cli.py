"""Running an experiment from the command line: checks, run directory, resume, clean errors.

:func:`run_experiment` is what every ``python -m experiments.NAME`` ends with. It checks
the options, refuses to mix two runs in one directory, seeds every RNG, builds the
trainer, resumes from the latest checkpoint when asked, writes ``config.json`` and
trains. Bad input ends with one line on stderr and exit status 2, before anything in the
run directory is touched.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import pkgutil
import shlex
import shutil
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

from gan_ignite.config import ExperimentConfig
from gan_ignite.errors import USER_ERRORS, UsageError, one_line
from gan_ignite.extensions._files import write_atomic
from gan_ignite.extensions.snapshot import latest_checkpoint, load_snapshot
from gan_ignite.trainer import Trainer, TrainingInterrupted

__all__ = ["run_experiment", "resume_command", "console_main", "fail", "RUN_ENTRIES"]

C = TypeVar("C", bound=ExperimentConfig)

# What a run directory holds (DESIGN.md); --force removes exactly these.
RUN_ENTRIES = ("config.json", "log.jsonl", "images", "checkpoints", "tb", "plots")
_DEVICES = ("auto", "cpu", "cuda")


def fail(message: str) -> NoReturn:
    """Print one error line on stderr and exit with status 2."""
    sys.stderr.write(f"error: {message}\n")
    sys.exit(2)


def check_config(config: ExperimentConfig) -> None:
    """Reject option values no run can use, naming the option."""
    positive = ("epochs", "batch_size", "image_size", "log_interval", "snapshot_interval", "n_saved", "n_samples")
    # Options of some experiments only; those the library checks itself are not repeated.
    positive += ("hidden", "n_reconstructions")
    for name in positive:
        value = getattr(config, name, 1)
        if value < 1:
            raise UsageError(f"--{name.replace('_', '-')} should be a positive integer, but given {value}")
    if not 0 <= config.seed < 2**32:  # NumPy's seed range; ignite's manual_seed seeds NumPy too
        raise UsageError(f"--seed should be an integer from 0 to 2**32 - 1, but given {config.seed}")
    _check_optimizer_options(config)
    if config.limit < 0:
        raise UsageError(f"--limit should be zero (all images) or more, but given {config.limit}")
    fc_units = getattr(config, "fc_units", 0)
    if fc_units < 0:
        raise UsageError(f"--fc-units should be zero (no such layer) or more, e.g. 1024, but given {fc_units}")
    if fc_units and getattr(config, "batch_norm", False) and config.batch_size < 2:
        # The fully connected layer's batch norm has one value per unit: a batch of one has no statistics.
        raise UsageError("--fc-units with batch norm needs --batch-size 2 or more; raise it or pass --no-batch-norm")
    if config.num_workers < 0:
        raise UsageError(f"--num-workers should be zero or more, but given {config.num_workers}")
    if config.device not in _DEVICES:
        raise UsageError(f"--device should be one of {', '.join(_DEVICES)}, but given {config.device!r}")
    if config.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda was given but no CUDA device is visible; pass --device cpu or auto")
    if config.resume and config.force:
        raise UsageError("--resume and --force contradict each other; pass one of them")


def _check_optimizer_options(config: ExperimentConfig) -> None:
    """Adam's learning rates and betas, which torch would reject with a traceback (or NaN), and the EMA decay."""
    lr = getattr(config, "lr", None)
    if lr is not None and not (math.isfinite(lr) and lr > 0):
        raise UsageError(f"--lr should be a positive number, but given {lr}")
    lr_dis = getattr(config, "lr_dis", 0.0)
    if not (math.isfinite(lr_dis) and lr_dis >= 0):
        raise UsageError(f"--lr-dis should be a positive number (or 0: the same as --lr), but given {lr_dis}")
    decay = getattr(config, "ema_decay", 0.0)
    if not 0 <= decay < 1:
        raise UsageError(f"--ema-decay should be 0 (off) or between 0 and 1, e.g. 0.999, but given {decay}")
    for name in ("beta1", "beta2"):
        beta = getattr(config, name, None)
        if beta is not None and not 0 <= beta < 1:
            raise UsageError(f"--{name} should be at least 0 and less than 1, but given {beta}")


def check_run_dir(config: ExperimentConfig) -> Path | None:
    """Check ``--out`` against ``--resume``/``--force``; return the checkpoint to resume, if any.

    A new run goes into a new or empty directory, or with ``--force`` into one that
    holds a run (which is then replaced) or other files (kept beside it): two runs'
    logs are never mixed by accident.
    """
    out = Path(config.out)
    _check_writable(out)
    existing = [name for name in RUN_ENTRIES if (out / name).exists()]
    if config.resume:
        checkpoint = latest_checkpoint(out)
        if checkpoint is None:
            remedy = "start it afresh with --force" if existing else "start the run without --resume"
            raise UsageError(f"--resume: no checkpoint in {out / 'checkpoints'}; {remedy}")
        return checkpoint
    if existing and not config.force:
        raise UsageError(
            f"--out {out} already holds a run ({', '.join(existing)}); "
            f"pass --resume to continue it, --force to replace it, or choose another --out"
        )
    others = sorted(p.name for p in out.iterdir()) if out.is_dir() and not existing else []
    if others and not config.force:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise UsageError(
            f"--out {out} is not empty ({shown}) and holds no run; choose a new or empty directory, "
            f"or pass --force to write the run beside those files"
        )
    return None


def _check_writable(out: Path) -> None:
    """``out``, or the folder that would hold it, is a directory this process can write in."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory; pass a directory path")
    folder = next(p for p in (out, *out.parents) if p.exists())
    if not folder.is_dir():
        raise UsageError(f"--out {out} lies inside the file {folder}, not a directory; pass a directory path")
    try:
        # An unnamed temporary file (O_TMPFILE on Linux): nothing appears in the folder.
        # Asking os.access instead would be wrong for root and on read-only mounts.
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UsageError(
            f"--out {out} is not writable ({exc.strerror or exc} in {folder}); pass a directory you can write to"
        ) from None


def _clear_run_dir(out: Path) -> None:
    for name in RUN_ENTRIES:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def write_config(config: ExperimentConfig, experiment: str | None = None) -> None:
    """Save the resolved settings as ``config.json`` in the run directory.

    ``experiment`` names the module that built the run (``experiments.gan_mnist``), so
    tools such as ``python -m gan_ignite.evaluate RUN_DIR`` can rebuild its networks.
    """
    settings = dataclasses.asdict(config)
    settings["device"] = config.resolved_device()
    if experiment is not None:
        settings["experiment"] = experiment
    text = json.dumps(settings, indent=2) + "\n"
    write_atomic(Path(config.out) / "config.json", lambda f: f.write(text.encode()))


def _module_name(build: Callable) -> str:
    """The importable name of the module defining ``build``, also under ``python -m``."""
    name = build.__module__
    if name == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        name = spec.name if spec is not None else name
    return name


def run_experiment(build: Callable[[C], Trainer], config: C) -> Trainer:
    """Check, build, resume if asked, and train; bad input exits with one line.

    Args:
        build: the experiment's ``build(config) -> Trainer``.
        config: the parsed configuration.
    """
    from ignite.utils import manual_seed

    try:
        check_config(config)
        checkpoint = check_run_dir(config)
        manual_seed(config.seed)
        trainer = build(config)
        if checkpoint is not None:
            load_snapshot(trainer, checkpoint)
            trainer.check_not_finished()
        elif config.force:
            _clear_run_dir(Path(config.out))
        write_config(config, experiment=_module_name(build))
        trainer.run()
    except USER_ERRORS as exc:
        # The traceback's frames hold the data loader's iterator; freed now, its worker
        # processes are shut down before the interpreter exits, not left waiting.
        traceback.clear_frames(exc.__traceback__)
        fail(one_line(exc))
    except TrainingInterrupted as exc:
        _exit_interrupted(exc, config, _module_name(build))
    except KeyboardInterrupt:  # before training started: nothing to save
        sys.stderr.write("interrupted before training started; nothing was saved\n")
        sys.exit(128 + signal.SIGINT)
    except BaseException as exc:  # a bug: its traceback prints, but must not leave workers hanging the exit
        traceback.clear_frames(exc.__traceback__)
        raise
    return trainer


def resume_command(config: ExperimentConfig, module: str) -> str:
    """The command line that continues the run ``config`` describes: its options and ``--resume``."""
    args = ["--out", config.out]
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name in ("out", "resume", "force") or value == f.default:
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, tuple):
            args += [flag, *map(str, value)]
        else:
            args += [flag, str(value)]
    return shlex.join(["python", "-m", module, *args, "--resume"])


def _exit_interrupted(exc: TrainingInterrupted, config: ExperimentConfig, module: str) -> NoReturn:
    """One line on how the run stopped and how to continue it; exit 128 + the signal number."""
    checkpoint, command = latest_checkpoint(config.out), resume_command(config, module)
    if checkpoint is None:
        outcome = "nothing was saved; start again with --force"
    elif checkpoint.name == f"checkpoint_{exc.iteration}.pt":
        outcome = f"checkpoint saved: {checkpoint}; continue with: {command}"
    else:  # a trainer without a snapshot extension
        outcome = f"no checkpoint of this iteration (latest: {checkpoint}); continue from it with: {command}"
    sys.stderr.write(f"interrupted at iteration {exc.iteration} (epoch {exc.epoch}); {outcome}\n")
    sys.exit(128 + exc.signum)


def _experiment_names() -> list[str]:
    import experiments

    return sorted(m.name for m in pkgutil.iter_modules(experiments.__path__) if not m.name.startswith("_"))


def console_main(argv: Sequence[str] | None = None) -> None:
    """``gan-ignite NAME [options]``: run ``experiments.NAME`` with the remaining options."""
    argv = list(sys.argv[1:] if argv is None else argv)
    names = _experiment_names()
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: gan-ignite EXPERIMENT [options]\nexperiments: {', '.join(names)}")
        return
    if argv[0] not in names:
        fail(f"unknown experiment {argv[0]!r}; choose one of {', '.join(names)}")
    importlib.import_module(f"experiments.{argv[0]}").main(argv[1:])
