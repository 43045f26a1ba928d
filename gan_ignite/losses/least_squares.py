"""Least squares GAN (``lsgan``, Mao et al. 2017): D regresses raw scores to targets."""

from __future__ import annotations

from torch import Tensor

from gan_ignite.errors import UsageError
from gan_ignite.losses.base import GANLoss, _check_number

__all__ = ["lsgan_dis_loss", "lsgan_gen_loss", "LSGANLoss"]


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
