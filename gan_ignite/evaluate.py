"""Measure samples offline: ``python -m gan_ignite.evaluate RUN_DIR`` or ``--images FOLDER``.

With a run directory, the generator is rebuilt from the run's ``config.json`` (which
names its experiment, looked up among the installed ones: nothing a run directory names
is imported) and its newest checkpoint whose SHA-256 verifies, and ``--n`` images are
sampled from seeded noise. Evaluating reads the run directory only; it needs no lock.
With ``--images``, every image of a folder is measured. The real side is
``--dataset`` / ``--data-root`` (a run's own by default), its training split.
Prints one JSON object: ``fid``, ``kid``, ``is``, ``confident``, ``classes``,
``max_class_share``, ``precision``, ``recall``, ``density``, ``coverage``, ``n`` (the last
four are ``null`` for 5 samples or fewer, too few for their nearest neighbours)::

    python -m gan_ignite.evaluate result --n 10000
    python -m gan_ignite.evaluate --images samples/ --dataset mnist --data-root ../shared/data
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from gan_ignite.config import read_saved_config, saved_config
from gan_ignite.errors import UsageError, allocation, fail, out_of_memory
from gan_ignite.options import dataset_path, resolve_device
from gan_ignite.registry import load_experiment
from gan_ignite.run_dir import (
    CHECKPOINTS, DIGEST_SUFFIX, looks_like_path, read_marker, resolve_path, run_experiment_name,
)

__all__ = [
    "evaluate_run", "evaluate_folder", "load_run_generator", "LATEST", "BEST", "HELP", "add_arguments", "run", "main",
]


def _read_run_config(run_dir: Path) -> dict[str, Any]:
    """The run's settings, with ``experiment`` from its identity marker (``config.json``'s for older runs)."""
    settings = read_saved_config(run_dir)
    experiment = run_experiment_name(run_dir, read_marker(run_dir), settings)
    return {**settings, "experiment": experiment}  # type: ignore[dict-item]


# The values of ``checkpoint`` in :func:`load_run_generator` that are no path.
LATEST, BEST = "latest", "best"


def load_run_generator(
    run_dir: str | Path, device: str = "cpu", checkpoint: str | Path = LATEST
) -> tuple[nn.Module, int, Any]:
    """The generator of one of a run's checkpoints, its noise size and the run's config.

    The installed experiment named in ``config.json`` builds the run's trainer exactly
    as training did, then the checkpoint is loaded into it (``weights_only``), so that
    no option of the run need be repeated. The training data is neither read nor
    downloaded (:func:`~gan_ignite.recipes.stand_in_data`): a run whose data moved, or
    a copy on another machine, still samples. Nothing is written to the run directory.

    Args:
        run_dir: the run directory (the ``--out`` of a training run).
        device: where the generator is built.
        checkpoint: which weights:

            * ``"latest"``: the newest snapshot whose SHA-256 verifies. A run trained
              with ``--ema-decay`` gives its averaged generator, the one its grids and
              evaluations sampled.
            * ``"best"``: ``checkpoints/gen_best.pt``, the (online) generator of the best
              epoch that ``--early-stopping`` kept.
            * a path: a snapshot (``checkpoint_<iteration>.pt``, giving the average as
              ``"latest"`` does) or a generator file (``gen_best.pt``) of this run; a
              bare file name is looked up in the run's ``checkpoints/``. It is verified
              against its ``.sha256`` sidecar when it has one.

    Raises:
        UsageError: no such run, unreadable settings, no such checkpoint, one that fails
            its integrity check or holds another model.
    """
    from gan_ignite.recipes import stand_in_data

    run_dir = resolve_path(run_dir, "RUN_DIR")
    if not run_dir.is_dir():
        what = "does not exist" if not run_dir.exists() else "is not a directory"
        raise UsageError(f"RUN_DIR {run_dir} {what}; pass a gan_ignite run directory (the --out of a run)")
    settings = _read_run_config(run_dir)
    module = load_experiment(settings["experiment"])
    # The run's settings, on this device, without re-running its evaluations.
    config = saved_config(module.Config, run_dir, settings, out=str(run_dir), device=device, eval_interval=0,
                          resume=False, force=False)
    path = _checkpoint_path(run_dir, checkpoint)
    batch = settings.get("global_batch_size")  # the batch of all its processes: the stand-in holds as many
    with stand_in_data(batch if isinstance(batch, int) else config.batch_size):
        trainer = module.build(config)  # its networks; the training data is not read
    return _load_generator(trainer, path), trainer.updater.z_dim, config


def _checkpoint_path(run_dir: Path, checkpoint: str | Path) -> Path:
    """The file that ``checkpoint`` (see :func:`load_run_generator`) names, verified."""
    from gan_ignite.extensions.snapshot import latest_verified_checkpoint, verify_checkpoint
    from gan_ignite.recipes import BEST_GENERATOR

    if checkpoint == LATEST:
        path, notes = latest_verified_checkpoint(run_dir)
        for note in notes:
            sys.stderr.write(f"warning: {note}\n")
        if path is None:
            raise UsageError(f"{run_dir} has no checkpoint to load a generator from; train it for at least one snapshot interval")
        return path
    if checkpoint == BEST:
        path = run_dir / CHECKPOINTS / BEST_GENERATOR
        if not path.is_file():
            raise UsageError(f"{run_dir} kept no best generator ({CHECKPOINTS}/{BEST_GENERATOR}): it was trained "
                             f"without --early-stopping; pass --checkpoint latest or a checkpoint file")
    else:
        path = _checkpoint_file(run_dir, str(checkpoint))
    if path.with_name(path.name + DIGEST_SUFFIX).exists() and (problem := verify_checkpoint(path)) is not None:
        raise UsageError(f"checkpoint {path} fails its integrity check ({problem}); pass another checkpoint")
    return path


def _checkpoint_file(run_dir: Path, name: str) -> Path:
    """``--checkpoint PATH``: the file as given, else a bare name in the run's ``checkpoints/``."""
    path = resolve_path(name, "--checkpoint")
    if not path.exists() and not looks_like_path(name):
        path = run_dir / CHECKPOINTS / name
    if not path.is_file():
        raise UsageError(f"--checkpoint {name} is not a file; pass latest, best, or a checkpoint file of the run "
                         f"(e.g. {run_dir / CHECKPOINTS}/checkpoint_<iteration>.pt)")
    return path


