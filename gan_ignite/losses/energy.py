"""Energy-based GAN (``ebgan``, Zhao et al. 2017): an autoencoder discriminator's energies.

D returns an :class:`EnergyOutput`, the per-sample reconstruction error and the encoder's
codes; the margin loss scores the energies and the :func:`pull_away_term` of the codes
keeps the generator's samples apart.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn import functional as F

from gan_ignite.errors import UsageError
from gan_ignite.losses.base import GANLoss, _check_non_negative, _check_positive

__all__ = ["EnergyOutput", "ebgan_dis_loss", "ebgan_gen_loss", "pull_away_term", "EBGANLoss"]


class EnergyOutput(NamedTuple):
    """Output of an autoencoder discriminator (EBGAN).

    Attributes:
        energy: (N,) per-sample energy, the mean squared reconstruction error.
        codes: (N, D) the flattened encoder outputs, for the pull-away term.
    """

    energy: Tensor
    codes: Tensor


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
