"""Experiment configuration: one frozen dataclass per experiment, parsed from the command line.

Every experiment holds its settings in a frozen dataclass derived from
:class:`ExperimentConfig` (the common options of DESIGN.md) and builds its trainer from
it; library code never reads an argparse namespace. :func:`parse_config` turns a
dataclass into a command line: each field ``batch_size`` becomes ``--batch-size``, typed
by its default, documented by its ``help`` metadata.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gan_ignite.errors import UsageError

__all__ = ["ExperimentConfig", "GANConfig", "DCGANConfig", "parse_config", "read_saved_config", "option"]

C = TypeVar("C", bound="ExperimentConfig")


def option(default: Any, help: str) -> Any:
    """A dataclass field with command-line help."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class ExperimentConfig:
    """The options every experiment shares."""

    dataset: str = option("digits", "digits (embedded), mnist, fashion-mnist, cifar10, or a folder of images")
    data_root: str = option("data", "where datasets live (e.g. ../shared/data) or are downloaded to")
    classes: tuple[int, ...] = option((), "keep only these class labels, e.g. --classes 7")
    image_size: int = option(28, "image side in pixels")
    limit: int = option(0, "train on the first N images only (0: all), for quick trials")
    epochs: int = option(20, "number of training epochs")
    batch_size: int = option(64, "images per batch")
    seed: int = option(0, "seed of every RNG: the same seed repeats the run")
    out: str = option("result", "the run directory")
    device: str = option("auto", "auto (cuda if available), cpu or cuda")
    resume: bool = option(False, "continue the run in --out from its latest checkpoint")
    force: bool = option(False, "start afresh in a --out that already holds a run, deleting it")
    num_workers: int = option(0, "data loader worker processes")
    log_interval: int = option(10, "iterations between TensorBoard scalars")
    snapshot_interval: int = option(1, "epochs between checkpoints")
    snapshot_iterations: int = option(0, "also checkpoint every N iterations (0: by --snapshot-interval only)")
    n_saved: int = option(3, "how many of the newest checkpoints to keep")
    n_samples: int = option(64, "images in each epoch's sample grid")
    progress: bool = option(True, "show a progress bar (on a terminal)")

    def resolved_device(self) -> str:
        """``auto`` resolved to ``cuda`` when a GPU is visible, else ``cpu``."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class GANConfig(ExperimentConfig):
    """The common options plus what every GAN experiment sets: noise size, Adam, step."""

    z_dim: int = option(100, "size of the generator's noise vector")
    lr: float = option(2e-4, "Adam learning rate (of both networks unless --lr-dis)")
    lr_dis: float = option(0.0, "Adam learning rate of the discriminator if it should differ from --lr (0: --lr)")
    beta1: float = option(0.5, "Adam beta1")
    beta2: float = option(0.999, "Adam beta2")
    n_dis: int = option(1, "discriminator steps per generator step")
    dis_batches: str = option("separate", "separate or joint real/fake discriminator batches")
    eval_interval: int = option(
        0, "epochs between sample-quality evaluations (0: none); needs the dataset's feature extractor, "
        "see python -m gan_ignite.train_extractor"
    )
    eval_samples: int = option(1000, "samples per sample-quality evaluation")
    ema_decay: float = option(
        0.0, "sample from an exponential moving average of the generator with this decay, e.g. 0.999 (0: off)"
    )


@dataclass(frozen=True)
class DCGANConfig(GANConfig):
    """GAN options plus the DCGAN networks' width and normalisation."""

    feature_maps: int = option(64, "feature maps of the first discriminator layer")
    batch_norm: bool = option(True, "batch norm in both networks")
    spectral_norm: bool = option(
        False, "spectral normalisation of every discriminator layer, in place of its batch norm (SN-GAN)"
    )
    fc_units: int = option(
        0, "a fully connected hidden layer of N units in both networks, e.g. 1024 as in InfoGAN's MNIST networks "
        "(0: none)"
    )


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage dump), exit status 2."""

    def error(self, message: str) -> typing.NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        sys.exit(2)


def _add_field(parser: argparse.ArgumentParser, f: dataclasses.Field, hints: dict[str, Any], default: Any) -> None:
    flag = "--" + f.name.replace("_", "-")
    kind = hints[f.name]
    help_text = f.metadata.get("help", "")
    if kind is bool:
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
    elif typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        parser.add_argument(flag, type=item, nargs="*", default=default, help=help_text)
    else:
        parser.add_argument(flag, type=kind, default=default, help=f"{help_text} (default: {f.default})")


def _parser(cls: type, description: str | None, defaults: bool = True) -> argparse.ArgumentParser:
    """The command line of ``cls``; without ``defaults``, options not given stay out of the namespace."""
    parser = _Parser(description=description, prog=f"python -m {cls.__module__}")
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        _add_field(parser, f, hints, f.default if defaults else argparse.SUPPRESS)
    return parser


# Settings a resumed run takes from the command line only, never from its config.json:
# where and how this process runs, not what the run is.
NOT_RESUMED = ("out", "resume", "force", "device", "progress")


def parse_config(cls: type[C], argv: Sequence[str] | None = None, description: str | None = None) -> C:
    """Parse ``argv`` into an instance of the config dataclass ``cls``.

    With ``--resume``, the run's saved ``config.json`` in ``--out`` supplies every option
    the command line does not give (except :data:`NOT_RESUMED`): ``--out DIR --resume
    --epochs 10`` continues the run as it was started, on its dataset, batch size and
    learning rates, not on the defaults. Options given explicitly override the saved ones.
    """
    parser = _parser(cls, description)
    args = parser.parse_args(argv)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)}
    if values.get("resume"):
        given = set(vars(_parser(cls, description, defaults=False).parse_args(argv)))
        try:
            saved = read_saved_config(values["out"]) or {}  # none: the resume check then speaks
        except UsageError as exc:
            parser.error(str(exc))
        values.update({k: v for k, v in saved.items() if k in values and k not in given and k not in NOT_RESUMED})
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**values)


def read_saved_config(out: str | Path) -> dict[str, Any] | None:
    """The settings a run saved in ``out/config.json``, or ``None`` if it has none.

    Raises:
        UsageError: the file cannot be read or is not a JSON object.
    """
    path = Path(out) / "config.json"
    if not path.is_file():
        return None
    try:
        settings = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read the run's settings {path} ({exc}); repair or restore it")
    if not isinstance(settings, dict):
        raise UsageError(f"the run's settings {path} are not a JSON object; repair or restore it")
    return settings