def _load_generator(trainer: Any, path: Path) -> nn.Module:
    """Load ``path`` into the built ``trainer``; the generator to sample from.

    A snapshot restores the whole trainer and gives the moving average when the run kept
    one; a generator file (``snapshot_object(gen, ...)``) holds the online generator only.
    """
    from gan_ignite.extensions.snapshot import load_snapshot
    from gan_ignite.weights import first_line, load_weights

    state = load_weights(path, "checkpoint", remedy="pass another checkpoint")
    if isinstance(state, dict) and "trainer" in state and "gen" in state:
        try:
            load_snapshot(trainer, path)
        except UsageError as exc:  # its remedy is resuming's
            raise UsageError(f"checkpoint {path} is not one of this run's: {_mismatch(exc)}; pass one of this "
                             f"run's own checkpoints, e.g. --checkpoint latest") from None
        try:
            return trainer.get_extension("ema").ema_model
        except ValueError:  # trained without --ema-decay
            return trainer.updater.gen
    gen = trainer.updater.gen
    try:
        gen.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError, KeyError) as exc:
        raise UsageError(f"checkpoint {path} holds no generator of this run ({first_line(exc)}); "
                         f"pass one of this run's own checkpoints, e.g. --checkpoint latest") from None
    return gen


def _mismatch(exc: UsageError) -> str:
    """What :func:`~gan_ignite.extensions.snapshot.load_snapshot`'s message says differs, without its remedy."""
    text = str(exc)
    _, sep, rest = text.partition(" does not match this run: ")
    return rest.rpartition("; ")[0] if sep and "; " in rest else text


def _folder_batches(folder: str, extractor: Any, batch_size: int) -> Iterator[Tensor]:
    from torch.utils.data import DataLoader

    from gan_ignite.data import load_dataset

    size = extractor.info.image_size if hasattr(extractor, "info") else 299
    channels = extractor.info.channels if hasattr(extractor, "info") else 3
    dataset = load_dataset(Path(folder), image_size=size, channels=channels)
    if len(dataset) < 2:  # a covariance, hence FID, needs two samples at least
        raise UsageError(f"--images {folder} holds {len(dataset)} image; measuring needs at least 2")
    for images, _ in DataLoader(dataset, batch_size=batch_size):
        yield images


def _extractor(dataset: str, features: str, extractor: str | None, inception_weights: str | None) -> nn.Module:
    from gan_ignite.extractors import InceptionExtractor, load_extractor

    if features == "inception":
        return InceptionExtractor(inception_weights)
    return load_extractor(dataset, extractor)


