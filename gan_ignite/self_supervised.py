"""Self-supervised features for folders of images without labels: SimCLR (Chen et al. 2020).

FID, KID and the k-NN metrics need a feature space in which images that look alike lie
close together. For a labelled dataset a classifier provides one
(:mod:`gan_ignite.train_extractor`); a folder of logos has no labels to classify.
SimCLR learns a feature space from the images alone, by *contrast*:

1. Each image of a batch of N is augmented twice, independently (:func:`simclr_views`):
   a random crop of 20-100% of its area resized back, a horizontal flip, colour jitter
   and sometimes greyscale. The two views show the same image; the other 2N - 2 views of
   the batch show other images.
2. Every view goes through the network (here a :class:`~gan_ignite.models.classifier.SmallResNet`
   without classes, pooled to F features) and a small MLP, the *projection head*, to z.
3. The NT-Xent loss (:func:`nt_xent`) is a (2N - 1)-way classification for each view:
   among the cosine similarities of its z to all other views' z, divided by a
   temperature, the other view of the same image should win. To win, the features must
   keep what survives every augmentation (shapes, layout, the structure of the colours)
   and must separate different images, which is what a metric's feature space needs.

After training the projection head is discarded: the paper finds the pooled features
before it keep more of the image (the head learns to drop what the augmentations
change, colour for one), so those are the extractor's features, as for a classifier's
penultimate layer. The extractor has no classes (K = 0): the class-based metrics (IS,
confident, classes) are undefined for it, NaN.

How good the result is cannot be measured as a test accuracy without labels; the
*view-matching accuracy* (:func:`view_matching_accuracy`) stands in: for one fixed,
seeded pair of fresh views of every image, the fraction of images whose first view's
nearest neighbour (cosine) among all second views is its own. Chance is 1 / N; an
untrained network scores above chance too (two crops of one image share its colours),
so compare with it. It is saved as the extractor's ``info.test_accuracy``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_ignite.errors import UsageError
from gan_ignite.extractors import DomainExtractor, ExtractorInfo
from gan_ignite.models.classifier import SmallResNet

__all__ = [
    "SIMCLR_IMAGE_SIZE",
    "SIMCLR_WIDTH",
    "simclr_views",
    "nt_xent",
    "view_matching_accuracy",
    "train_simclr",
]

SIMCLR_IMAGE_SIZE = 32  # what the network trains and measures at: cheap on a CPU, enough for logos
SIMCLR_WIDTH = 16  # SmallResNet's first-stage maps: F = 64 features
_PROJECTION = (128, 64)  # hidden and output units of the projection head
_MATCHING_SEED = 0  # the views of the view-matching accuracy: the same for every extractor

_T = TypeVar("_T")


@functools.lru_cache(maxsize=8)
def _augmentation(size: tuple[int, int]) -> Callable[[Tensor], Tensor]:
    """SimCLR's augmentations for one (3, H, W) image in [0, 1] (torchvision v2, global RNG)."""
    from torchvision.transforms import v2

    return v2.Compose([
        v2.RandomResizedCrop(size, scale=(0.2, 1.0), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        v2.RandomGrayscale(p=0.2),
    ])


def simclr_views(x: Tensor) -> Tensor:
    """One random SimCLR view of each image: crop and resize, flip, colour jitter, greyscale.

    Every image gets its own random parameters (the transforms run image by image: a
    batch-level call would crop every image alike), drawn from torch's global RNG, so
    seed it (``torch.manual_seed``) for repeatable views. The crop keeps 20-100% of the
    area (aspect 3/4 to 4/3) and is resized back to the input's size; colour jitter
    (brightness, contrast, saturation 0.4, hue 0.1) applies with probability 0.8,
    greyscale with 0.2.

    Args:
        x: (N, 3, H, W) images in [-1, 1].

    Returns:
        (N, 3, H, W) views in [-1, 1], on ``x``'s device.
    """
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"simclr_views takes (N, 3, H, W) colour images, but given the shape {tuple(x.shape)}")
    augment = _augmentation(tuple(x.shape[-2:]))
    unit = (x.detach() + 1) / 2  # the colour transforms expect [0, 1]
    views = torch.stack([augment(image) for image in unit])
    return views.clamp(0, 1) * 2 - 1  # clamp: resampling may overshoot by a rounding error


