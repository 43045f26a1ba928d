"""k-NN manifold metrics: fidelity and diversity measured separately, in feature space.

FID and KID fold two failures into one number: samples that look wrong (low fidelity)
and samples that look right but show only part of the data (low diversity, mode
collapse). The metrics here keep them apart by estimating each set's *manifold* as a
union of balls: around every feature a ball whose radius is the distance to its k-th
nearest neighbour in the same set.

* **Improved precision and recall** (Kynkäänniemi et al. 2019, k=3): precision is the
  fraction of fake features inside the real manifold (fidelity), recall the fraction of
  real features inside the fake manifold (diversity).
* **Density and coverage** (Naeem et al. 2020, k=5): the same idea made robust to
  outliers. One real outlier's large ball can swallow many fakes and inflate precision;
  one fake outlier can inflate recall. Density counts *how many* real balls hold each
  fake, ``(1/kM) Σ_j Σ_i 1[Y_j ∈ B(X_i, NND_k(X_i))]``, so samples in dense real regions
  count more (about 1 for real data, unbounded above); coverage is the fraction of real
  balls holding at least one fake, ``(1/N) Σ_i 1[∃ j: Y_j ∈ B(X_i, NND_k(X_i))]``, which
  uses real balls only, so fake outliers cannot raise it. For two independent samples of
  one distribution of equal size its expectation is about ``1 - 2^-k`` (0.97 for k=5).

Conventions, shared by all four: balls are closed (``distance <= radius``, as in
Kynkäänniemi et al.'s code; Naeem et al.'s uses ``<``, which differs only for exact ties);
a point's own zero distance never counts as a neighbour, a duplicate's does (both
official codes). Distances come from ``torch.cdist`` in row chunks, so memory holds a
``chunk x max(N, M)`` block at a time, never the whole (N, M) matrix (400 MB at 10,000
each in float32). The metrics are biased by unequal set sizes: pass as many real
features as fake ones, as the papers do (:func:`gan_ignite.metrics.quality_scores` does).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "PRECISION_RECALL_K",
    "DENSITY_COVERAGE_K",
    "MANIFOLD_KEYS",
    "nearest_neighbour_radii",
    "improved_precision_recall",
    "density_coverage",
    "manifold_scores",
]

PRECISION_RECALL_K = 3  # Kynkäänniemi et al.'s default
DENSITY_COVERAGE_K = 5  # Naeem et al.'s choice
MANIFOLD_KEYS = ("precision", "recall", "density", "coverage")
CHUNK = 1024  # rows of distances at a time: 40 MB of float32 against 10,000 columns


def _check_sizes(real: Tensor, fake: Tensor, k: int) -> None:
    if k < 1:
        raise ValueError(f"Argument `k` should be a positive integer, but given {k}")
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"k-NN metrics with k={k} need more than {k} samples on each side, "
                         f"but given {len(real)} real and {len(fake)} fake")


def nearest_neighbour_radii(features: Tensor, ks: Sequence[int], chunk: int = CHUNK) -> Tensor:
    """Distance from each feature to its k-th nearest neighbour in the same set, for each k.

    Args:
        features: (N, F) one set of features.
        ks: the neighbour ranks wanted, each in 1..N-1.
        chunk: rows of the distance matrix computed at a time.

    Returns:
        (N, len(ks)) radii; column c holds NND_{ks[c]}.
    """
    largest = max(ks)
    radii = []
    for start in range(0, len(features), chunk):
        rows = features[start:start + chunk]
        distances = torch.cdist(rows, features)
        own = torch.arange(len(rows))
        distances[own, start + own] = 0  # cdist's matrix-product form leaves a rounding error here
        # Sorted ascending, column 0 is the point itself: column k is its k-th neighbour.
        nearest = distances.topk(largest + 1, dim=1, largest=False).values
        radii.append(nearest[:, list(ks)])
    return torch.cat(radii)


def _cross_membership(
    real: Tensor, fake: Tensor, real_pr: Tensor, real_dc: Tensor, fake_pr: Tensor, chunk: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Which points lie in the other set's balls, from real-by-fake distances in chunks.

    Args:
        real, fake: (N, F) and (M, F) features.
        real_pr, real_dc: (N,) radii of the real balls for precision and for density/coverage.
        fake_pr: (M,) radii of the fake balls for recall.

    Returns:
        (M,) whether each fake lies in a real precision ball, (M,) how many real
        density balls hold it, (N,) whether each real lies in a fake ball and (N,)
        whether each real density ball holds a fake.
    """
    in_real = torch.zeros(len(fake), dtype=torch.bool)
    counts = torch.zeros(len(fake), dtype=torch.int32)  # int32: summing bools to int64 is 10x slower
    in_fake, covered = [], []
    for start in range(0, len(real), chunk):
        distances = torch.cdist(real[start:start + chunk], fake)  # (c, M)
        in_real |= (distances <= real_pr[start:start + chunk, None]).any(0)
        inside = distances <= real_dc[start:start + chunk, None]
        counts += inside.sum(0, dtype=torch.int32)
        covered.append(inside.any(1))
        in_fake.append((distances <= fake_pr[None, :]).any(1))
    return in_real, counts, torch.cat(in_fake), torch.cat(covered)


def manifold_scores(
    real: Tensor,
    fake: Tensor,
    precision_recall_k: int = PRECISION_RECALL_K,
    density_coverage_k: int = DENSITY_COVERAGE_K,
    chunk: int = CHUNK,
) -> dict[str, float]:
    """Precision, recall, density and coverage of (M, F) fake against (N, F) real features.

    Three chunked distance passes (real-real, fake-fake, real-fake) serve all four.

    Raises:
        ValueError: a side has no more samples than the larger k.
    """
    _check_sizes(real, fake, max(precision_recall_k, density_coverage_k))
    dtype = torch.promote_types(real.dtype, fake.dtype)
    real, fake = real.to(dtype), fake.to(dtype)
    real_radii = nearest_neighbour_radii(real, (precision_recall_k, density_coverage_k), chunk)
    fake_radii = nearest_neighbour_radii(fake, (precision_recall_k,), chunk)[:, 0]
    in_real, counts, in_fake, covered = _cross_membership(real, fake, *real_radii.T, fake_radii, chunk)
    return {
        "precision": float(in_real.double().mean()),
        "recall": float(in_fake.double().mean()),
        "density": float(counts.double().mean() / density_coverage_k),
        "coverage": float(covered.double().mean()),
    }


def improved_precision_recall(real: Tensor, fake: Tensor, k: int = PRECISION_RECALL_K,
                              chunk: int = CHUNK) -> tuple[float, float]:
    """(precision, recall) of Kynkäänniemi et al.: each set's share inside the other's k-NN manifold."""
    scores = manifold_scores(real, fake, k, k, chunk)
    return scores["precision"], scores["recall"]


def density_coverage(real: Tensor, fake: Tensor, k: int = DENSITY_COVERAGE_K,
                     chunk: int = CHUNK) -> tuple[float, float]:
    """(density, coverage) of Naeem et al.: real k-NN balls per fake, and real balls holding a fake."""
    scores = manifold_scores(real, fake, k, k, chunk)
    return scores["density"], scores["coverage"]
