"""GAN losses: pure functions and the loss objects an update step plugs in.

A GAN variant differs from another only in how it scores the discriminator's outputs:
the update step (:mod:`gan_ignite.updaters`) runs the networks and calls a
:class:`GANLoss` for the discriminator term and for the generator term. Adding a variant
means adding a loss object here, never a copy of the step.

Each loss term returns a ``dict`` of scalar tensors: ``"loss"`` is what the optimizer
minimises, any other key (a penalty, a pull-away term) is reported as an observation
under the network's prefix (``dis/loss``, ``gen/pull_away``).

The variants, by registry name (:func:`get_loss`), and the module of each:

    gan       logistic D, non-saturating G (Goodfellow et al. 2014)     logits (N,)           logistic
    minimax   logistic D, saturating G, the game's literal form         logits (N,)           logistic
    lsgan     least squares (Mao et al. 2017)                           raw scores (N,)       least_squares
    ebgan     autoencoder energy with a margin (Zhao et al. 2017)       EnergyOutput          energy
    hinge     hinge D, -E[D(G(z))] G (Lim & Ye 2017, Miyato et al. 2018) raw scores (N,)      wasserstein
    wgan-gp   Wasserstein critic + gradient penalty (Gulrajani 2017)    raw scores (N,)       wasserstein
    ssgan     K+1-class semi-supervised D (Salimans et al. 2016)        class logits (N, K)   semi_supervised

:class:`FeatureMatching` (``feature_matching``) wraps any of them with the feature
matching term of Salimans et al. 2016, :class:`R1Penalty` (``r1``) with the R1 gradient
penalty on real images of Mescheder et al. 2018. :class:`GANLoss`, :class:`StepInputs` and
:func:`merge_terms` (``base``) are the contract with the update step. Every public name
is importable from ``gan_ignite.losses`` itself.

Nothing here knows Ignite, optimizers or files.
"""

from __future__ import annotations

import inspect
from typing import Any

from gan_ignite.errors import UsageError
from gan_ignite.losses.base import GANLoss, StepInputs, WrappedLoss, merge_terms
from gan_ignite.losses.energy import EBGANLoss, EnergyOutput, ebgan_dis_loss, ebgan_gen_loss, pull_away_term
from gan_ignite.losses.feature_matching import FeatureMatching, feature_matching_loss
from gan_ignite.losses.least_squares import LSGANLoss, lsgan_dis_loss, lsgan_gen_loss
from gan_ignite.losses.logistic import MinimaxLoss, NonSaturatingLoss, bce_dis_loss, bce_gen_loss, minimax_gen_loss
from gan_ignite.losses.r1 import R1Penalty, r1_penalty
from gan_ignite.losses.semi_supervised import (
    SemiSupervisedLoss,
    labelled_accuracy,
    real_vs_fake_logits,
    supervised_cross_entropy,
)
from gan_ignite.losses.wasserstein import (
    HingeLoss,
    WGANGPLoss,
    gradient_penalty,
    hinge_dis_loss,
    wasserstein_dis_loss,
    wasserstein_gen_loss,
)

__all__ = [
    "merge_terms",
    "StepInputs",
    "WrappedLoss",
    "EnergyOutput",
    "GANLoss",
    "NonSaturatingLoss",
    "MinimaxLoss",
    "LSGANLoss",
    "EBGANLoss",
    "HingeLoss",
    "WGANGPLoss",
    "SemiSupervisedLoss",
    "FeatureMatching",
    "R1Penalty",
    "bce_dis_loss",
    "bce_gen_loss",
    "minimax_gen_loss",
    "lsgan_dis_loss",
    "lsgan_gen_loss",
    "ebgan_dis_loss",
    "ebgan_gen_loss",
    "pull_away_term",
    "hinge_dis_loss",
    "wasserstein_dis_loss",
    "wasserstein_gen_loss",
    "gradient_penalty",
    "feature_matching_loss",
    "r1_penalty",
    "real_vs_fake_logits",
    "supervised_cross_entropy",
    "labelled_accuracy",
    "get_loss",
    "LOSSES",
]


LOSSES: dict[str, type[GANLoss]] = {
    cls.name: cls
    for cls in (NonSaturatingLoss, MinimaxLoss, LSGANLoss, EBGANLoss, HingeLoss, WGANGPLoss, SemiSupervisedLoss)
}


def get_loss(name: str, **kwargs: Any) -> GANLoss:
    """Build a registered loss by name (``gan``, ``minimax``, ``lsgan``, ...) with its settings.

    Example: ``get_loss("ebgan", margin=1.0, pt_weight=0.0)``.
    """
    if name not in LOSSES:
        valid = ", ".join(LOSSES)
        raise UsageError(f"Argument `loss` should be one of {valid}, but given {name!r}")
    cls = LOSSES[name]
    try:  # a wrong setting is the user's mistake: name it, rather than a TypeError deep down
        inspect.signature(cls).bind(**kwargs)
    except TypeError as error:
        params = ", ".join(inspect.signature(cls).parameters) or "no settings"
        raise UsageError(f"Loss {name!r} takes {params}, but given {kwargs}: {error}") from None
    return cls(**kwargs)
