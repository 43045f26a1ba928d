"""Train the domain feature extractor of a dataset: ``python -m gan_ignite.train_extractor``.

For a labelled dataset, a LeNet-like classifier for grey images, a small residual
network for colour ones, trained with Ignite's supervised trainer on the real training
split and measured on the test split (``digits``, which has none, holds out a seeded
20%). For a folder of images (``--dataset PATH``, no labels; ``--data-root`` plays no
part), a SimCLR network (:mod:`gan_ignite.self_supervised`) trained on every image of
it at 32 px and measured by its view-matching accuracy. The result is saved with its
dataset name, input size, normalisation and accuracy, by default into the cache
(:func:`~gan_ignite.extractors.extractor_path`), where the metrics and
``python -m gan_ignite.evaluate`` look for it::

    python -m gan_ignite.train_extractor --dataset mnist --data-root ../shared/data
    python -m gan_ignite.train_extractor --dataset ../shared/data/logos/color128
"""

from __future__ import annotations

import argparse
from pathlib import Path
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from gan_ignite.errors import UsageError, fail
from gan_ignite.extractors import (
    EXTRACTOR_IMAGE_SIZES, DomainExtractor, ExtractorInfo, check_cache_writable, extractor_path, is_folder_dataset,
)
from gan_ignite.models.classifier import CLASSIFIERS
from gan_ignite.config import OneLineParser
from gan_ignite.run_dir import check_writable_dir, looks_like_path, resolve_path

__all__ = ["train_extractor", "train_folder_extractor", "HELP", "add_arguments", "run", "main"]

_HELD_OUT = 0.2  # the test fraction of a dataset without a test split
# Epochs when not given: the 1,437 training digits need more passes than MNIST's 60,000,
# and contrastive learning on a folder of a few hundred images many more still.
_EPOCHS = {"digits": 15}
_FOLDER_EPOCHS = 100


def _tensors(dataset: Dataset) -> tuple[Tensor, Tensor]:
    """All images (N, C, S, S) and labels (N,) of a map-style dataset."""
    images, labels = next(iter(DataLoader(dataset, batch_size=len(dataset))))  # type: ignore[arg-type]
    return images, torch.as_tensor(labels).long()


def _splits(dataset: str, root: str | None, image_size: int) -> tuple[Dataset, Dataset]:
    from gan_ignite.data import load_dataset
    from gan_ignite.splits import hold_out

    train = load_dataset(dataset, root=root, image_size=image_size, download=False)
    if dataset == "digits":
        return hold_out(train, _HELD_OUT, seed=0)
    return train, load_dataset(dataset, root=root, image_size=image_size, train=False, download=False)


