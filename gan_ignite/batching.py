"""Batches of an in-memory dataset, cut from its tensors with one index per batch.

A ``DataLoader`` over a map-style dataset builds every batch item by item: it draws
``batch_size`` indices from the sampler one by one, calls ``__getitem__`` for each, and
``default_collate`` stacks the items again, although an in-memory dataset's images
already are one tensor. :class:`TensorBatchLoader` instead takes the epoch's order from
the :class:`~gan_ignite.sampling.ResumableSampler` as one index tensor and cuts each
batch from the data tensors with a single ``index_select``: the same values, dtypes and
order as the ``DataLoader`` path, for a fraction of the time per batch.

Why not the library: a dataset's ``__getitems__`` lets a ``DataLoader`` fetch a batch
at once, and both ways to use it were measured against this loader (torch 2.14, the
shared 2-core CPU machine, 3 interleaved rounds of 200 batches of 64 at 1x28x28, from
digits and from MNIST-sized random data): per batch, the ``DataLoader`` with
``default_collate`` of before took 400-750 µs; one with ``__getitems__`` and a
pass-through ``collate_fn`` 110-175 µs (it still draws each batch's indices one by one
from the sampler into a Python list that becomes an index tensor again); one with
``batch_size=None`` over a sampler of index slices 80-120 µs (and its ``sampler`` is then
no longer the resumable one the trainer positions); this loader 30-90 µs. The library
routes stay well beyond a 2% margin behind, so the loader is written by hand: it is short
and keeps the face of a loader the trainer uses (``sampler``, ``batch_size``, ``dataset``,
``len``). Image folders, decoded per item, keep the ``DataLoader``
(:func:`gan_ignite.recipes.make_loader`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset

from gan_ignite.data import TensorImageDataset
from gan_ignite.sampling import ResumableSampler

__all__ = ["DEVICE_BYTES", "TensorBatchLoader", "in_memory", "in_memory_tensors"]

DEVICE_BYTES = 1 << 30
"""Data up to this size moves to a CUDA device once; larger data stays on the host."""


def in_memory(dataset: Dataset) -> bool:
    """Whether ``dataset`` is a :class:`~gan_ignite.data.TensorImageDataset` or a (nested) ``Subset`` of one."""
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return isinstance(dataset, TensorImageDataset)


def in_memory_tensors(dataset: Dataset) -> tuple[Tensor, Tensor] | None:
    """The images and labels of a :class:`~gan_ignite.data.TensorImageDataset`, or ``None``.

    A (nested) ``Subset`` of one, such as ``--limit`` makes, is resolved to its rows of
    the base tensors once: a view for a run of consecutive indices, else a copy.
    """
    rows: Tensor | slice = slice(None)
    while isinstance(dataset, Subset):
        indices = torch.as_tensor(list(dataset.indices), dtype=torch.long)
        rows = indices if isinstance(rows, slice) else indices[rows]
        dataset = dataset.dataset
    if not isinstance(dataset, TensorImageDataset):
        return None
    images, targets = dataset.images, dataset.targets
    if isinstance(rows, Tensor):
        n = len(rows)
        if n and torch.equal(rows, torch.arange(int(rows[0]), int(rows[0]) + n)) and int(rows[0]) >= 0:
            rows = slice(int(rows[0]), int(rows[0]) + n)  # --limit: the first n images
        else:
            rows = rows % len(images)  # Subset allows negative indices, index_select does not
            return images.index_select(0, rows), targets.index_select(0, rows)
    return images[rows], targets[rows]


class TensorBatchLoader:
    """Serves shuffled full batches of an in-memory dataset, restartable mid-epoch.

    Each epoch's order is the sampler's: iterating yields ``(images, labels)`` tuples
    (float images, int64 labels) equal to what a ``DataLoader`` with that sampler and
    ``drop_last=True`` yields. An iterator keeps the order of the epoch it was created
    in even if :meth:`~gan_ignite.sampling.ResumableSampler.set_epoch` is called before
    it is exhausted (Ignite drains it one epoch late), as the sampler's own does.

    Args:
        dataset: a :class:`~gan_ignite.data.TensorImageDataset` or a (nested) ``Subset``
            of one.
        batch_size: images per batch; the last incomplete batch is dropped.
        sampler: the epoch order; the trainer positions it at every epoch start.
        device: where batches are served from. On CUDA, data up to
            :data:`DEVICE_BYTES` is moved there once, so batches need no copy; larger
            data stays on the host and each batch is gathered into pinned memory (the
            gathered copy of a pinned tensor would not be pinned), so the training step's
            ``non_blocking`` copy is asynchronous, as with ``pin_memory=True``.

    Raises:
        ValueError: ``dataset`` is not in memory, or the sampler is of another length.
    """

    def __init__(
        self, dataset: Dataset, batch_size: int, sampler: ResumableSampler, device: str | torch.device | None = None
    ) -> None:
        tensors = in_memory_tensors(dataset)
        if tensors is None:
            raise ValueError(f"Argument `dataset` should be a TensorImageDataset or a Subset of one, "
                             f"but given {type(dataset).__name__}")
        if sampler.dataset_size != len(tensors[0]):
            raise ValueError(f"Argument `sampler` should cover the {len(tensors[0])} images, "
                             f"but it covers {sampler.dataset_size}")
        self.dataset, self.batch_size, self.sampler = dataset, batch_size, sampler
        device = torch.device(device) if device is not None else None
        nbytes = sum(t.nelement() * t.element_size() for t in tensors)
        on_device = device is not None and device.type == "cuda" and nbytes <= DEVICE_BYTES
        self.images, self.targets = (t.to(device) for t in tensors) if on_device else tensors
        self._pin = device is not None and device.type == "cuda" and not on_device

    def __len__(self) -> int:
        return self.sampler.num_samples // self.batch_size

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        # The order is taken now, not at the first batch: set_epoch leaves this one alone.
        order = self.sampler.indices().to(self.images.device)
        return self._batches(order)

    def _batches(self, order: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
        size = self.batch_size
        for start in range(0, len(order) - size + 1, size):
            idx = order[start : start + size]
            yield self._gather(self.images, idx), self._gather(self.targets, idx)

    def _gather(self, data: Tensor, idx: Tensor) -> Tensor:
        if not self._pin:
            return data.index_select(0, idx)
        out = torch.empty((len(idx), *data.shape[1:]), dtype=data.dtype, pin_memory=True)
        return torch.index_select(data, 0, idx, out=out)
