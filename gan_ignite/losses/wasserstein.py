"""Critics on raw scores: the hinge GAN (``hinge``) and Wasserstein GAN with gradient penalty (``wgan-gp``).

Both generators raise the critic's score, ``-E[D(G(z))]``; the discriminators differ in
the hinge and in the Lipschitz constraint that the :func:`gradient_penalty` enforces.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from gan_ignite.errors import UsageError
from gan_ignite.losses.base import GANLoss, StepInputs, _check_non_negative

__all__ = [
    "hinge_dis_loss",
    "wasserstein_dis_loss",
    "wasserstein_gen_loss",
    "gradient_penalty",
    "HingeLoss",
    "WGANGPLoss",
]


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
    with _in_float32(real.device.type):
        # The interpolates are a fresh leaf: the penalty trains D, never G.
        x_hat = (eps * real.detach().float() + (1 - eps) * fake.detach().float()).requires_grad_(True)
        (grad,) = torch.autograd.grad(dis(x_hat).sum(), x_hat, create_graph=True)
    # Summing over the batch gives each sample's own input gradient (samples are
    # independent). torch's norm backward is 0, not NaN, at a zero gradient.
    return (grad.flatten(1).norm(dim=1) - 1).square().mean()


def _in_float32(device_type: str) -> contextlib.AbstractContextManager[object]:
    """Autocast switched off where it is on: a gradient of a gradient in float16 under- or overflows.

    Under ``--amp`` the penalty's double backward runs in float32, unscaled by the
    step's gradient scaler (which scales only the loss it backpropagates).
    """
    try:
        enabled = torch.is_autocast_enabled(device_type)
    except RuntimeError:  # a device type autocast does not know (meta) is never autocast
        enabled = False
    return torch.autocast(device_type, enabled=False) if enabled else contextlib.nullcontext()


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
        draw = inputs.draw_uniform
        eps = draw(len(inputs.real)).to(inputs.real.dtype) if draw is not None else None
        penalty = gradient_penalty(inputs.dis, inputs.real, inputs.fake, eps=eps)
        if not self.gp_weight:
            return {"gp": penalty.detach()}
        return {"loss": self.gp_weight * penalty, "gp": penalty.detach()}
