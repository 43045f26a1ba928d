"""GAN losses: pure functions and the loss objects an update step plugs in.

A GAN variant differs from another only in how it scores the discriminator's outputs:
the update step (:mod:`gan_ignite.updaters`) runs the networks and calls a
:class:`GANLoss` for the discriminator term and for the generator term. Adding a variant
means adding a loss object here, never a copy of the step.

Each loss term returns a ``dict`` of scalar tensors: ``"loss"`` is what the optimizer
minimises, any other key (a penalty, a pull-away term) is reported as an observation
under the network's prefix (``dis/loss``, ``gen/pull_away``).

The variants, by registry name (:func:`get_loss`):

    gan       logistic D, non-saturating G (Goodfellow et al. 2014)     logits (N,)
    minimax   logistic D, saturating G, the game's literal form         logits (N,)
    lsgan     least squares (Mao et al. 2017)                           raw scores (N,)
    ebgan     autoencoder energy with a margin (Zhao et al. 2017)       EnergyOutput
    hinge     hinge D, -E[D(G(z))] G (Lim & Ye 2017, Miyato et al. 2018) raw scores (N,)
    wgan-gp   Wasserstein critic + gradient penalty (Gulrajani 2017)    raw scores (N,)
    ssgan     K+1-class semi-supervised D (Salimans et al. 2016)        class logits (N, K)

:class:`FeatureMatching` wraps any of them with the feature matching term of Salimans
et al. 2016.

Nothing here knows Ignite, optimizers or files.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from gan_ignite.errors import UsageError

__all__ = [
    "merge_terms",
    "StepInputs",
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
    "real_vs_fake_logits",
    "supervised_cross_entropy",
    "labelled_accuracy",
    "get_loss",
    "LOSSES",
]

# ---------------------------------------------------------------------------------------
# Pure functions: tensors in, scalar tensor out.
# ---------------------------------------------------------------------------------------


def bce_dis_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Discriminator loss of the original GAN, on logits.

    ``-log D(x) - log(1 - D(G(z)))`` averaged over each batch, written with
    ``softplus`` (``-log sigmoid(t) = softplus(-t)``) so large logits neither overflow
    nor lose precision.

    Args:
        real_logits: (N,) discriminator logits on real images.
        fake_logits: (M,) discriminator logits on generated images.
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def bce_gen_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating generator loss ``-log D(G(z))`` on logits (Goodfellow et al. 2014).

    It has strong gradients early in training, when the discriminator rejects samples
    confidently, which is why it is the default over the minimax form.

    Args:
        fake_logits: (M,) discriminator logits on generated images.
    """
    return F.softplus(-fake_logits).mean()


def minimax_gen_loss(fake_logits: Tensor) -> Tensor:
    """Minimax generator loss ``log(1 - D(G(z)))`` on logits, the game's literal form.

    ``log(1 - sigmoid(t)) = -softplus(t)``; it saturates when D wins, kept for study.

    Args:
        fake_logits: (M,) discriminator logits on generated images.
    """
    return -F.softplus(fake_logits).mean()