def nt_xent(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    """The normalized-temperature cross-entropy (NT-Xent) loss of SimCLR.

    With the 2N projections ``z = [z1; z2]``, ``s_ij`` the cosine similarity of ``z_i`` and
    ``z_j`` and ``p(i)`` the index of the other view of ``z_i``'s image::

        l(i) = -log( exp(s_i,p(i) / t) / sum_{k != i} exp(s_ik / t) )
        loss = mean of l(i) over all 2N views

    i.e. a cross-entropy over each view's 2N - 1 others (itself excluded), whose right
    answer is its positive pair.

    Args:
        z1, z2: (N, D) projections of the first and second views; row i of both comes
            from image i.
        temperature: t; lower sharpens the softmax, weighting the hardest negatives more.

    Returns:
        The 0-d mean loss.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"nt_xent takes two (N, D) projections of one shape, but given {tuple(z1.shape)} "
                         f"and {tuple(z2.shape)}")
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # its epsilon guards a zero projection
    logits = z @ z.T / temperature
    # A view's similarity to itself is always the largest: it must not count as a candidate.
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, positives)


def _features(extractor: nn.Module, images: Tensor, batch_size: int = 500) -> Tensor:
    """(N, F) features of (N, C, H, W) images, in batches, on the extractor's device."""
    device = next(extractor.parameters()).device
    with torch.no_grad():
        return torch.cat([extractor(x.to(device)).float().cpu() for x in images.split(batch_size)])


def view_matching_accuracy(extractor: nn.Module, images: Tensor, *, limit: int = 1000,
                           seed: int = _MATCHING_SEED) -> float:
    """How often one view of an image finds the other view of the same image first.

    For the first ``limit`` images, two fresh views each (:func:`simclr_views`, drawn
    under ``seed`` without disturbing the global RNG, so the same views for every
    extractor), the fraction of images whose first view's feature has the image's own
    second view as its nearest neighbour (cosine) among all second views. Chance is
    1 / N; the harder, the more images (hence a fixed cap).

    Args:
        extractor: maps (N, 3, H, W) images in [-1, 1] to (N, F) features.
        images: (N, 3, H, W) images in [-1, 1].
        limit: images measured at most.
        seed: the seed of the views.
    """
    images = images[:limit]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        first, second = simclr_views(images), simclr_views(images)
    a = F.normalize(_features(extractor, first), dim=1)
    b = F.normalize(_features(extractor, second), dim=1)
    matches = (a @ b.T).argmax(1) == torch.arange(len(images))
    return float(matches.double().mean())


def _view_batches(images: Tensor, epochs: int, batch_size: int,
                  views: Callable[[Tensor], Tensor]) -> Iterator[tuple[int, bool, Tensor]]:
    """(epoch, last batch of the epoch?, (2B, 3, S, S) both views of a batch), for every batch of training.

    All the randomness of training after initialisation is drawn here, in this order:
    each epoch's shuffle (a batch of one, which has no negatives, is dropped) and views.
    """
    for epoch in range(1, epochs + 1):
        batches = [index for index in torch.randperm(len(images)).split(batch_size) if len(index) > 1]
        for i, index in enumerate(batches):
            batch = images[index]
            yield epoch, i == len(batches) - 1, torch.cat([views(batch), views(batch)])


def _ahead(items: Iterator[_T]) -> Iterator[_T]:
    """``items``, each made in a worker thread while the caller works on the previous one.

    The views are made image by image, mostly Python and small tensor operations, while
    the training step is mostly convolutions that release the GIL: overlapped, an epoch
    takes about a quarter less time on two cores. Only the worker draws random numbers
    (the step draws none), one item after the other, so the order stays fixed.
    """
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(next, items, None)
        while (item := future.result()) is not None:
            future = pool.submit(next, items, None)
            yield item


def _fit(backbone: SmallResNet, head: nn.Module, views: Callable[[Tensor], Tensor], images: Tensor, *,
         epochs: int, batch_size: int, lr: float, temperature: float, device: str,
         log: Callable[[str], None], log_every: int) -> None:
    """The SimCLR training loop: two views per image, NT-Xent on their projections, Adam."""
    optimizer = torch.optim.Adam([*backbone.parameters(), *head.parameters()], lr=lr)
    steps = epochs * sum(len(index) > 1 for index in torch.arange(len(images)).split(batch_size))
    # Cosine decay to 0, as in the paper: the last epochs refine instead of jumping around.
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(steps, 1))
    start, total, count = time.perf_counter(), 0.0, 0
    for epoch, last, x in _ahead(_view_batches(images, epochs, batch_size, views)):
        x = x.to(device, memory_format=torch.channels_last)
        z1, z2 = head(backbone.features(x)).chunk(2)  # one pass: batch norm sees both views
        loss = nt_xent(z1, z2, temperature)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        total, count = total + loss.item() * len(z1), count + len(z1)
        if last and (epoch % log_every == 0 or epoch == epochs):
            log(f"epoch {epoch}/{epochs}: loss {total / count:.4f} ({time.perf_counter() - start:.0f}s)")
        if last:
            total, count = 0.0, 0


