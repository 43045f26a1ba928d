"""The logistic GAN on logits: the non-saturating (``gan``) and minimax (``minimax``) games.

The discriminator minimises the binary cross-entropy of real against generated images
(Goodfellow et al. 2014), written with ``softplus`` so that large logits stay exact.
"""

from __future__ import annotations

from torch import Tensor
from torch.nn import functional as F

from gan_ignite.losses.base import GANLoss

__all__ = ["bce_dis_loss", "bce_gen_loss", "minimax_gen_loss", "NonSaturatingLoss", "MinimaxLoss"]


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


class NonSaturatingLoss(GANLoss):
    """The standard GAN: logistic discriminator, non-saturating generator (``gan``)."""

    name = "gan"
    outputs_probabilities = True

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