def lsgan_dis_loss(real: Tensor, fake: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Least squares discriminator loss ``½E[(D(x) - b)²] + ½E[(D(G(z)) - a)²]`` (Mao et al. 2017).

    D regresses real scores to the target ``b`` and generated ones to ``a``. Unlike the
    logistic loss, a sample on the right side of the boundary but far from its target
    still has a gradient, which is what keeps LSGAN's generator learning.

    Args:
        real: (N,) raw discriminator scores on real images (no sigmoid).
        fake: (M,) raw scores on generated images.
        a: target score of generated images.
        b: target score of real images.
    """
    return 0.5 * (real - b).square().mean() + 0.5 * (fake - a).square().mean()


def lsgan_gen_loss(fake: Tensor, c: float = 1.0) -> Tensor:
    """Least squares generator loss ``½E[(D(G(z)) - c)²]``: G wants D to score its samples ``c``.

    Args:
        fake: (M,) raw discriminator scores on generated images.
        c: the score the generator aims for (``b`` in the 0-1 coding, ``0`` in the
            Pearson χ² coding ``(-1, 1, 0)``).
    """
    return 0.5 * (fake - c).square().mean()


def ebgan_dis_loss(real_energy: Tensor, fake_energy: Tensor, margin: float) -> Tensor:
    """EBGAN discriminator loss ``E[D(x)] + E[max(0, m - D(G(z)))]`` on energies (Zhao et al. 2017).

    D is an autoencoder whose energy is its reconstruction error: it lowers the energy of
    real images and raises that of generated ones, but only up to the margin ``m``;
    beyond it a generated sample costs D nothing, so D cannot win by making fakes
    infinitely costly.

    Args:
        real_energy: (N,) per-sample energies of real images.
        fake_energy: (M,) per-sample energies of generated images.
        margin: ``m``, the energy above which generated samples are left alone.
    """
    return real_energy.mean() + F.relu(margin - fake_energy).mean()


def ebgan_gen_loss(fake_energy: Tensor) -> Tensor:
    """EBGAN generator loss ``E[D(G(z))]``: G wants its samples reconstructed well.

    Args:
        fake_energy: (M,) per-sample energies of generated images.
    """
    return fake_energy.mean()


def pull_away_term(codes: Tensor, eps: float = 1e-8) -> Tensor:
    """EBGAN's pull-away term, the mean squared cosine similarity between distinct codes.

    ``PT = 1/(n(n-1)) Σ_i Σ_{j≠i} (S_iᵀS_j / (|S_i||S_j|))²`` (Zhao et al. 2017, eq. 6):
    0 when the batch's codes are mutually orthogonal, 1 when they are all parallel. Added
    to the generator loss it discourages mode collapse, since samples that encode alike
    are penalised. Computed without loops: normalise the rows, take the Gram matrix of
    cosines and drop its diagonal with a mask (exactly, not by subtracting ``n``, which
    only equals the diagonal's sum up to rounding).

    A zero row has no direction: its cosines count as 0 (it pulls nothing away) but it
    still counts in ``n``; the ``eps`` floor on the norm keeps values and gradients
    finite there.

    Args:
        codes: (N, D) encoder outputs of a generated batch, N >= 2.
        eps: smallest norm a row is divided by.

    Returns:
        A scalar tensor in [0, 1].
    """
    if codes.dim() != 2 or codes.shape[0] < 2:
        raise UsageError(
            "Argument `codes` should be a (N, D) batch of codes with N >= 2 (the pull-away term "
            f"compares pairs of samples), but given shape {tuple(codes.shape)}; use a batch size of 2 or more"
        )
    n = codes.shape[0]
    unit = F.normalize(codes, dim=1, eps=eps)  # rows / max(|row|, eps)
    cosines_sq = (unit @ unit.T).square()
    diagonal = torch.eye(n, dtype=torch.bool, device=codes.device)
    return cosines_sq.masked_fill(diagonal, 0.0).sum() / (n * (n - 1))


def hinge_dis_loss(real: Tensor, fake: Tensor) -> Tensor:
    """Hinge discriminator loss ``E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]`` on raw scores.

    Samples already scored beyond ±1 on their own side give no gradient, so D spends its
    capacity near the boundary (the loss of SAGAN, BigGAN and spectral-norm GANs). The
    generator's half is :func:`wasserstein_gen_loss`.

    Args:
        real: (N,) raw discriminator scores on real images.
        fake: (M,) raw scores on generated images.
    """
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def wasserstein_dis_loss(real: Tensor, fake: Tensor) -> Tensor:
    """Wasserstein critic loss ``E[D(G(z))] - E[D(x)]`` (Arjovsky et al. 2017).

    Minimising it maximises the critic's estimate of the Earth Mover distance, valid only
    while D is (close to) 1-Lipschitz: a gradient penalty or clipping must keep it so.

    Args:
        real: (N,) raw critic scores on real images.
        fake: (M,) raw critic scores on generated images.
    """
    return fake.mean() - real.mean()


def wasserstein_gen_loss(fake: Tensor) -> Tensor:
    """Generator loss ``-E[D(G(z))]`` of the Wasserstein and hinge GANs: raise the critic's score.

    Args:
        fake: (M,) raw critic scores on generated images.
    """
    return -fake.mean()


def gradient_penalty(dis: nn.Module, real: Tensor, fake: Tensor, eps: Tensor | None = None) -> Tensor:
    """WGAN-GP's penalty ``E[(‖∇_x̂ D(x̂)‖₂ - 1)²]`` on random interpolates (Gulrajani et al. 2017).

    A 1-Lipschitz critic has gradient norm at most 1 everywhere, and the optimal one has
    norm 1 on the lines between real and generated samples; the penalty enforces that
    softly at ``x̂ = εx + (1-ε)G(z)``, one ε per sample. The gradient is built with
    ``create_graph=True`` so that the penalty itself trains the critic. Critics without
    batch norm are assumed (the paper's advice: the penalty is per sample).

    Args:
        dis: the critic, (N, ...) images -> (N,) raw scores.
        real: (N, ...) real images.
        fake: (N, ...) generated images, same shape as ``real``.
        eps: (N,) interpolation coefficients in [0, 1]; drawn from U[0, 1] with torch's
            global RNG when ``None`` (tests inject fixed ones).

    Returns:
        The raw (unweighted) penalty, a scalar tensor.
    """
    if real.shape != fake.shape:
        raise UsageError(
            f"Argument `fake` should have the shape of `real` {tuple(real.shape)} to interpolate, "
            f"but given {tuple(fake.shape)}"
        )
    n = real.shape[0]
    if eps is None:
        eps = torch.rand(n, device=real.device, dtype=real.dtype)
    elif eps.shape != (n,):
        raise UsageError(f"Argument `eps` should have shape ({n},), but given {tuple(eps.shape)}")
    eps = eps.reshape(n, *[1] * (real.dim() - 1))  # broadcast one coefficient per sample
    # The interpolates are a fresh leaf: the penalty trains D, never G.
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(dis(x_hat).sum(), x_hat, create_graph=True)
    # Summing over the batch gives each sample's own input gradient (samples are
    # independent). torch's norm backward is 0, not NaN, at a zero gradient.
    return (grad.flatten(1).norm(dim=1) - 1).square().mean()


def feature_matching_loss(real_features: Tensor, fake_features: Tensor) -> Tensor:
    """Feature matching ``‖mean_batch f(x) - mean_batch f(G(z))‖²`` (Salimans et al. 2016).

    Instead of fooling D outright, G matches the batch statistics of D's intermediate
    features on real data, a target that does not move as fast as D's verdict.

    Args:
        real_features: (N, F) discriminator features of real images (detach them: they
            are the target).
        fake_features: (M, F) features of generated images.

    Returns:
        The squared L2 distance between the two mean feature vectors, a scalar tensor.
    """
    return (real_features.mean(0) - fake_features.mean(0)).square().sum()


def real_vs_fake_logits(class_logits: Tensor) -> Tensor:
    """The real-vs-generated logit of a K+1-class discriminator, ``logsumexp(l)``.

    With K class logits ``l`` and the generated class's logit fixed at 0,
    ``D(x) = Z/(Z+1)`` with ``Z = Σ_k exp(l_k)``, that is ``sigmoid(log Z)``: the
    logistic losses apply unchanged to ``log Z``, and ``logsumexp`` computes it without
    overflow (Salimans et al. 2016, section 5).

    Args:
        class_logits: (N, K) class logits.

    Returns:
        (N,) logits of "real".
    """
    return torch.logsumexp(class_logits, dim=1)


def supervised_cross_entropy(class_logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy over the labelled examples of a batch; labels < 0 mark unlabelled ones.

    The mean is over the labelled examples only, and 0 (with a zero gradient) when there
    is none, instead of ``F.cross_entropy``'s NaN for an empty mean. Masking keeps it
    free of host syncs.

    Args:
        class_logits: (N, K) class logits of real images.
        labels: (N,) class indices in [0, K), or < 0 for unlabelled images.
    """
    labelled = labels >= 0
    per_sample = F.cross_entropy(class_logits, labels.clamp_min(0), reduction="none")
    return (per_sample * labelled).sum() / labelled.sum().clamp_min(1)


def labelled_accuracy(class_logits: Tensor, labels: Tensor) -> Tensor:
    """Fraction of the labelled examples (labels >= 0) whose arg-max class is right; 0 if none.

    Args:
        class_logits: (N, K) class logits.
        labels: (N,) class indices, or < 0 for unlabelled images.
    """
    labelled = labels >= 0
    right = (class_logits.detach().argmax(1) == labels) & labelled
    return right.sum() / labelled.sum().clamp_min(1)


# ---------------------------------------------------------------------------------------
# What the update step passes in, and the loss objects.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepInputs:
    """What one discriminator or generator step saw, for terms that need more than D's outputs.

    Attributes:
        dis: the discriminator (a gradient penalty differentiates through it; feature
            matching reads its ``features``).
        real: (N, C, H, W) the real batch.
        fake: (M, C, H, W) the generated batch (detached in the discriminator step).
        labels: (N,) class labels of the real batch, when the data has them.
        real_out: the discriminator's output on ``real`` (``None`` in the generator step).
        fake_out: the discriminator's output on ``fake``.
    """

    dis: nn.Module
    real: Tensor
    fake: Tensor
    labels: Tensor | None = None
    real_out: Any = None
    fake_out: Any = None


class EnergyOutput(NamedTuple):
    """Output of an autoencoder discriminator (EBGAN).

    Attributes:
        energy: (N,) per-sample energy, the mean squared reconstruction error.
        codes: (N, D) the flattened encoder outputs, for the pull-away term.
    """

    energy: Tensor
    codes: Tensor


class GANLoss:
    """The discriminator and generator terms of one GAN variant.

    Subclasses implement :meth:`discriminator` and :meth:`generator` on the raw
    discriminator outputs, and :meth:`dis_output` to say what ``dis/real`` and
    ``dis/fake`` report (a probability for the logistic losses, a raw score otherwise).
    Regularisers that need the networks or the batches (a gradient penalty, feature
    matching, a supervised term) override :meth:`dis_extra` / :meth:`gen_extra`: their
    ``"loss"`` is added to the step's loss and their other keys are observed.
    """

    name = "base"

    def discriminator(self, real_out: Tensor, fake_out: Tensor) -> dict[str, Tensor]:
        """Terms of the discriminator step; ``"loss"`` is minimised."""
        raise NotImplementedError

    def generator(self, fake_out: Tensor) -> dict[str, Tensor]:
        """Terms of the generator step; ``"loss"`` is minimised."""
        raise NotImplementedError

    def dis_output(self, out: Tensor) -> Tensor:
        """The reported mean D output of a batch; raw scores by default."""
        return out.detach().float().mean()

    def dis_extra(self, inputs: StepInputs) -> dict[str, Tensor]:
        """Extra discriminator terms; none by default."""
        return {}

    def gen_extra(self, inputs: StepInputs) -> dict[str, Tensor]:
        """Extra generator terms; none by default."""
        return {}

    def __repr__(self) -> str:
        # Settings are the constructor's arguments, kept under the same names.
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class NonSaturatingLoss(GANLoss):
    """The standard GAN: logistic discriminator, non-saturating generator (``gan``)."""

    name = "gan"

    def discriminator(self, real_out: Tensor, fake_out: Tensor) -> dict[str, Tensor]:
        return {"loss": bce_dis_loss(real_out, fake_out)}

    def generator(self, fake_out: Tensor) -> dict[str, Tensor]:
        return {"loss": bce_gen_loss(fake_out)}

    def dis_output(self, out: Tensor) -> Tensor:
        # D(x) as a probability, as the articles plotted it.
        return out.detach().float().sigmoid().mean()


class MinimaxLoss(NonSaturatingLoss):
    """The original minimax game: same discriminator, saturating generator (``minimax``)."""

    name = "minimax"

    def generator(self, fake_out: Tensor) -> dict[str, Tensor]:
        return {"loss": minimax_gen_loss(fake_out)}


class LSGANLoss(GANLoss):
    """Least squares GAN (``lsgan``, Mao et al. 2017) on raw scores (N,).

    Two codings from the paper: ``(a, b, c) = (0, 1, 1)``, the default, where G aims at
    the real target as in the usual GAN; and ``(-1, 1, 0)``, which satisfies
    ``b - c = 1, b - a = 2`` and makes the game minimise the Pearson χ² divergence
    between the data and ``(p_data + p_g)/2``.

    Args:
        a: D's target for generated images.
        b: D's target for real images (must differ from ``a``).
        c: G's target for its images.
    """

    name = "lsgan"

    def __init__(self, a: float = 0.0, b: float = 1.0, c: float = 1.0) -> None:
        self.a, self.b, self.c = (_check_number(k, v) for k, v in (("a", a), ("b", b), ("c", c)))
        if self.a == self.b:
            raise UsageError(f"Argument `b` should differ from `a` (D has nothing to separate), but given a=b={b!r}")

    def discriminator(self, real_out: Tensor, fake_out: Tensor) -> dict[str, Tensor]:
        return {"loss": lsgan_dis_loss(real_out, fake_out, self.a, self.b)}

    def generator(self, fake_out: Tensor) -> dict[str, Tensor]:
        return {"loss": lsgan_gen_loss(fake_out, self.c)}


class EBGANLoss(GANLoss):
    """Energy-based GAN (``ebgan``, Zhao et al. 2017): D is an autoencoder returning :class:`EnergyOutput`.

    D minimises ``E[D(x)] + E[max(0, m - D(G(z)))]`` (:func:`ebgan_dis_loss`), G
    minimises ``E[D(G(z))] + λ·PT`` with PT the :func:`pull_away_term` of the generated
    batch's codes. ``gen/pull_away`` reports PT even when ``λ = 0``, so runs without the
    term (``--no-pt``) can be compared with runs that have it; ``dis/real`` and
    ``dis/fake`` report the mean energies.

    Args:
        margin: ``m``, positive, on the scale of the energy (see
            :attr:`DEFAULT_MARGIN`).
        pt_weight: ``λ``, non-negative; the paper uses 0.1.
    """

    name = "ebgan"

    # Energies are per-sample mean squared errors of images in [-1, 1]: a trained
    # autoencoder reconstructs real digits to ~0.02, reconstructing as all zeros costs
    # E[x²] <= 1, and no tanh decoder costs more than 4. The paper's margins are for its
    # unnormalised norm and do not transfer. Measured on digits (4 epochs, batch 16): with
    # m = 1 the discriminator held generated energies near 0.9 and the generator never
    # left grey noise; with m = 0.3 digits appeared and stayed diverse. So m = 0.3.
    DEFAULT_MARGIN = 0.3

    def __init__(self, margin: float = DEFAULT_MARGIN, pt_weight: float = 0.1) -> None:
        self.margin = _check_positive("margin", margin)
        self.pt_weight = _check_non_negative("pt_weight", pt_weight)

    def discriminator(self, real_out: EnergyOutput, fake_out: EnergyOutput) -> dict[str, Tensor]:
        return {"loss": ebgan_dis_loss(real_out.energy, fake_out.energy, self.margin)}

    def generator(self, fake_out: EnergyOutput) -> dict[str, Tensor]:
        loss = ebgan_gen_loss(fake_out.energy)
        if self.pt_weight:
            pull_away = pull_away_term(fake_out.codes)
            loss = loss + self.pt_weight * pull_away
        else:  # observed only: no graph to keep
            with torch.no_grad():
                pull_away = pull_away_term(fake_out.codes)
        return {"loss": loss, "pull_away": pull_away.detach()}

    def dis_output(self, out: EnergyOutput) -> Tensor:
        return out.energy.detach().float().mean()


class HingeLoss(GANLoss):
    """Hinge GAN (``hinge``) on raw scores (N,): :func:`hinge_dis_loss` and :func:`wasserstein_gen_loss`."""

    name = "hinge"

    def discriminator(self, real_out: Tensor, fake_out: Tensor) -> dict[str, Tensor]:
        return {"loss": hinge_dis_loss(real_out, fake_out)}

    def generator(self, fake_out: Tensor) -> dict[str, Tensor]:
        return {"loss": wasserstein_gen_loss(fake_out)}


class WGANGPLoss(GANLoss):
    """Wasserstein GAN with gradient penalty (``wgan-gp``, Gulrajani et al. 2017) on raw scores (N,).

    The critic minimises ``E[D(G(z))] - E[D(x)] + λ·GP`` (:func:`wasserstein_dis_loss`,
    :func:`gradient_penalty`), the generator ``-E[D(G(z))]``. ``dis/gp`` reports the raw
    penalty. The paper trains the critic 5 times per generator step (``n_dis=5``) with
    Adam(1e-4, betas=(0, 0.9)) and no batch norm in the critic.

    Args:
        gp_weight: ``λ``, non-negative; 10 in the paper. With 0 the penalty is only observed.
    """

    name = "wgan-gp"

    def __init__(self, gp_weight: float = 10.0) -> None:
        self.gp_weight = _check_non_negative("gp_weight", gp_weight)

    def discriminator(self, real_out: Tensor, fake_out: Tensor) -> dict[str, Tensor]:
        return {"loss": wasserstein_dis_loss(real_out, fake_out)}

    def generator(self, fake_out: Tensor) -> dict[str, Tensor]:
        return {"loss": wasserstein_gen_loss(fake_out)}

    def dis_extra(self, inputs: StepInputs) -> dict[str, Tensor]:
        penalty = gradient_penalty(inputs.dis, inputs.real, inputs.fake)
        if not self.gp_weight:
            return {"gp": penalty.detach()}
        return {"loss": self.gp_weight * penalty, "gp": penalty.detach()}


class SemiSupervisedLoss(GANLoss):
    """Semi-supervised GAN with K+1 classes (``ssgan``, Salimans et al. 2016).

    D outputs K class logits (N, K); the generated class has a fixed logit 0, so the
    real-vs-generated logit is ``logsumexp(l)`` (:func:`real_vs_fake_logits`) and the
    unsupervised terms are the logistic ones on it: :func:`bce_dis_loss` for D,
    :func:`bce_gen_loss` for G (or feature matching, by wrapping this loss in
    :class:`FeatureMatching`). On top, D minimises the cross-entropy of the real batch's
    labelled examples (:func:`supervised_cross_entropy`; labels < 0 mark unlabelled
    ones), observed as ``dis/supervised`` with ``dis/accuracy`` on the same examples
    (only in iterations whose batch has labels).
    ``dis/real`` and ``dis/fake`` report the probability ``sigmoid(logsumexp(l))``.

    Batches must be ``(images, labels)``.

    Args:
        num_classes: K, at least 2.
        supervised_weight: weight of the supervised cross-entropy, non-negative.
    """

    name = "ssgan"

    def __init__(self, num_classes: int, supervised_weight: float = 1.0) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise UsageError(f"Argument `num_classes` should be an integer of at least 2, but given {num_classes!r}")
        self.num_classes = num_classes
        self.supervised_weight = _check_non_negative("supervised_weight", supervised_weight)

    def discriminator(self, real_out: Tensor, fake_out: Tensor) -> dict[str, Tensor]:
        real, fake = self._logits(real_out), self._logits(fake_out)
        return {"loss": bce_dis_loss(real, fake)}

    def generator(self, fake_out: Tensor) -> dict[str, Tensor]:
        return {"loss": bce_gen_loss(self._logits(fake_out))}

    def dis_output(self, out: Tensor) -> Tensor:
        return real_vs_fake_logits(out.detach().float()).sigmoid().mean()

    def dis_extra(self, inputs: StepInputs) -> dict[str, Tensor]:
        if inputs.labels is None:
            raise UsageError(
                "SemiSupervisedLoss needs labelled batches (images, labels); mark unlabelled images with label -1"
            )
        supervised = supervised_cross_entropy(inputs.real_out, inputs.labels)
        terms = {"loss": self.supervised_weight * supervised}
        # A batch without labels has no accuracy: observing 0 would drag the logged mean down.
        if bool((inputs.labels >= 0).any()):
            terms["supervised"] = supervised.detach()
            terms["accuracy"] = labelled_accuracy(inputs.real_out, inputs.labels)
        return terms

    def _logits(self, class_logits: Tensor) -> Tensor:
        if class_logits.dim() != 2 or class_logits.shape[1] != self.num_classes:
            raise UsageError(
                f"Argument `dis` should output (N, {self.num_classes}) class logits for ssgan, "
                f"but its output has shape {tuple(class_logits.shape)}"
            )
        return real_vs_fake_logits(class_logits)


class FeatureMatching(GANLoss):
    """Adds feature matching (Salimans et al. 2016) to the generator step of any loss.

    Everything is delegated to ``base``; the generator step also minimises
    ``weight * ‖mean_batch f(x) - mean_batch f(G(z))‖²`` (:func:`feature_matching_loss`)
    with ``f = dis.features``, (N, ...) images -> (N, F), real features held fixed. It is
    observed unweighted as ``gen/feature_matching``. Extra terms of ``base`` (a gradient
    penalty, a supervised term) are kept: their losses add up.

    Args:
        base: the loss to extend, e.g. ``get_loss("ssgan", num_classes=10)``.
        weight: weight of the feature matching term, non-negative.
    """

    name = "feature-matching"

    def __init__(self, base: GANLoss, weight: float = 1.0) -> None:
        if not isinstance(base, GANLoss):
            raise UsageError(f"Argument `base` should be a GANLoss, but given {base!r}")
        self.base = base
        self.weight = _check_non_negative("weight", weight)

    def discriminator(self, real_out: Any, fake_out: Any) -> dict[str, Tensor]:
        return self.base.discriminator(real_out, fake_out)

    def generator(self, fake_out: Any) -> dict[str, Tensor]:
        return self.base.generator(fake_out)

    def dis_output(self, out: Any) -> Tensor:
        return self.base.dis_output(out)

    def dis_extra(self, inputs: StepInputs) -> dict[str, Tensor]:
        return self.base.dis_extra(inputs)

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
        matching = feature_matching_loss(real_features, features(inputs.fake))
        own = {"loss": self.weight * matching, "feature_matching": matching.detach()}
        return merge_terms(self.base.gen_extra(inputs), own)


def merge_terms(first: dict[str, Tensor], second: dict[str, Tensor]) -> dict[str, Tensor]:
    """Combine two sets of extra terms: their ``"loss"`` values add up, other keys are kept."""
    merged = {**first, **second}
    if "loss" in first and "loss" in second:
        merged["loss"] = first["loss"] + second["loss"]
    return merged


def _check_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(f"Argument `{name}` should be a finite number, but given {value!r}")
    return float(value)


def _check_positive(name: str, value: Any) -> float:
    if _check_number(name, value) <= 0:
        raise UsageError(f"Argument `{name}` should be positive, but given {value!r}")
    return float(value)


def _check_non_negative(name: str, value: Any) -> float:
    if _check_number(name, value) < 0:
        raise UsageError(f"Argument `{name}` should be non-negative, but given {value!r}")
    return float(value)


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