def train_simclr(
    images: Tensor,
    *,
    dataset: str = "folder",
    epochs: int = 100,
    batch_size: int = 128,
    lr: float = 1e-3,
    temperature: float = 0.5,
    seed: int = 0,
    device: str = "cpu",
    log: Callable[[str], None] = print,
    log_every: int = 10,
) -> DomainExtractor:
    """Train a SimCLR feature extractor on unlabelled images.

    A ``SmallResNet(3, 32, num_classes=0, width=16)`` (64 pooled features) with a
    2-layer MLP projection head (64 -> 128 -> 64) is trained with :func:`nt_xent` on two
    :func:`simclr_views` of every image of each batch, by Adam with a cosine-decaying
    learning rate; then the head is discarded. Everything random (initialisation, batch
    order, views) comes from ``seed``, under a fork of the global RNG that leaves the
    caller's untouched: the same seed gives the same weights (on one device and thread count).

    Args:
        images: (N, 3, H, W) images in [-1, 1], N >= 2; resized to 32 px when not.
        dataset: what they are (a folder's path), saved as ``info.dataset``.
        epochs, batch_size, lr: training settings (images per batch: twice as many views).
        temperature: NT-Xent's; the paper's 0.5 for CIFAR-sized data.
        seed: the seed of everything random.
        device: where the network trains.
        log: receives one progress line per ``log_every`` epochs and after the last.
        log_every: epochs between progress lines.

    Returns:
        A :class:`~gan_ignite.extractors.DomainExtractor` (on the CPU) with ``method``
        ``"simclr"``, no classes, and the :func:`view_matching_accuracy` of the
        training images as ``info.test_accuracy``.

    Raises:
        UsageError: fewer than 2 images, or images that are not colour.
    """
    if images.ndim != 4 or images.shape[1] != 3 or len(images) < 2:
        raise UsageError(f"SimCLR trains on 2 or more colour images (N, 3, H, W), but given the shape "
                         f"{tuple(images.shape)}")
    images = _resize(images.float(), SIMCLR_IMAGE_SIZE)
    mean, std = images.mean((0, 2, 3)), images.std((0, 2, 3)).clamp(min=1e-3)  # a flat folder has no spread
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone = SmallResNet(3, SIMCLR_IMAGE_SIZE, num_classes=0, width=SIMCLR_WIDTH)
        head = nn.Sequential(nn.Linear(backbone.num_features, _PROJECTION[0]), nn.ReLU(),
                             nn.Linear(*_PROJECTION))
        # channels_last: about twice as fast for these small convolutions on a CPU.
        backbone.to(device, memory_format=torch.channels_last), head.to(device)
        normalise = _normaliser(mean, std)
        _fit(backbone.train(), head.train(), lambda x: normalise(simclr_views(x)), images, epochs=epochs,
             batch_size=batch_size, lr=lr, temperature=temperature, device=device, log=log, log_every=log_every)
    info = ExtractorInfo(
        dataset=dataset, architecture="resnet", image_size=SIMCLR_IMAGE_SIZE, channels=3, num_classes=0,
        mean=tuple(mean.tolist()), std=tuple(std.tolist()), test_accuracy=float("nan"),
        method="simclr", width=SIMCLR_WIDTH,
    )
    extractor = DomainExtractor(backbone.cpu().to(memory_format=torch.contiguous_format), info)
    extractor.info = replace(info, test_accuracy=view_matching_accuracy(extractor, images))
    return extractor


def _resize(images: Tensor, size: int) -> Tensor:
    if images.shape[-2:] == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True).clamp(-1, 1)


def _normaliser(mean: Tensor, std: Tensor) -> Callable[[Tensor], Tensor]:
    """What :meth:`DomainExtractor.normalise` will do to every measured batch, for training views."""
    mean, std = mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1)
    return lambda x: (x - mean) / std

