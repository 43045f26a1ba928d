"""Experiment configuration: one frozen dataclass per experiment, parsed from the command line.

Every experiment holds its settings in a frozen dataclass derived from
:class:`ExperimentConfig` (the common options of DESIGN.md) and builds its trainer from
it; library code never reads an argparse namespace. :func:`parse_config` turns a
dataclass into a command line: each field ``batch_size`` becomes ``--batch-size``, typed
by its annotation, documented by its ``help``, checked by its requirement
(:mod:`gan_ignite.options`). :func:`saved_config` reads a run's ``config.json`` back into
the same dataclass, with the same checks.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gan_ignite.errors import UsageError, fail
from gan_ignite.options import (
    AMP_MODES, DEVICES, FRACTION, NON_NEGATIVE, NON_NEGATIVE_NUMBER, POSITIVE, POSITIVE_NUMBER, CheckedOptions,
    OptionError, Requirement,
    check_device, coerce, dataset_path, flag, is_path, one_of, option, shown_as_flags,
)
from gan_ignite.registry import experiment_of, module_name
from gan_ignite.run_dir import CONFIG, check_same_experiment, read_marker, resolve_path

__all__ = [
    "ExperimentConfig", "GANConfig", "DCGANConfig", "parse_config", "read_saved_config", "saved_config", "option",
    "world_size",
    "NOT_RESUMED", "RESUMABLE", "DEVICES", "OneLineParser",
]

C = TypeVar("C", bound="ExperimentConfig")

# gan_ignite.augment.POLICIES, named here so that reading options imports no torch (a test keeps them equal).
DIFF_AUGMENT_POLICIES = ("color", "translation", "cutout")
_POLICY = Requirement(
    lambda v: not v.strip() or all(name.strip() in DIFF_AUGMENT_POLICIES for name in v.split(",")),
    f"should be a comma-separated list of {', '.join(DIFF_AUGMENT_POLICIES)} (empty: off)",
)
_SEED = Requirement(lambda v: 0 <= v < 2**32, "should be an integer from 0 to 2**32 - 1")  # NumPy's seed range


@dataclass(frozen=True)
class ExperimentConfig(CheckedOptions):
    """The options every experiment shares."""

    dataset: str = option("digits", "digits (embedded), mnist, fashion-mnist, cifar10, or a folder of images")
    data_root: str = option("data", "where datasets live (e.g. ../shared/data) or are downloaded to", path=True)
    classes: tuple[int, ...] = option((), "keep only these class labels, e.g. --classes 7")
    image_size: int = option(28, "image side in pixels", POSITIVE)
    limit: int = option(0, "train on the first N images only (0: all), for quick trials",
                        Requirement(lambda v: v >= 0, "should be zero (all images) or more"))
    epochs: int = option(20, "number of training epochs", POSITIVE)
    batch_size: int = option(64, "images per batch", POSITIVE)
    seed: int = option(0, "seed of every RNG: the same seed repeats the run", _SEED)
    out: str = option("result", "the run directory", path=True)
    device: str = option("auto", "auto (cuda if available), cpu or cuda", one_of(*DEVICES))
    resume: bool = option(False, "continue the run in --out from its latest checkpoint")
    force: bool = option(False, "start afresh in a --out that already holds a run, deleting it")
    num_workers: int = option(
        0, "worker processes that decode an image folder (data held in memory is batched by slicing, "
        "without workers)", NON_NEGATIVE,
    )
    preload_mb: int = option(
        1024, "decode an image folder into memory once, before training, when its images take at most this many "
        "MiB as float32 in all of this machine's processes together (each holds a copy); it is then batched by "
        "slicing (0: never, decode every batch in the loader's workers)",
        NON_NEGATIVE,
    )
    log_interval: int = option(10, "iterations between TensorBoard scalars", POSITIVE)
    snapshot_interval: int = option(1, "epochs between checkpoints", POSITIVE)
    snapshot_iterations: int = option(0, "also checkpoint every N iterations (0: by --snapshot-interval only)",
                                      NON_NEGATIVE)
    n_saved: int = option(3, "how many of the newest checkpoints to keep", POSITIVE)
    n_samples: int = option(64, "images in each epoch's sample grid", POSITIVE)
    progress: bool = option(True, "show a progress bar (on a terminal)")
    quiet: bool = option(False, "print only warnings and the final summary: no table of observations, no progress bar")
    histogram_interval: int = option(
        0, "iterations between histograms of both networks' weights in TensorBoard (0: none)", NON_NEGATIVE
    )
    # Launching (gan_ignite.launch): where and how the processes run, not what the run is.
    nproc_per_node: int = option(1, "processes to start on this machine, one per device (GPU, or CPU share)",
                                 POSITIVE)
    nnodes: int = option(1, "machines taking part in the run", POSITIVE)
    node_rank: int = option(0, "this machine's number among --nnodes, from 0", NON_NEGATIVE)
    master_addr: str = option("127.0.0.1", "address of machine 0, which every process connects to")
    master_port: int = option(
        0, "port on machine 0 for the processes to meet (0: a free port on one machine, 29500 across machines)",
        Requirement(lambda v: 0 <= v < 65536, "should be a port number from 1 to 65535 (or 0: chosen)"),
    )
    backend: str = option("auto", "torch.distributed backend: auto (nccl on CUDA, gloo on the CPU), nccl or gloo",
                          one_of("auto", "nccl", "gloo"))

    def resolve_path(self, name: str, value: str) -> str:
        return dataset_path(value) if name == "dataset" else super().resolve_path(name, value)

    def check(self) -> None:
        check_device(self.device)
        if self.resume and self.force:
            raise UsageError("--resume and --force contradict each other; pass one of them")
        if self.node_rank >= self.nnodes:
            raise UsageError(f"--node-rank {self.node_rank} is not below --nnodes {self.nnodes}; number the "
                             f"machines from 0 to {self.nnodes - 1}")

    def resolved_device(self) -> str:
        """``auto`` resolved to ``cuda`` when a GPU is visible, else ``cpu``."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class GANConfig(ExperimentConfig):
    """The common options plus what every GAN experiment sets: noise size, Adam, step."""

    z_dim: int = option(100, "size of the generator's noise vector", POSITIVE)
    lr: float = option(2e-4, "Adam learning rate (of both networks unless --lr-dis)", POSITIVE_NUMBER)
    lr_dis: float = option(0.0, "Adam learning rate of the discriminator if it should differ from --lr (0: --lr)",
                           Requirement(lambda v: math.isfinite(v) and v >= 0,
                                       "should be a positive number (or 0: the same as --lr)"))
    beta1: float = option(0.5, "Adam beta1", FRACTION)
    beta2: float = option(0.999, "Adam beta2", FRACTION)
    n_dis: int = option(1, "discriminator steps per generator step", POSITIVE)
    dis_batches: str = option("separate", "separate or joint real/fake discriminator batches",
                              one_of("separate", "joint"))
    eval_interval: int = option(
        0, "epochs between sample-quality evaluations (0: none); needs the dataset's feature extractor, "
        "see python -m gan_ignite.train_extractor", NON_NEGATIVE
    )
    eval_samples: int = option(1000, "samples per sample-quality evaluation",
                               Requirement(lambda v: v >= 2, "should be at least 2"))
    ema_decay: float = option(
        0.0, "sample from an exponential moving average of the generator with this decay, e.g. 0.999 (0: off)",
        Requirement(lambda v: 0 <= v < 1, "should be 0 (off) or between 0 and 1, e.g. 0.999"),
    )
    lr_decay: float = option(
        1.0, "multiply both learning rates by this after every epoch, e.g. 0.9 (Chainer's ExponentialShift; 1: off)",
        Requirement(lambda v: 0 < v <= 1, "should be more than 0 and at most 1, e.g. 0.9 (1: off)"),
    )
    early_stopping: str = option(
        "", "stop when this observed key, e.g. gen/loss or eval/fid, has not improved for --patience epochs; "
        "the generator of its best epoch is kept as checkpoints/gen_best.pt (empty: off)",
    )
    patience: int = option(
        3, "epochs (evaluations, for an eval/ key) without improvement before --early-stopping stops the run",
        POSITIVE,
    )
    early_stopping_mode: str = option(
        "auto", "whether --early-stopping's key improves by going down (min) or up (max); auto: max for "
        "accuracies, min otherwise", one_of("auto", "min", "max"),
    )
    fresh_fake: bool = option(
        False, "generate a fresh batch for the generator step instead of reusing the discriminator step's "
        "(one generator forward more per iteration)",
    )
    amp: str = option(
        "off", "mixed precision: bf16 (autocast; fast on GPUs and CPUs with bf16 units, slow elsewhere), fp16 "
        "(autocast with a gradient scaler per network, for CUDA) or off (float32)", one_of(*AMP_MODES),
    )
    channels_last: bool = option(
        True, "channels_last memory format for the networks and batches, what oneDNN and cuDNN compute in (off: the "
        "ordinary NCHW layout; the arithmetic is the same up to rounding)",
    )
    compile: bool = option(
        False, "torch.compile both networks (a few minutes of compiling first; skipped, saying why, where the "
        "platform cannot compile)",
    )
    fused_adam: bool = option(True, "Adam's fused kernel where the device has one (off: torch's default Adam)")
    keep_freed_memory: bool = option(
        True, "keep freed host memory for reuse (glibc's malloc thresholds) instead of faulting it in again every "
        "iteration, which cost a 2-core CPU's float32 step about 15 percent (off: glibc's defaults; values are unchanged)",
    )
    sync_batch_norm: bool = option(
        False, "with several processes, normalise batch norm over the global batch (SyncBatchNorm; CUDA only)"
    )
    # Small-data remedies. Both change what the run trains on, so neither is in RESUMABLE.
    diff_augment: str = option(
        "", "DiffAugment policy: a comma-separated list of color, translation, cutout, applied to every image the "
        "discriminator sees, real and generated (Zhao et al. 2020; for small datasets; empty: off)",
        _POLICY,
    )
    r1_gamma: float = option(
        0.0, "weight gamma of the R1 penalty (gamma/2)·E[|grad D(x)|²] on real images, observed as dis/r1 "
        "(Mescheder et al. 2018; e.g. 1 at 32x32 or less, 10 at 256x256 and up; 0: off)",
        Requirement(lambda v: math.isfinite(v) and v >= 0, "should be zero (off) or a positive number"),
    )


