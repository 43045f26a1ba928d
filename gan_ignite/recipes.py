"""Recipes: the standard wiring of a GAN run, shared by the experiment modules.

An experiment picks a dataset, two networks and a loss; everything else (the data
loader, Adam optimizers, the update step, the trainer and the standard extensions that
make the run directory of DESIGN.md) is the same, and lives here once.
"""

from __future__ import annotations

import io
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import ignite.distributed as idist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from gan_ignite import extensions as E
from gan_ignite.acceleration import adam, compile_models, to_channels_last
from gan_ignite.augment import DiffAugment
from gan_ignite.batching import TensorBatchLoader, decoded_in_memory, in_memory
from gan_ignite.config import DCGANConfig, ExperimentConfig, GANConfig
from gan_ignite.distributed import is_main_process, quiet_ignite
from gan_ignite.errors import UsageError
from gan_ignite.extensions.snapshot import snapshot_trigger
from gan_ignite.extensions.tensorboard import GAN_METRICS
from gan_ignite.host_memory import keep_freed_memory
from gan_ignite.losses import FeatureMatching, GANLoss, R1Penalty
from gan_ignite.precision import slow_16_bit
from gan_ignite.run_dir import DIS_OUTPUT_PLOT, LOSS_PLOT
from gan_ignite.sampling import ResumableSampler, ignore_stop_signals
from gan_ignite.trainer import PRIORITY_STOP, Trainer
from gan_ignite.triggers import EarlyStoppingTrigger, MaxValueTrigger, MinValueTrigger, TriggerLike
from gan_ignite.updaters import make_gan_step

__all__ = [
    "dataset_from_config", "stand_in_data", "dataset_channels_of", "dcgan_models", "with_feature_matching",
    "make_loader", "evaluation",
    "sampling_generator",
    "standard_extensions", "speed_switches", "distributed_models", "gan_trainer", "stop_trigger", "REPORT_KEYS", "EVAL_REPORT_KEYS",
    "CLASSLESS_EVAL_REPORT_KEYS",
    "BEST_GENERATOR",
]

REPORT_KEYS = ["epoch", "iteration", "gen/loss", "dis/loss", "dis/real", "dis/fake", "elapsed_time"]
EVAL_REPORT_KEYS = ["eval/fid", "eval/is", "eval/classes"]
# The console's evaluation columns where the extractor has no classes (an image folder's
# SimCLR features), whose class metrics are NaN: diversity in feature space instead.
CLASSLESS_EVAL_REPORT_KEYS = ["eval/fid", "eval/recall", "eval/coverage"]
# What the progress bar shows besides the time left: the losses and D's outputs (the
# observation keys every GAN step reports, which TensorBoard's HParams lists too).
PROGRESS_KEYS = list(GAN_METRICS)


def dataset_from_config(config: ExperimentConfig) -> Dataset:
    """The training set the options name: dataset, root, image size, classes, limit.

    Under :func:`stand_in_data` it is a stand-in of zeros instead (see there): nothing is read.
    """
    from torch.utils.data import Subset

    from gan_ignite.data import load_dataset

    if (least := _STAND_IN.get()) is not None:
        return _stand_in_dataset(config, least)
    dataset = load_dataset(
        config.dataset, root=config.data_root, image_size=config.image_size, classes=config.classes or None
    )
    if config.limit:
        dataset = Subset(dataset, range(min(config.limit, len(dataset))))  # type: ignore[arg-type]
    return dataset


# The images a stand-in holds at least (a run's global batch), while rebuilding a run; None when training.
_STAND_IN: ContextVar[int | None] = ContextVar("stand_in_data", default=None)


@contextmanager
def stand_in_data(images: int = 1) -> Iterator[None]:
    """Rebuild a run without its data: :func:`dataset_from_config` returns a stand-in of zeros.

    Sampling and evaluating a run need its networks, not its training set, which may
    have moved, be on another machine, or be a folder slow to read. An experiment's
    ``build(config)`` under this context gets, instead of the data, an in-memory
    :class:`~gan_ignite.data.TensorImageDataset` of zero images of the run's shape:
    its channels (1 for the digit sets, 3 for CIFAR-10 and folders, which are not
    read), its image size, at least ``images`` of them (pass the run's global batch),
    and labels covering ``--classes`` (else 0..9; a folder's are all 0), so that an
    experiment that counts its classes from the labels counts as in training. Nothing
    is downloaded or read, and :func:`dataset_channels_of` does not look into a folder.

    Args:
        images: the fewest images the stand-in holds.
    """
    token = _STAND_IN.set(max(1, images))
    try:
        yield
    finally:
        _STAND_IN.reset(token)


