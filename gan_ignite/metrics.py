"""Sample-quality metrics in an extractor's feature space: FID, KID, IS, confidence, coverage, k-NN manifolds.

:class:`SampleQuality` is an Ignite ``Metric``: attach it to an evaluator ``Engine`` whose
output is a batch of images in [-1, 1] (generated or real) and it computes, against a
:class:`Reference` of real-data statistics,

* ``fid``: the Fréchet distance between Gaussian fits of the two feature sets, the
  standard FID when the features are Inception's;
* ``kid``: the kernel inception distance, the unbiased MMD² with the cubic polynomial
  kernel averaged over random subsets (Bińkowski et al. 2018), unbiased at small n;
* ``is``: the Inception-style score exp(E_x KL(p(y|x) || p(y))) on the extractor's classes;
* ``confident``: the fraction of samples whose top class probability is at least 0.9;
* ``classes`` and ``max_class_share``: how many classes the samples cover and the
  share of the commonest, the mode-collapse signal;
* (these four are NaN for an extractor without classes, K = 0, such as the SimCLR
  features of an image folder: :mod:`gan_ignite.self_supervised`;)
* ``precision`` and ``recall`` (Kynkäänniemi et al. 2019), ``density`` and ``coverage``
  (Naeem et al. 2020): fidelity and diversity kept apart, from k-NN balls around the
  features (:mod:`gan_ignite.manifold`), against as many real features as there are
  samples (a seeded subsample of the reference's; NaN with 5 samples or fewer);
* ``n``: the number of samples.

The real side is computed once per (dataset, split, classes, extractor weights) and
cached (:func:`reference_for`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from ignite.metrics import Metric
from ignite.metrics.metric import reinit__is_reduced
from torch import Tensor

from gan_ignite.manifold import DENSITY_COVERAGE_K, MANIFOLD_KEYS, PRECISION_RECALL_K, manifold_scores

__all__ = [
    "Reference",
    "SampleQuality",
    "QUALITY_KEYS",
    "quality_scores",
    "frechet_distance",
    "kernel_inception_distance",
    "inception_score",
    "class_coverage",
    "real_sample",
    "real_manifold_scores",
    "reference_for",
    "real_features",
    "measure",
]

QUALITY_KEYS = ("fid", "kid", "is", "confident", "classes", "max_class_share", *MANIFOLD_KEYS, "n")
KID_SUBSETS = 100  # torch-fidelity's and the KID paper's defaults
KID_SUBSET_SIZE = 1000
_REFERENCE_KID_FEATURES = 10000  # real features kept for KID and k-NN; mean and covariance use all
_REAL_SAMPLE_SEED = 0  # the same real subsample at every evaluation, so that epochs compare


@dataclass
class Reference:
    """Real-data statistics in one extractor's feature space.

    Attributes:
        mu: (F,) mean of all real features (float64).
        sigma: (F, F) their covariance (float64, unbiased).
        features: (M, F) a seeded random sample of the real features (float32), for KID
            and the k-NN manifold metrics; at most 10,000, so precision, recall,
            density and coverage of more samples compare them with fewer real ones.
        n: how many real images the statistics cover.
    """

    mu: Tensor
    sigma: Tensor
    features: Tensor
    n: int

    @classmethod
    def from_features(cls, features: Tensor, keep: int = _REFERENCE_KID_FEATURES, seed: int = 0) -> Reference:
        """Statistics of (N, F) real features, keeping a seeded sample of ``keep`` for KID."""
        f64 = features.double()
        order = torch.randperm(len(features), generator=torch.Generator().manual_seed(seed))[:keep]
        return cls(f64.mean(0), torch.cov(f64.T), features[order].float().clone(), len(features))

    def state_dict(self) -> dict[str, Any]:
        return {"mu": self.mu, "sigma": self.sigma, "features": self.features, "n": self.n}


def _features_and_probs(extractor: torch.nn.Module, images: Tensor) -> tuple[Tensor, Tensor]:
    device = next(extractor.parameters()).device
    with torch.no_grad():
        features, probs = extractor.features_and_probs(images.to(device))
    return features.double().cpu(), probs.double().cpu()


def inception_score(probs: Tensor, eps: float = 1e-12) -> float:
    """exp(mean over samples of KL(p(y|x) || p(y))) of (N, K) class probabilities."""
    probs = probs.double()
    marginal = probs.mean(0, keepdim=True)
    kl = (probs * (torch.log(probs + eps) - torch.log(marginal + eps))).sum(1)
    return float(torch.exp(kl.mean()))


def class_coverage(probs: Tensor, min_share: float | None = None) -> tuple[int, float]:
    """(classes covered, largest class share) of the predicted classes of (N, K) probabilities.

    A class counts as covered when it receives at least ``min_share`` of the samples,
    by default a fifth of a fair share (1 / 5K): the few misclassified images of a
    one-class set then do not count as extra classes, while a class the generator
    makes clearly less often than its share still does.
    """
    k = probs.shape[1]
    min_share = 1 / (5 * k) if min_share is None else min_share
    shares = torch.bincount(probs.argmax(1), minlength=k).double() / len(probs)
    return int((shares >= min_share).sum()), float(shares.max())


def _polynomial_mmd2(x: Tensor, y: Tensor) -> Tensor:
    """Unbiased MMD² of two samples with the kernel k(a, b) = (a·b / F + 1)³."""
    dim = x.shape[1]
    k_xx = (x @ x.T / dim + 1) ** 3
    k_yy = (y @ y.T / dim + 1) ** 3
    k_xy = (x @ y.T / dim + 1) ** 3
    m, n = len(x), len(y)
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return within_x + within_y - 2 * k_xy.mean()


def kernel_inception_distance(
    features: Tensor, real: Tensor, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE, seed: int = 0
) -> float:
    """KID: the unbiased polynomial-kernel MMD² averaged over ``subsets`` random subsets.

    Written here because Ignite has no KID; the estimator is the one of the KID paper
    and torch-fidelity (subsets drawn without replacement within each subset).
    """
    size = min(subset_size, len(features), len(real))
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples on each side, but given {len(features)} and {len(real)}")
    generator = torch.Generator().manual_seed(seed)
    x, y = features.double(), real.double()
    total = torch.zeros((), dtype=torch.float64)
    for _ in range(subsets):
        i = torch.randperm(len(x), generator=generator)[:size]
        j = torch.randperm(len(y), generator=generator)[:size]
        total += _polynomial_mmd2(x[i], y[j])
    return float(total / subsets)


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    """||mu1 - mu2||² + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^½), the Fréchet distance of two Gaussians.

    Ignite's ``fid_score`` takes ``scipy.linalg.sqrtm`` of ``sigma1 @ sigma2``, which warns
    and loses accuracy when a covariance is singular, as it is whenever a ReLU feature
    never fires. The trace of that square root equals the sum of the square roots of the
    eigenvalues of the symmetric PSD matrix ``sigma1^½ sigma2 sigma1^½``, which ``eigh``
    computes stably (the same values as ``fid_score`` on well-conditioned inputs; tested).
    """
    mu1, sigma1, mu2, sigma2 = (t.double() for t in (mu1, sigma1, mu2, sigma2))
    values, vectors = torch.linalg.eigh(sigma1)
    root1 = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T
    middle = torch.linalg.eigvalsh(root1 @ sigma2 @ root1).clamp(min=0).sqrt().sum()
    return float((mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * middle)


def real_sample(reference: Reference, n: int, seed: int = _REAL_SAMPLE_SEED) -> Tensor:
    """(min(n, M), F) real features drawn without replacement, the same for the same seed."""
    order = torch.randperm(len(reference.features), generator=torch.Generator().manual_seed(seed))
    return reference.features[order[:n]]


def _manifold_or_nan(real: Tensor, fake: Tensor) -> dict[str, float]:
    """:func:`~gan_ignite.manifold.manifold_scores`, NaN where a side is too small for k."""
    if min(len(real), len(fake)) <= max(PRECISION_RECALL_K, DENSITY_COVERAGE_K):
        return dict.fromkeys(MANIFOLD_KEYS, float("nan"))
    return manifold_scores(real.float(), fake.float())


def real_manifold_scores(reference: Reference, n: int, seed: int = _REAL_SAMPLE_SEED) -> dict[str, float]:
    """The k-NN manifold metrics of real data against real data: what a perfect generator scores.

    Two disjoint seeded halves of the reference's features, each of ``n`` (fewer when the
    reference keeps under ``2 n``), measured as samples and reference. Coverage is then
    about ``1 - 2^-5``; precision and recall depend on the feature space, hence this.
    With ``2 n`` kept, the first half is the real side :func:`quality_scores` uses for ``n`` samples.
    """
    m = min(n, len(reference.features) // 2)
    order = torch.randperm(len(reference.features), generator=torch.Generator().manual_seed(seed))
    return _manifold_or_nan(reference.features[order[:m]], reference.features[order[m:2 * m]])


def _class_scores(probs: Tensor, confidence: float) -> dict[str, float]:
    """``is``, ``confident``, ``classes`` and ``max_class_share`` of (N, K) probabilities; NaN when K = 0."""
    if probs.shape[1] == 0:  # an extractor without classes: nothing to score
        return dict.fromkeys(("is", "confident", "classes", "max_class_share"), float("nan"))
    classes, max_share = class_coverage(probs)
    return {
        "is": inception_score(probs),
        "confident": float((probs.max(1).values >= confidence).double().mean()),
        "classes": classes,
        "max_class_share": max_share,
    }


def quality_scores(
    features: Tensor, probs: Tensor, reference: Reference, confidence: float = 0.9, **kid_options: Any
) -> dict[str, float]:
    """Every metric of :data:`QUALITY_KEYS` for (N, F) features and (N, K) probabilities.

    With K = 0 (an extractor without classes) the class-based ``is``, ``confident``,
    ``classes`` and ``max_class_share`` are NaN; the feature-space metrics are as usual.
    """
    f64 = features.double()
    # As many real features as samples: the k-NN metrics are biased by unequal sizes.
    manifold = _manifold_or_nan(real_sample(reference, len(features)), features)
    return {
        "fid": frechet_distance(f64.mean(0), torch.cov(f64.T), reference.mu, reference.sigma),
        "kid": kernel_inception_distance(features, reference.features, **kid_options),
        **_class_scores(probs, confidence),
        **manifold,
        "n": len(features),
    }


class SampleQuality(Metric):
    """An Ignite metric: the quality of the images an evaluator engine outputs.

    ``compute()`` returns a dict (Ignite stores each key in ``engine.state.metrics``).

    Args:
        extractor: a :class:`~gan_ignite.extractors.DomainExtractor` or
            :class:`~gan_ignite.extractors.InceptionExtractor` (``features_and_probs``).
        reference: the real side, from :func:`reference_for`.
        confidence: the top-probability threshold of ``confident``.
        output_transform: maps the engine's output to a (N, C, H, W) image batch.
        kid_options: ``subsets``, ``subset_size`` and ``seed`` of the KID estimate.
    """

    def __init__(
        self,
        extractor: torch.nn.Module,
        reference: Reference,
        confidence: float = 0.9,
        output_transform: Callable = lambda x: x,
        **kid_options: Any,
    ) -> None:
        self.extractor = extractor
        self.reference = reference
        self.confidence = confidence
        self.kid_options = kid_options
        super().__init__(output_transform=output_transform)

    @reinit__is_reduced
    def reset(self) -> None:
        self._features: list[Tensor] = []
        self._probs: list[Tensor] = []

    @reinit__is_reduced
    def update(self, output: Tensor) -> None:
        features, probs = _features_and_probs(self.extractor, output)
        self._features.append(features)
        self._probs.append(probs)

    def compute(self) -> dict[str, float]:
        import ignite.distributed as idist

        if not self._features:
            from ignite.exceptions import NotComputableError

            raise NotComputableError("SampleQuality needs at least one batch of images")
        # all_gather: every rank's samples count (the identity in a single process).
        features = idist.all_gather(torch.cat(self._features))
        probs = idist.all_gather(torch.cat(self._probs))
        return quality_scores(features, probs, self.reference, self.confidence, **self.kid_options)


def measure(
    batches: Iterable[Tensor], extractor: torch.nn.Module, reference: Reference, **options: Any
) -> dict[str, float]:
    """Run :class:`SampleQuality` over image batches in an Ignite evaluator; the metrics dict."""
    from ignite.engine import Engine

    from gan_ignite.errors import quiet_engine_echo

    evaluator = Engine(lambda engine, batch: batch)
    quiet_engine_echo(evaluator.logger)  # a user error inside is reported once, by whoever catches it
    SampleQuality(extractor, reference, **options).attach(evaluator, "quality")
    return dict(evaluator.run(batches).metrics["quality"])


def _image_batches(dataset: Any, batch_size: int) -> Iterable[Tensor]:
    from torch.utils.data import DataLoader

    for images, _ in DataLoader(dataset, batch_size=batch_size):
        yield images


def real_features(extractor: torch.nn.Module, batches: Iterable[Tensor]) -> Tensor:
    """(N, F) features of every image in an iterable of (B, C, H, W) batches."""
    return torch.cat([_features_and_probs(extractor, x)[0] for x in batches])


def reference_for(
    extractor: Any,
    dataset: str,
    root: str | os.PathLike | None = None,
    *,
    train: bool = True,
    classes: Sequence[int] | None = None,
    limit: int = 0,
    cache: bool = True,
) -> Reference:
    """The real statistics of a dataset split in ``extractor``'s space, cached on disk.

    Args:
        extractor: a domain or Inception extractor.
        dataset, root: the real data (:func:`~gan_ignite.data.load_dataset` names, or a
            folder of images).
        train: the training split (what a GAN learns from), else the test split.
        classes: keep only these labels (a GAN trained with ``--classes``).
        limit: use the first N images only (0: all), e.g. for Inception on a CPU.
        cache: read and write the cache.

    The cache file is keyed by the dataset (a folder by its name and a hash of its resolved
    path: :func:`~gan_ignite.extractors.dataset_cache_key`), the split, the classes, the
    limit and a hash of the extractor's weights, so retraining the extractor never reuses
    stale statistics, nor do two folders of one name share them.
    """
    from torch.utils.data import Subset

    from gan_ignite.data import dataset_channels, load_dataset
    from gan_ignite.extractors import cache_dir, check_cache_writable, dataset_cache_key
    from gan_ignite.run_dir import write_atomic
    from gan_ignite.weights import load_weights

    split = "train" if train else "test"
    tag = "-".join(map(str, classes)) if classes else "all"
    name = f"{Path(dataset_cache_key(dataset)).name}_{split}_{tag}_{limit or 'full'}_{extractor.fingerprint}.pt"
    path = cache_dir() / "references" / name
    if cache and path.is_file():
        return Reference(**load_weights(path, "cached real statistics", remedy="delete it to recompute them"))
    if cache:
        check_cache_writable(path.parent)  # before the minutes of feature extraction, not after
    info = getattr(extractor, "info", None)
    # Load at the extractor's input size, or the data's own for Inception (which resizes
    # each batch to 299: a whole dataset at 299 px would not fit in memory).
    size = info.image_size if info is not None else (28 if dataset_channels(dataset) == 1 else 32)
    images = load_dataset(dataset, root=root, image_size=size, classes=classes, train=train, download=False)
    if limit:
        images = Subset(images, range(min(limit, len(images))))
    reference = Reference.from_features(real_features(extractor, _image_batches(images, 500)))
    if cache:
        write_atomic(path, lambda f: torch.save(reference.state_dict(), f))
    return reference
