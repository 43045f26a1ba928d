"""Splits for semi-supervised GANs: a held-out set, and a training set with few labels.

Salimans et al. (2016) trained the K+1-class discriminator on all training images but
only a few labels per class (e.g. 100 on MNIST); the rest count as unlabelled. Here an
unlabelled example keeps its image and gets the label ``-1``, which the semi-supervised
loss ignores.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset, Subset, random_split

from gan_ignite.errors import UsageError

__all__ = ["UNLABELLED", "labels_of", "hold_out", "PartiallyLabelled"]

UNLABELLED = -1


def labels_of(dataset: Dataset) -> list[int]:
    """Every item's label, read from ``targets`` when the dataset has them."""
    if isinstance(dataset, Subset):
        parent = labels_of(dataset.dataset)
        return [parent[i] for i in dataset.indices]
    targets = getattr(dataset, "targets", None)
    if targets is not None:
        return [int(t) for t in targets]
    return [int(dataset[i][1]) for i in range(len(dataset))]  # type: ignore[arg-type]


def hold_out(dataset: Dataset, fraction: float, seed: int) -> tuple[Subset, Subset]:
    """Split off a random ``fraction`` of ``dataset`` as a held-out set (seeded, reproducible)."""
    if not 0 < fraction < 1:
        raise UsageError(f"Argument `held_out` should be a fraction between 0 and 1, but given {fraction}")
    n_held = max(1, round(len(dataset) * fraction))  # type: ignore[arg-type]
    n_train = len(dataset) - n_held  # type: ignore[arg-type]
    train, held = random_split(dataset, [n_train, n_held], generator=torch.Generator().manual_seed(seed))
    return train, held


class PartiallyLabelled(Dataset):
    """``dataset`` with only ``per_class`` labels kept per class; the others read ``-1``.

    The labelled examples are drawn at random (seeded) within each class.

    Args:
        dataset: yields ``(image, label)``.
        per_class: labels to keep per class.
        seed: seed of the draw.
    """

    def __init__(self, dataset: Dataset, per_class: int, seed: int = 0) -> None:
        if per_class < 1:
            raise UsageError(f"Argument `labelled` should be a positive number per class, but given {per_class}")
        self.dataset = dataset
        self.labels = labels_of(dataset)
        self.labelled = self._draw(self.labels, per_class, torch.Generator().manual_seed(seed))

    @staticmethod
    def _draw(labels: Sequence[int], per_class: int, generator: torch.Generator) -> set[int]:
        chosen: set[int] = set()
        for cls in sorted(set(labels)):
            members = [i for i, y in enumerate(labels) if y == cls]
            if len(members) < per_class:
                raise UsageError(
                    f"Argument `labelled` ({per_class} per class) is more than class {cls} has ({len(members)}); "
                    f"pass a smaller --labelled"
                )
            order = torch.randperm(len(members), generator=generator)[:per_class]
            chosen.update(members[i] for i in order.tolist())
        return chosen

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.dataset[index]
        return image, (int(label) if index in self.labelled else UNLABELLED)