def dataset_channels_of(config: ExperimentConfig) -> int:
    """The channels of the run's images: its dataset's own, or 3 for a folder under :func:`stand_in_data`."""
    from gan_ignite.data import DATASETS, dataset_channels

    if _STAND_IN.get() is not None and config.dataset not in DATASETS:
        return 3  # a folder is read as RGB; it may be gone
    return dataset_channels(config.dataset)


def _stand_in_dataset(config: ExperimentConfig, least: int) -> Dataset:
    """Zero images of the run's shape, labelled ``0..K-1`` in turn (see :func:`stand_in_data`).

    Big enough for a batch, and, for an experiment that holds out ``--held-out`` of
    its data and keeps ``--labelled`` labels a class (ssgan_mnist), for a seeded random
    hold-out to leave every class its labels with a wide margin (four times the need).
    One zero image is expanded, so the images take no memory until copied.
    """
    import torch

    from gan_ignite.data import DATASETS, TensorImageDataset

    labels = (config.classes or tuple(range(10))) if config.dataset in DATASETS else (0,)
    keep = min(1.0, max(0.05, 1.0 - getattr(config, "held_out", 0.0)))  # the share left for training
    per_class = math.ceil(4 * (getattr(config, "labelled", 0) + 8) / keep)
    n = max(math.ceil(2 * max(least, config.batch_size) / keep), per_class * len(labels))
    channels = dataset_channels_of(config)
    images = torch.zeros(1, channels, config.image_size, config.image_size).expand(n, -1, -1, -1)
    targets = torch.tensor(list(labels)).repeat(math.ceil(n / len(labels)))[:n]
    return TensorImageDataset(images, targets)


def dcgan_models(
    config: DCGANConfig, discriminator: type[nn.Module] | None = None, **dis_options: Any
) -> tuple[nn.Module, nn.Module]:
    """The DCGAN generator and discriminator the options describe, for the dataset's channels.

    Checks the image size before any data is loaded. ``discriminator`` replaces the DCGAN
    discriminator class (e.g. EBGAN's autoencoder, which takes the same shape arguments);
    ``dis_options`` go to its constructor (``minibatch``, ``num_classes``). The options
    that shape the DCGAN discriminator (``--spectral-norm``, ``--fc-units``) are refused
    when ``discriminator`` replaces it, rather than silently dropped.
    """
    from gan_ignite.models import DCGANDiscriminator, DCGANGenerator, check_image_size

    check_image_size(config.image_size)
    dcgan_only = {"spectral_norm": config.spectral_norm, "fc_units": config.fc_units}
    for name, value in dcgan_only.items():
        if value and discriminator is not None:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} shapes the DCGAN discriminator, which this experiment replaces with "
                             f"{discriminator.__name__}; leave it out")
    if discriminator is None:
        dis_options = {**dis_options, **dcgan_only}
    shape = dict(
        image_size=config.image_size, channels=dataset_channels_of(config), feature_maps=config.feature_maps
    )
    gen = DCGANGenerator(z_dim=config.z_dim, batch_norm=config.batch_norm, fc_units=config.fc_units, **shape)
    dis = (discriminator or DCGANDiscriminator)(batch_norm=config.batch_norm, **shape, **dis_options)
    return gen, dis


def with_feature_matching(config: Any, loss: GANLoss) -> GANLoss:
    """``loss`` with feature matching as ``--feature-matching``, ``--fm-weight`` and ``--fm-reduction`` say."""
    if not config.feature_matching:
        return loss
    return FeatureMatching(loss, weight=config.fm_weight, reduction=config.fm_reduction)