def evaluate_run(
    run_dir: str | Path, n: int = 10000, *, batch_size: int = 500, seed: int = 0, device: str = "cpu",
    dataset: str | None = None, data_root: str | None = None, features: str = "domain",
    extractor: str | None = None, inception_weights: str | None = None,
) -> dict[str, float]:
    """Quality of ``n`` samples of a run's latest generator (see the module docstring)."""
    from gan_ignite.extensions.images import sample_batches
    from gan_ignite.metrics import measure, reference_for

    gen, z_dim, config = load_run_generator(run_dir, device)
    dataset, data_root = dataset or config.dataset, data_root or config.data_root
    net = _extractor(dataset, features, extractor, inception_weights).to(device)
    reference = reference_for(net, dataset, data_root, classes=config.classes or None)
    return measure(sample_batches(gen, z_dim, n, batch_size, seed, device), net, reference)


def evaluate_folder(
    folder: str | Path, dataset: str, data_root: str | None = None, *, batch_size: int = 500,
    device: str = "cpu", features: str = "domain", extractor: str | None = None,
    inception_weights: str | None = None,
) -> dict[str, float]:
    """Quality of every image in ``folder`` against ``dataset``'s training split."""
    from gan_ignite.metrics import measure, reference_for

    net = _extractor(dataset, features, extractor, inception_weights).to(device)
    reference = reference_for(net, dataset, data_root)
    return measure(_folder_batches(str(folder), net, batch_size), net, reference)


HELP = ("measure a run's samples (or a folder of images) against the real data: FID, KID, IS, precision, recall, "
        "density, coverage")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``gan-ignite evaluate`` and ``python -m gan_ignite.evaluate``."""
    parser.add_argument("run_dir", nargs="?", help="a run directory (the --out of a training run)")
    parser.add_argument("--images", help="a folder of images to measure instead of a run")
    parser.add_argument("--dataset", help="the real data: a run's own by default; required with --images")
    parser.add_argument("--data-root", help="where the real dataset lives (a run's own by default)")
    parser.add_argument("--n", type=int, default=10000, help="samples drawn from a run's generator")
    parser.add_argument("--batch-size", type=int, default=500, help="images per forward pass")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling noise")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (cuda if available)")
    parser.add_argument("--features", choices=("domain", "inception"), default="domain",
                        help="domain: the dataset's trained classifier; inception: Inception-v3 (weights file)")
    parser.add_argument("--extractor", help="a domain extractor file (default: the cached one of --dataset)")
    parser.add_argument("--inception-weights", help="Inception-v3 weights file (default: in the cache)")


def _paths(args: argparse.Namespace) -> None:
    """Expand ``~`` and resolve every path option once, here."""
    if args.dataset is not None:
        args.dataset = dataset_path(args.dataset)
    for name in ("run_dir", "images", "data_root", "extractor", "inception_weights"):
        if getattr(args, name) is not None:
            shown = "RUN_DIR" if name == "run_dir" else "--" + name.replace("_", "-")
            setattr(args, name, str(resolve_path(getattr(args, name), shown)))


def _run(args: argparse.Namespace) -> dict[str, float]:
    if (args.run_dir is None) == (args.images is None):
        raise UsageError("pass either a run directory or --images FOLDER")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size should be a positive integer, but given {args.batch_size}")
    _paths(args)
    common = dict(batch_size=args.batch_size, device=resolve_device(args.device), features=args.features,
                  extractor=args.extractor, inception_weights=args.inception_weights)
    if args.images is not None:
        if args.dataset is None:
            raise UsageError("--images needs --dataset naming the real data to compare with, e.g. --dataset mnist")
        return evaluate_folder(args.images, args.dataset, args.data_root, **common)
    if args.n < 2:
        raise UsageError(f"--n should be at least 2, but given {args.n}")
    return evaluate_run(args.run_dir, args.n, seed=args.seed, dataset=args.dataset, data_root=args.data_root, **common)


def run(args: argparse.Namespace) -> None:
    """Measure what ``args`` name and print one JSON object; bad input raises :class:`UsageError`."""
    from gan_ignite.metrics import QUALITY_KEYS

    try:
        result = _run(args)
    except (MemoryError, RuntimeError) as exc:
        if not out_of_memory(exc):
            raise
        raise UsageError(f"not enough memory to evaluate: {allocation(exc)}; lower --batch-size") from None
    # JSON has no NaN: a metric that could not be computed is null.
    print(json.dumps({key: None if _undefined(result[key]) else result[key] for key in QUALITY_KEYS}))


def _undefined(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def main(argv: Sequence[str] | None = None, prog: str = "python -m gan_ignite.evaluate") -> None:
    from gan_ignite.config import OneLineParser

    from gan_ignite.commands import DefaultsHelp

    parser = OneLineParser(prog=prog, description=__doc__.split("\n")[0],
                           formatter_class=DefaultsHelp)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        run(args)
    except UsageError as exc:
        fail(str(exc))


if __name__ == "__main__":
    main()