@dataclass(frozen=True)
class DCGANConfig(GANConfig):
    """GAN options plus the DCGAN networks' width and normalisation."""

    feature_maps: int = option(64, "feature maps of the first discriminator layer", POSITIVE)
    batch_norm: bool = option(True, "batch norm in both networks")
    spectral_norm: bool = option(
        False, "spectral normalisation of every discriminator layer, in place of its batch norm (SN-GAN)"
    )
    fc_units: int = option(
        0, "a fully connected hidden layer of N units in both networks, e.g. 1024 as in InfoGAN's MNIST networks "
        "(0: none)", Requirement(lambda v: v >= 0, "should be zero (no such layer) or more, e.g. 1024"),
    )

    def check(self) -> None:
        super().check()
        if self.fc_units and self.batch_norm and self.batch_size < 2:
            # The fully connected layer's batch norm has one value per unit: a batch of one has no statistics.
            raise UsageError(
                "--fc-units with batch norm needs --batch-size 2 or more; raise it or pass --no-batch-norm"
            )


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage dump), exit status 2."""

    def error(self, message: str) -> typing.NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        sys.exit(2)


def _add_field(parser: argparse.ArgumentParser, f: dataclasses.Field, hints: dict[str, Any], default: Any) -> None:
    kind = hints[f.name]
    help_text = f.metadata.get("help", "")
    if kind is bool:
        parser.add_argument(flag(f.name), action=argparse.BooleanOptionalAction, default=default, help=help_text)
    elif typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        parser.add_argument(flag(f.name), type=item, nargs="*", default=default, help=help_text)
    else:
        parser.add_argument(flag(f.name), type=kind, default=default, help=f"{help_text} (default: {f.default})")


def _prog(cls: type) -> str:
    """How the user ran the experiment: ``python -m experiments.gan_mnist`` (never ``__main__``)."""
    return f"python -m {module_name(cls.__module__)}"


def _parser(cls: type, description: str | None, prog: str | None, defaults: bool = True) -> argparse.ArgumentParser:
    """The command line of ``cls``; without ``defaults``, options not given stay out of the namespace."""
    parser = OneLineParser(description=description, prog=prog or _prog(cls))
    parser.add_argument("--config", metavar="FILE", default=None if defaults else argparse.SUPPRESS,
                        help="read options from a TOML, YAML or JSON file (a run's config.json repeats the run); "
                        "options given here override it")
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        _add_field(parser, f, hints, f.default if defaults else argparse.SUPPRESS)
    return parser


# Settings a resumed run takes from the command line only, never from its config.json:
# where and how this process runs, not what the run is.
NOT_RESUMED = (
    "out", "resume", "force", "device", "progress", "quiet",
    "nproc_per_node", "nnodes", "node_rank", "master_addr", "master_port", "backend",
)
# Settings a resumed run may change; every other one would make it another run.
RESUMABLE = NOT_RESUMED + (
    "epochs", "lr", "lr_dis", "beta1", "beta2", "ema_decay", "log_interval", "snapshot_interval",
    "snapshot_iterations", "n_saved", "histogram_interval", "eval_interval", "eval_samples", "num_workers", "data_root",
    # Decoding a folder once or every epoch gives the same batches in the same order.
    "preload_mb",
    # Compiling keeps the arithmetic (up to rounding) and no state. --channels-last and
    # --fused-adam are not here: the optimizer state saved in one memory layout or for one
    # Adam kernel would be walked by the other.
    "compile",
    # How the process recycles its host memory: no value and no state depends on it.
    "keep_freed_memory",
    # Normalising over the global batch rather than each process's keeps every state.
    "sync_batch_norm",
)
# Settings that fix the epoch length and the order of the data.
_DATA_ORDER = ("dataset", "classes", "image_size", "limit", "batch_size")


def parse_config(
    cls: type[C], argv: Sequence[str] | None = None, description: str | None = None, prog: str | None = None
) -> C:
    """Parse ``argv`` into an instance of the config dataclass ``cls``; bad values exit with one line.

    With ``--resume``, the run's saved ``config.json`` in ``--out`` supplies every option
    the command line does not give (except :data:`NOT_RESUMED`): ``--out DIR --resume
    --epochs 10`` continues the run as it was started, on its dataset, batch size and
    learning rates, not on the defaults. Only the options of :data:`RESUMABLE` may be
    given with other values than the saved ones; any other is refused, since the run
    could not go on as the same run.

    Args:
        prog: the program name for messages (default ``python -m <the config's module>``).
    """
    from gan_ignite.config_file import read_config_file

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser(cls, description, prog)
    config_file = parser.parse_args(argv).config
    experiment = experiment_of(cls.__module__) or module_name(cls.__module__)
    try:
        from_file = read_config_file(config_file, cls, experiment) if config_file is not None else {}
    except UsageError as exc:
        fail(str(exc))
    parser.set_defaults(**from_file)  # the command line overrides the file
    args = parser.parse_args(argv)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    typed = set(vars(_parser(cls, description, prog, defaults=False).parse_args(argv))) - {"config"}
    try:
        if values.get("force") and "out" in from_file.keys() - typed:
            raise UsageError(f"--force would replace the run in {values['out']}, the --out of --config "
                             f"{config_file}; pass --out to say which run to replace, or a new --out to repeat it")
        if values.get("resume"):
            return _resumed(cls, values, typed | from_file.keys())
        return cls(**values)
    except OptionError as exc:
        fail(str(exc.in_file(resolve_path(config_file, "--config")) if exc.name in from_file.keys() - typed else exc))
    except UsageError as exc:
        fail(str(exc))


# What a run from before an option existed did, where that is not the option's default.
BEFORE_THE_OPTION = {
    "fresh_fake": True,  # generated twice an iteration
    "channels_last": False,  # the ordinary NCHW layout, in which its optimizer state was made
    "fm_reduction": "sum",  # summed the feature-matching term over D's features
}


def fm_weight_option(default: float) -> Any:
    """The ``fm_weight`` option of the experiments with feature matching (``recipes.with_feature_matching``)."""
    return option(
        default, "weight of the feature-matching term, a mean over D's features (0: observed only)", NON_NEGATIVE_NUMBER
    )


def fm_reduction_option() -> Any:
    """The ``fm_reduction`` option of the experiments with feature matching (its pooling over D's features)."""
    from gan_ignite.losses.feature_matching import REDUCTIONS

    return option(
        "mean", "how the feature-matching term pools D's features: mean, or sum as the paper writes it (runs from "
        "before this option summed)", one_of(*REDUCTIONS),
    )


def _resumed(cls: type[C], values: dict[str, Any], given: set[str]) -> C:
    """The config of a resumed run: its saved settings, with the given options that may change."""
    out = resolve_path(values["out"], "--out")
    marker = read_marker(out)
    if marker is None:
        return cls(**values)  # no run there: run_experiment says so
    check_same_experiment(out, marker, experiment_of(cls.__module__))
    settings = read_saved_config(out)
    if settings is None:
        raise UsageError(f"--resume: {out} has no {CONFIG}, the run's settings, so it cannot go on as it was "
                         f"started; restore the file, or start afresh with --force")
    path, hints = out / CONFIG, typing.get_type_hints(cls)
    saved = {k: v for k, v in settings.items() if k in hints and k not in NOT_RESUMED}
    for name, older in BEFORE_THE_OPTION.items():
        if name in hints and name not in settings:
            saved[name] = older
    for name, value in saved.items():
        try:
            saved[name] = coerce(name, hints[name], value)
        except OptionError as exc:
            raise exc.in_file(path) from None
    _share_of_global_batch(saved, settings, values, given)
    for name in sorted(given & saved.keys()):
        if name not in RESUMABLE and _normal(cls, name, values[name]) != _normal(cls, name, saved[name]):
            raise _changed(name, saved[name], values[name])
    if saved.get("lr_decay", 1.0) != 1.0:  # the shift owns the rates: it would put its own back
        for name in sorted(given & saved.keys() & {"lr", "lr_dis"}):
            if values[name] != saved[name]:
                raise UsageError(
                    f"--resume: the run decays its learning rates (--lr-decay {saved['lr_decay']}), which go on "
                    f"from where they were; leave {flag(name)} out to continue the run, or start a new run"
                )
    try:
        return cls(**{**values, **{k: v for k, v in saved.items() if k not in given}})
    except OptionError as exc:
        raise (exc.in_file(path) if exc.name in saved and exc.name not in given else exc) from None


def world_size(values: Any) -> int:
    """How many processes a run has: its launcher's (torchrun, SLURM's srun), else ``--nproc-per-node`` x ``--nnodes``.

    ``values``: a config, or a mapping of option values.
    """
    from gan_ignite.run_env import launcher_world_size

    launched = launcher_world_size()
    if launched is not None:
        return launched
    get = values.get if isinstance(values, dict) else lambda name, default: getattr(values, name, default)
    return int(get("nproc_per_node", 1)) * int(get("nnodes", 1))


def _share_of_global_batch(saved: dict[str, Any], settings: dict[str, Any], values: dict[str, Any],
                           given: set[str]) -> None:
    """Set the resumed run's ``batch_size`` to its processes' share of the run's global batch.

    A resumed run keeps its global batch, whatever its number of processes: the epoch
    length, the order of the data and every iteration-counted interval stay the run's.

    Raises:
        UsageError: the global batch does not divide among the processes, or
            ``--batch-size`` is given as another share.
    """
    if "batch_size" not in saved:
        return
    world = world_size(values)
    total = int(settings.get("global_batch_size", saved["batch_size"]))  # runs from before were one process
    was = int(settings.get("world_size", 1))
    started = f"{was} process{'es' if was > 1 else ''} of {total // was}" if was > 0 else f"{total}"
    if total % world:
        raise UsageError(f"--resume: the run's global batch is {total} images ({started}), which does not divide "
                         f"among {world} processes; launch a number of processes that divides {total}")
    share = total // world
    if "batch_size" in given and values["batch_size"] != share:
        raise UsageError(f"--resume: the run's global batch is {total} images ({started}), which a resumed run "
                         f"keeps; with {world} process{'es' if world > 1 else ''} pass --batch-size {share}, or "
                         f"leave it out")
    saved["batch_size"] = share
    given.discard("batch_size")


def _normal(cls: type, name: str, value: Any) -> Any:
    """A value as the config would hold it (paths resolved), for comparing a given one with a saved one."""
    if name == "dataset":
        return dataset_path(value)
    return str(resolve_path(value, flag(name))) if is_path(cls, name) else value


def _changed(name: str, saved: Any, given: Any) -> UsageError:
    was, now = " ".join(shown_as_flags(name, saved)), " ".join(shown_as_flags(name, given))
    if name in _DATA_ORDER:
        why = "it would change the epoch length and the order of the data"
    elif name == "seed":
        why = "the seed fixes the order of the data and the sample noise"
    else:
        why = ("only learning rates, Adam betas, epochs, intervals, the EMA decay, workers, --preload-mb, device, "
               "progress, --compile, --sync-batch-norm and the launch options may change")
    return UsageError(
        f"--resume: the run was started with {was}, not {now}; {why}; leave {flag(name)} out to continue the run, "
        f"or start a new run in another --out"
    )


def read_saved_config(out: str | Path) -> dict[str, Any] | None:
    """The settings a run saved in ``out/config.json``, or ``None`` if it has none.

    Raises:
        UsageError: the file cannot be read or is not a JSON object.
    """
    path = Path(out) / CONFIG
    if not path.exists() and not path.is_symlink():
        return None
    if not path.is_file():
        raise UsageError(f"the run's settings {path} are not a file; restore {CONFIG}")
    try:
        settings = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read the run's settings {path} ({exc}); repair or restore it")
    if not isinstance(settings, dict):
        raise UsageError(f"the run's settings {path} are not a JSON object; repair or restore it")
    return settings


def saved_config(cls: type[C], run_dir: Path, settings: dict[str, Any], **overrides: Any) -> C:
    """``cls`` built from a run's saved ``settings`` (``config.json`` of ``out``) and ``overrides``.

    Raises:
        UsageError: a saved value of the wrong type or out of range, naming the file and the key.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in settings.items() if k in names and k not in overrides}
    try:
        return cls(**values, **overrides)
    except OptionError as exc:
        raise (exc.in_file(run_dir / CONFIG) if exc.name in values else exc) from None