def make_loader(dataset: Dataset, config: ExperimentConfig) -> TensorBatchLoader | DataLoader:
    """A shuffling loader that drops the last incomplete batch (GAN steps want equal batches).

    It shuffles with a :class:`~gan_ignite.sampling.ResumableSampler` seeded by
    ``config.seed``, so a run resumed mid-epoch continues the epoch's order. An in-memory
    dataset (a :class:`~gan_ignite.data.TensorImageDataset`, or a ``Subset`` of one from
    ``--limit``) is served by a :class:`~gan_ignite.batching.TensorBatchLoader`, which cuts
    each batch from the tensors at once (on CUDA from the device, when the data fits);
    ``--num-workers`` means nothing there and is ignored. An image folder whose decoded
    images fit in ``--preload-mb`` is decoded once first, by ``--num-workers`` processes
    (:func:`~gan_ignite.batching.decoded_in_memory`), and served the same way. Larger
    folders, decoded per item, use a ``DataLoader`` whose workers' seeds follow from
    ``(seed, epoch)``.
    """
    size, world = len(dataset), idist.get_world_size()  # type: ignore[arg-type]
    if config.batch_size * world > size:
        share = f"each of the {world} processes' share of the dataset ({size // world} of {size} images)"
        raise UsageError(
            f"Argument `batch_size` ({config.batch_size}) is larger than "
            f"{share if world > 1 else f'the dataset ({size} images)'}; pass a smaller --batch-size"
        )
    # With several processes each reads its share of the same order (every one is seeded alike).
    sampler = ResumableSampler(  # type: ignore[arg-type]
        dataset, seed=config.seed, num_replicas=idist.get_world_size(), rank=idist.get_rank()
    )
    device = config.resolved_device()
    # Every process holds the whole folder (its share changes every epoch): the budget is
    # this machine's, divided among its processes.
    budget = (config.preload_mb << 20) // idist.get_nproc_per_node()
    decoded = None if in_memory(dataset) else decoded_in_memory(dataset, budget, config.num_workers)
    dataset = dataset if decoded is None else decoded
    if in_memory(dataset):
        return TensorBatchLoader(dataset, config.batch_size, sampler, device=device)
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        sampler=sampler,
        drop_last=True,
        num_workers=config.num_workers,
        pin_memory=device == "cuda",
        # Workers are started every epoch, not persistent: a persistent worker draws its
        # seed once, when the first epoch's iterator starts it, and its RNG then runs on
        # through every epoch, so a run resumed at epoch k would seed its workers from
        # (seed, k) where the uninterrupted run's carry on from (seed, 0): restarted,
        # they are seeded from (seed, epoch) either way, and resume stays exact.
        generator=sampler.worker_generator,
        worker_init_fn=ignore_stop_signals if config.num_workers > 0 else None,
    )


def evaluation(config: GANConfig, gen: nn.Module, z_dim: int) -> E.Evaluation:
    """The sample-quality extension for the run's dataset, with the cached extractor.

    Raises:
        UsageError: no extractor for the dataset (with the command that trains one).
    """
    from gan_ignite.extractors import load_extractor
    from gan_ignite.metrics import reference_for

    device = config.resolved_device()
    extractor = load_extractor(config.dataset).to(device)
    reference = reference_for(extractor, config.dataset, config.data_root, classes=config.classes or None)
    return E.Evaluation(gen, z_dim, extractor, reference, n=config.eval_samples, seed=config.seed, device=device)


def sampling_generator(trainer: Trainer, config: ExperimentConfig, gen: nn.Module) -> nn.Module:
    """The generator to sample from: ``gen``, or its moving average with ``--ema-decay``.

    With a decay, an :class:`~gan_ignite.extensions.EMA` extension (named ``ema``) keeps
    the average and is registered on ``trainer``.
    """
    decay = getattr(config, "ema_decay", 0.0)
    if not decay:
        return gen
    ema = E.EMA(gen, decay)
    trainer.extend(ema)
    return ema.ema_model