def train_extractor(
    dataset: str,
    root: str | None = None,
    *,
    epochs: int = 3,
    batch_size: int = 128,
    lr: float = 1e-3,
    limit: int = 0,
    seed: int = 0,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> DomainExtractor:
    """Train and test a domain extractor for ``dataset``.

    Args:
        dataset: a labelled dataset name (``digits``, ``mnist``, ``fashion-mnist``, ``cifar10``).
        root: the data root holding its files.
        epochs, batch_size, lr: Adam training settings.
        limit: train on the first N training images only (0: all), for quick trials.
        seed: fixes initialisation and batch order.
        device: where to train.
        log: receives one progress line per epoch.

    Returns:
        The trained extractor; its ``info.test_accuracy`` is measured on the test split.
    """
    from ignite.engine import Events, create_supervised_evaluator, create_supervised_trainer
    from ignite.metrics import Accuracy
    from ignite.utils import manual_seed

    if dataset not in EXTRACTOR_IMAGE_SIZES:
        raise UsageError(
            f"Argument `dataset` should be one of {', '.join(EXTRACTOR_IMAGE_SIZES)} (a labelled dataset), but given {dataset!r}"
        )
    manual_seed(seed)
    size = EXTRACTOR_IMAGE_SIZES[dataset]
    train_set, test_set = _splits(dataset, root, size)
    images, labels = _tensors(train_set)
    if limit:
        images, labels = images[:limit], labels[:limit]
    channels = images.shape[1]
    mean, std = images.mean((0, 2, 3)), images.std((0, 2, 3))
    # Normalised once here, as DomainExtractor.normalise does to every batch it measures.
    test_images, test_labels = _tensors(test_set)
    images, test_images = ((x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1) for x in (images, test_images))
    num_classes = int(labels.max()) + 1
    architecture = "lenet" if channels == 1 else "resnet"
    network = CLASSIFIERS[architecture](channels, size, num_classes).to(device)

    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    trainer = create_supervised_trainer(network, optimizer, nn.CrossEntropyLoss(), device=device)
    evaluator = create_supervised_evaluator(network, metrics={"accuracy": Accuracy()}, device=device)
    loader = DataLoader(TensorDataset(images, labels), batch_size=batch_size, shuffle=True)
    test_loader = DataLoader(TensorDataset(test_images, test_labels), batch_size=512)

    @trainer.on(Events.EPOCH_COMPLETED)
    def _report(engine):
        accuracy = evaluator.run(test_loader).metrics["accuracy"]
        log(f"epoch {engine.state.epoch}/{epochs}: loss {engine.state.output:.4f}, test accuracy {accuracy:.4f}")

    trainer.run(loader, max_epochs=epochs)
    info = ExtractorInfo(
        dataset=dataset,
        architecture=architecture,
        image_size=size,
        channels=channels,
        num_classes=num_classes,
        mean=tuple(mean.tolist()),
        std=tuple(std.tolist()),
        test_accuracy=float(evaluator.state.metrics["accuracy"]),
    )
    return DomainExtractor(network.cpu(), info)


def train_folder_extractor(
    folder: str,
    *,
    epochs: int = _FOLDER_EPOCHS,
    batch_size: int = 128,
    lr: float = 1e-3,
    limit: int = 0,
    seed: int = 0,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> DomainExtractor:
    """Train a SimCLR extractor on the images of ``folder`` (:func:`~gan_ignite.self_supervised.train_simclr`).

    Args:
        folder: a folder of images (searched recursively, as :func:`~gan_ignite.data.load_dataset`).
        epochs, batch_size, lr: Adam training settings.
        limit: train on the first N images only (0: all).
        seed: fixes initialisation, batch order and views.
        device: where to train.
        log: receives a progress line every tenth of the epochs (at least every epoch).

    Returns:
        The extractor; ``info.dataset`` is the folder's resolved path and
        ``info.test_accuracy`` its view-matching accuracy.

    Raises:
        UsageError: not a folder, no images in it, an unreadable image, fewer than 2 images.
    """
    from gan_ignite.data import load_dataset
    from gan_ignite.self_supervised import SIMCLR_IMAGE_SIZE, train_simclr

    path = resolve_path(folder, "--dataset")
    images, _ = _tensors(load_dataset(path, image_size=SIMCLR_IMAGE_SIZE, channels=3))
    if limit:
        images = images[:limit]
    if len(images) < 2:  # one image has no other to be told apart from
        raise UsageError(f"--dataset {folder} holds {len(images)} image; SimCLR needs at least 2")
    return train_simclr(images, dataset=str(path), epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                        device=device, log=log, log_every=max(1, epochs // 10))


HELP = "train the domain feature extractor that evaluations measure a dataset's samples with"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``gan-ignite train-extractor`` and ``python -m gan_ignite.train_extractor``."""
    parser.add_argument("--dataset", default="mnist",
                        help=f"one of {', '.join(EXTRACTOR_IMAGE_SIZES)}, or a folder of images (SimCLR, no labels)")
    parser.add_argument("--data-root", default="data", help="where the dataset files live (not for a folder)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"training epochs (none given: 15 for digits, {_FOLDER_EPOCHS} for a folder, else 3)")
    parser.add_argument("--batch-size", type=int, default=128, help="images per batch")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--limit", type=int, default=0, help="train on the first N images only (0: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the data order")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (cuda if available)")
    parser.add_argument("--out", default=None, help="the extractor file (none given: the cache)")


def run(args: argparse.Namespace) -> None:
    """Train and save the extractor ``args`` describe; bad input raises :class:`UsageError`."""
    folder = _is_folder(args.dataset)
    if args.epochs is None:
        args.epochs = _FOLDER_EPOCHS if folder else _EPOCHS.get(args.dataset, 3)
    _check_numbers(args)
    out = _out_path(args)
    options = dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, limit=args.limit, seed=args.seed,
                   device=args.device)
    if folder:
        extractor = train_folder_extractor(args.dataset, **options)
        what, accuracy = f"SimCLR extractor of {extractor.info.dataset}", "view-matching accuracy"
    else:
        extractor = train_extractor(args.dataset, str(resolve_path(args.data_root, "--data-root")), **options)
        what, accuracy = f"{args.dataset} extractor", "test accuracy"
    extractor.save(out)
    print(f"{what}: {accuracy} {extractor.info.test_accuracy:.4f}; saved to {out}")


def _is_folder(dataset: str) -> bool:
    """Whether ``--dataset`` names a folder of images (SimCLR) rather than a labelled dataset.

    Raises:
        UsageError: an unknown name, or a path that is no folder of images (none there,
            a file, no image in it), before anything else is done.
    """
    from gan_ignite.data import dataset_channels

    if dataset in EXTRACTOR_IMAGE_SIZES:
        return False
    if not (is_folder_dataset(dataset) or looks_like_path(dataset)):
        raise UsageError(f"Argument `dataset` should be one of {', '.join(EXTRACTOR_IMAGE_SIZES)} (a labelled "
                         f"dataset) or a folder of images, but given {dataset!r}")
    dataset_channels(dataset)  # names what is wrong with the path
    return True


def _out_path(args: argparse.Namespace) -> Path:
    """The extractor file to write, checked writable before any training."""
    if not args.out:
        out = extractor_path(args.dataset)
        check_cache_writable(out.parent)  # before training, not after
        return out
    out = resolve_path(args.out, "--out")
    if out.is_dir():
        raise UsageError(f"--out {args.out} is a directory; pass the extractor's file name, e.g. "
                         f"{Path(args.out) / extractor_path(args.dataset).name}")
    check_writable_dir(out.parent, "--out's folder")
    return out


def _check_numbers(args: argparse.Namespace) -> None:
    """Refuse the numbers and the device training cannot take, before anything is loaded."""
    from gan_ignite.options import resolve_device

    for name, low in (("epochs", 1), ("batch_size", 1), ("limit", 0)):
        if getattr(args, name) < low:
            kind = "a positive integer" if low else "zero (all images) or more"
            raise UsageError(f"--{name.replace('_', '-')} should be {kind}, but given {getattr(args, name)}")
    if not args.lr > 0 or args.lr == float("inf"):
        raise UsageError(f"--lr should be a positive number, but given {args.lr}")
    args.device = resolve_device(args.device)


def main(argv: Sequence[str] | None = None, prog: str = "python -m gan_ignite.train_extractor") -> None:
    from gan_ignite.commands import DefaultsHelp

    parser = OneLineParser(prog=prog, description=__doc__.split("\n")[0],
                           formatter_class=DefaultsHelp)
    add_arguments(parser)
    try:
        run(parser.parse_args(argv))
    except UsageError as exc:
        fail(str(exc))


if __name__ == "__main__":
    main()
