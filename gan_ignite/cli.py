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
import pkgutil
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

from gan_ignite.config import ExperimentConfig
from gan_ignite.errors import UsageError
from gan_ignite.extensions._files import write_atomic
from gan_ignite.extensions.snapshot import latest_checkpoint, load_snapshot
from gan_ignite.trainer import Trainer

__all__ = ["run_experiment", "console_main", "fail", "RUN_ENTRIES"]

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
    for name in positive:
        value = getattr(config, name)
        if value < 1:
            raise UsageError(f"--{name.replace('_', '-')} should be a positive integer, but given {value}")
    if config.limit < 0:
        raise UsageError(f"--limit should be zero (all images) or more, but given {config.limit}")
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


def check_run_dir(config: ExperimentConfig) -> Path | None:
    """Check ``--out`` against ``--resume``/``--force``; return the checkpoint to resume, if any."""
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory; pass a directory path")
    if config.resume:
        checkpoint = latest_checkpoint(out)
        if checkpoint is None:
            raise UsageError(f"--resume: no checkpoint in {out / 'checkpoints'}; start the run without --resume")
        return checkpoint
    existing = [name for name in RUN_ENTRIES if (out / name).exists()]
    if existing and not config.force:
        raise UsageError(
            f"--out {out} already holds a run ({', '.join(existing)}); "
            f"pass --resume to continue it, --force to replace it, or choose another --out"
        )
    return None


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
    except UsageError as exc:
        fail(str(exc))
    return trainer


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