def standard_extensions(trainer: Trainer, config: ExperimentConfig, gen: nn.Module, z_dim: int) -> None:
    """The standard extensions of a run.

    Log, the NaN/inf guard and the training-health warnings, console table, progress bar, the generator's average
    (``--ema-decay``), sample grids and evaluations (of the average when there is one),
    TensorBoard, plots, snapshots.

    In a run of several processes, as in ChainerMN, the extensions that write (the log,
    the console, sample grids, TensorBoard, plots, snapshots) are registered in the main
    process only; every process keeps the guard, the training-health checks (their
    warnings said by the main process), the generator's average, the learning-rate
    extensions and the evaluation (computed by the main process, its numbers shared with
    all), which their stop triggers read.
    ``gen`` is the generator itself, not its ``DistributedDataParallel`` wrapper.
    """
    device, main = config.resolved_device(), is_main_process()
    if main:
        trainer.extend(E.LogReport(trigger=(1, "epoch")))
    checks = (config.log_interval, "iteration")
    # Its own trigger (triggers keep state), at every epoch end, where the log and the
    # sample grid are written, and at every snapshot: none of them holds an unchecked value.
    snapshots = snapshot_trigger(1, config.snapshot_iterations)
    trainer.extend(E.FiniteGuard(interval=checks, snapshots=snapshots))
    # In every process: its probe runs the generator in training mode, whose SyncBatchNorm
    # (--sync-batch-norm) is a collective. Only the main process says its warnings.
    trainer.extend(E.TrainingHealth(gen, z_dim, interval=checks, device=device, out=None if main else _DISCARD))
    sample_gen = sampling_generator(trainer, config, gen)
    eval_keys: list[str] = []
    if getattr(config, "eval_interval", 0) > 0:
        evaluator = evaluation(config, sample_gen, z_dim)
        trainer.extend(evaluator, trigger=(config.eval_interval, "epoch"))
        classes = evaluator.extractor.info.num_classes
        eval_keys = EVAL_REPORT_KEYS if classes else CLASSLESS_EVAL_REPORT_KEYS
    if main:
        _writers(trainer, config, sample_gen, z_dim, eval_keys)
    for name in trainer.optimizers:
        trainer.extend(E.observe_lr(name, f"{name}/lr"))
    if getattr(config, "lr_decay", 1.0) != 1.0:
        trainer.extend(E.ExponentialShift("lr", config.lr_decay), trigger=(1, "epoch"))
    if getattr(config, "early_stopping", ""):
        best = _best_value_trigger(config.early_stopping, config.early_stopping_mode, _check_interval(config))
        # Before the stop trigger is asked: a key never observed is then reported as one
        # error line by this trigger rather than as a warning of the early stop's.
        if main:
            trainer.extend(E.snapshot_object(gen, BEST_GENERATOR), trigger=best, priority=PRIORITY_STOP + 1)


def _writers(trainer: Trainer, config: ExperimentConfig, sample_gen: nn.Module, z_dim: int,
             eval_keys: list[str]) -> None:
    """The extensions that write the run directory and the console: the main process's.

    ``eval_keys``: the evaluation's keys for the console and HParams; empty without one.
    """
    report = REPORT_KEYS[:-1] + eval_keys + REPORT_KEYS[-1:]
    if not config.quiet:
        trainer.extend(E.PrintReport(report))
    if config.progress and not config.quiet and sys.stderr.isatty():  # a bar in a log file is noise
        trainer.extend(E.ProgressBar(keys=PROGRESS_KEYS), trigger=(config.log_interval, "iteration"))
    device = config.resolved_device()
    trainer.extend(E.SampleGrid(sample_gen, z_dim, n=config.n_samples, seed=config.seed, device=device))
    # HParams lists the final losses and D's outputs, and the sample quality when evaluated.
    metrics = PROGRESS_KEYS + eval_keys[:2]
    trainer.extend(E.TensorBoardReport(trigger=(config.log_interval, "iteration"), config=config, metrics=metrics,
                                       models=trainer.models, histogram_interval=config.histogram_interval))
    # The plots draw the LogReport's entries rather than average every iteration again.
    trainer.extend(E.PlotReport(["dis/loss", "gen/loss"], filename=LOSS_PLOT, log_report="LogReport"))
    trainer.extend(E.PlotReport(["dis/real", "dis/fake"], filename=DIS_OUTPUT_PLOT, log_report="LogReport"))
    snapshots = snapshot_trigger(config.snapshot_interval, config.snapshot_iterations)
    trainer.extend(E.snapshot(n_saved=config.n_saved), trigger=snapshots)


BEST_GENERATOR = "gen_best.pt"


class _Discard(io.TextIOBase):
    """A text stream that keeps nothing: the warnings of the processes other than the main one."""

    def write(self, text: str) -> int:
        return len(text)


_DISCARD = _Discard()


def _best_value_trigger(key: str, mode: str, interval: tuple[int, str]) -> MaxValueTrigger | MinValueTrigger:
    """Fires at the end of each interval whose mean ``key`` is the best yet (auto: max for accuracies)."""
    if mode == "auto":
        mode = "max" if "accuracy" in key else "min"
    return (MaxValueTrigger if mode == "max" else MinValueTrigger)(key, trigger=interval)


def _check_interval(config: GANConfig) -> tuple[int, str]:
    """How often ``--early-stopping``'s key is compared: every epoch, or every evaluation for ``eval/`` keys.

    Raises:
        UsageError: an ``eval/`` key without evaluations.
    """
    if not config.early_stopping.startswith("eval/"):
        return (1, "epoch")
    if not config.eval_interval:
        raise UsageError(f"--early-stopping {config.early_stopping} watches an evaluation; pass --eval-interval N "
                         f"to evaluate every N epochs")
    return (config.eval_interval, "epoch")


