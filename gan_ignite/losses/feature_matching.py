"""Feature matching (Salimans et al. 2016): a generator term that wraps any :class:`GANLoss`."""

from __future__ import annotations

import torch
from torch import Tensor

from gan_ignite.errors import UsageError
from gan_ignite.losses.base import GANLoss, StepInputs, WrappedLoss, _check_non_negative, merge_terms

__all__ = ["feature_matching_loss", "FeatureMatching"]


#: How the squared differences over D's features are pooled: ``mean`` (the default) or ``sum``.
REDUCTIONS = ("mean", "sum")


def feature_matching_loss(real_features: Tensor, fake_features: Tensor, reduction: str = "mean") -> Tensor:
    """Feature matching ``‖mean_batch f(x) - mean_batch f(G(z))‖² / F`` (Salimans et al. 2016).

    Instead of fooling D outright, G matches the batch statistics of D's intermediate
    features on real data, a target that does not move as fast as D's verdict.

    The paper writes the squared distance summed over the ``F`` features
    (``reduction="sum"``); by default it is averaged over them, as the paper's code
    (openai/improved-gan) does with its absolute differences. The sum grows with D's
    width (8,192 features for the 64x64 DCGAN, a term of about 300 against an
    adversarial loss of about 2 on the logos), so a weight tuned for one network would
    mean nothing for another; the mean does not depend on the width.

    Args:
        real_features: (N, F) discriminator features of real images (detach them: they
            are the target).
        fake_features: (M, F) features of generated images.
        reduction: ``"mean"`` or ``"sum"`` over the features.

    Returns:
        The mean (or sum) over features of the squared difference of the two mean
        feature vectors, a scalar tensor.
    """
    squared = (real_features.mean(0) - fake_features.mean(0)).square()
    return squared.sum() if _check_reduction(reduction) == "sum" else squared.mean()


def _check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise UsageError(f"Argument `reduction` should be one of {', '.join(REDUCTIONS)}, but given {reduction!r}")
    return reduction


class FeatureMatching(WrappedLoss):
    """Adds feature matching (Salimans et al. 2016) to the generator step of any loss.

    Everything is delegated to ``base``; the generator step also minimises
    ``weight * ‖mean_batch f(x) - mean_batch f(G(z))‖² / F`` (:func:`feature_matching_loss`)
    with ``f = dis.features``, (N, ...) images -> (N, F), real features held fixed. It is
    observed unweighted as ``gen/feature_matching`` (``reduction="sum"``: the paper's
    sum over the features instead of the mean). Extra terms of ``base`` (a gradient
    penalty, a supervised term) are kept: their losses add up.

    Args:
        base: the loss to extend, e.g. ``get_loss("ssgan", num_classes=10)``.
        weight: weight of the feature matching term, non-negative.
        reduction: ``"mean"`` (default) or ``"sum"`` over the features
            (:func:`feature_matching_loss`).
    """

    name = "feature-matching"

    def __init__(self, base: GANLoss, weight: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(base)
        self.weight = _check_non_negative("weight", weight)
        self.reduction = _check_reduction(reduction)

    def gen_extra(self, inputs: StepInputs) -> dict[str, Tensor]:
        features = getattr(inputs.dis, "features", None)
        if not callable(features):
            raise UsageError(
                f"Argument `dis` should have a `features(x) -> (N, F)` method for feature matching, "
                f"but {type(inputs.dis).__name__} has none"
            )
        # The real statistics are the target, not a path for gradients; no_grad saves the
        # graph, detach covers features that return their input (no op to cut).
        with torch.no_grad():
            real_features = features(inputs.real).detach()
        matching = feature_matching_loss(real_features, features(inputs.fake), self.reduction)
        own = {"loss": self.weight * matching, "feature_matching": matching.detach()}
        return merge_terms(self.base.gen_extra(inputs), own)