def stop_trigger(config: ExperimentConfig) -> TriggerLike:
    """``(epochs, 'epoch')``, or an early stop on ``--early-stopping``'s key within as many epochs.

    ``--patience`` counts comparisons: epochs, or evaluations (``--eval-interval``) for ``eval/`` keys.
    """
    key = getattr(config, "early_stopping", "")
    if not key:
        return (config.epochs, "epoch")
    return EarlyStoppingTrigger(
        check_trigger=_check_interval(config), monitor=key, patience=config.patience, mode=config.early_stopping_mode,
        max_trigger=(config.epochs, "epoch"),
    )


def speed_switches(config: GANConfig, gen: nn.Module, dis: nn.Module) -> None:
    """Apply ``--channels-last`` and ``--compile`` to the networks (already on the device), and vet ``--amp``.

    A platform that cannot compile gets one ``warning:`` line and an uncompiled run, and
    ``--amp`` on a device without units of its type one ``warning:`` line (it still runs
    as asked: the numbers are the same, only slower).
    """
    slow = slow_16_bit(config.amp, config.resolved_device())
    if slow is not None and is_main_process():
        print(f"warning: --amp {config.amp} will be slow: {slow}", file=sys.stderr)
    if config.channels_last:
        to_channels_last(gen, dis)
    if config.compile:
        reason = compile_models(gen, dis, device=config.resolved_device())
        if reason is not None and is_main_process():
            print(f"warning: --compile skipped: {reason}; training uncompiled", file=sys.stderr)


def distributed_models(config: GANConfig, gen: nn.Module, dis: nn.Module) -> tuple[nn.Module, nn.Module]:
    """The networks as the training step runs them: ``DistributedDataParallel`` with several processes.

    ``idist.auto_model`` wraps them (and with ``--sync-batch-norm`` first converts their
    batch norm to ``SyncBatchNorm``, in place of the layers inside ``gen`` and ``dis``).
    With one process they are returned as they are: ``auto_model`` would wrap them in
    ``DataParallel`` on a machine with several GPUs, which no option asked for.
    """
    if idist.get_world_size() == 1:
        return gen, dis
    with quiet_ignite():
        return (idist.auto_model(gen, sync_bn=config.sync_batch_norm),
                idist.auto_model(dis, sync_bn=config.sync_batch_norm))


def gan_trainer(
    config: GANConfig,
    dataset: Dataset,
    gen: nn.Module,
    dis: nn.Module,
    loss: GANLoss,
) -> Trainer:
    """A trainer for ``gen`` and ``dis`` with Adam, the GAN step and the standard extensions.

    Args:
        config: the experiment's options (noise size, Adam settings, step options, ...).
        dataset: yields ``(image, label)`` with images in [-1, 1].
        gen, dis: the networks (moved to the config's device here).
        loss: the variant's loss object (wrapped in an :class:`~gan_ignite.losses.R1Penalty` with ``--r1-gamma``).
    """
    if config.keep_freed_memory:
        keep_freed_memory()
    device = config.resolved_device()
    gen, dis = gen.to(device), dis.to(device)
    speed_switches(config, gen, dis)
    gen_step, dis_step = distributed_models(config, gen, dis)
    betas = (config.beta1, config.beta2)
    opt_gen = adam(gen.parameters(), lr=config.lr, betas=betas, device=device, fused=config.fused_adam)
    # Two time-scale updates (Heusel et al., 2017) when --lr-dis differs from --lr.
    opt_dis = adam(dis.parameters(), lr=config.lr_dis or config.lr, betas=betas, device=device, fused=config.fused_adam)
    opt_gen, opt_dis = idist.auto_optim(opt_gen), idist.auto_optim(opt_dis)
    if config.r1_gamma:
        loss = R1Penalty(loss, config.r1_gamma)
    step = make_gan_step(
        gen_step, dis_step, opt_gen, opt_dis, loss,
        z_dim=config.z_dim, n_dis=config.n_dis, dis_batches=config.dis_batches, device=device,
        reuse_fake=not config.fresh_fake, amp=config.amp, channels_last=config.channels_last,
        augment=DiffAugment(config.diff_augment) if config.diff_augment else None,
    )
    trainer = Trainer(step, make_loader(dataset, config), stop_trigger=stop_trigger(config), out=config.out)
    standard_extensions(trainer, config, gen, config.z_dim)
    return trainer
