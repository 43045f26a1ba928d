"""The R1 gradient penalty (Mescheder et al. 2018): a discriminator term that wraps any :class:`GANLoss`."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gan_ignite.errors import UsageError
from gan_ignite.losses.base import GANLoss, StepInputs, WrappedLoss, _check_non_negative, merge_terms
from gan_ignite.losses.wasserstein import _in_float32

__all__ = ["r1_penalty", "R1Penalty"]


def r1_penalty(dis: nn.Module, real: Tensor) -> Tensor:
    """The R1 penalty ``E[‖∇_x D(x)‖²]`` on real images (Mescheder et al. 2018).

    From "Which Training Methods for GANs do actually Converge?": near the equilibrium,
    where G matches the data, the discriminator should be flat on the data; unregularised,
    it keeps oscillating around it and training need not converge. Penalising D's input gradient on real images alone pushes it to flatness
    there (a zero-centred penalty, unlike WGAN-GP's, which wants norm 1). On a small
    dataset it also keeps D from carving a sharp boundary around each memorised image.
    The gradient is built with ``create_graph=True`` so that the penalty trains D; it
    runs in float32 with autocast off, as :func:`~gan_ignite.losses.gradient_penalty` does.

    Args:
        dis: the discriminator, (N, ...) images -> one score a row: logits or raw scores
            (N,) or (N, 1), class logits (N, K) (scored by ``logsumexp``, the
            semi-supervised real-vs-fake logit) or an output with an ``energy`` (N,) field (EBGAN).
        real: (N, ...) real images (as D sees them: augmented under DiffAugment).

    Returns:
        The raw (unweighted) penalty, a scalar tensor.
    """
    with _in_float32(real.device.type):
        # A fresh leaf: the penalty differentiates D's input, and trains D only.
        x = real.detach().float().requires_grad_(True)
        (grad,) = torch.autograd.grad(_score(dis(x), len(x)).sum(), x, create_graph=True)
    # Summing the scores gives each image its own input gradient (images are independent).
    return grad.flatten(1).square().sum(1).mean()


def _score(out: Any, n: int) -> Tensor:
    """The one number a row of a discriminator output that R1 differentiates."""
    if hasattr(out, "energy"):
        out = out.energy
    if isinstance(out, Tensor) and out.dim() == 2 and out.shape[1] > 1:
        out = torch.logsumexp(out, dim=1)
    if not isinstance(out, Tensor) or out.numel() != n:
        kind = type(out).__name__ if not isinstance(out, Tensor) else f"a tensor of shape {tuple(out.shape)}"
        raise UsageError(f"--r1-gamma needs a discriminator that scores each image with one number, "
                         f"but it gave {kind} for {n} images")
    return out.reshape(n)


class R1Penalty(WrappedLoss):
    """Adds the R1 penalty ``(γ/2)·E[‖∇_x D(x)‖²]`` on real images to the discriminator step of any loss.

    Everything is delegated to ``base``; the discriminator step also minimises
    ``gamma / 2 * r1_penalty(dis, real)`` (:func:`r1_penalty`), observed unweighted as
    ``dis/r1``. With DiffAugment the reals are the augmented ones D saw, as in
    StyleGAN2-ADA. Extra terms of ``base`` (a gradient penalty, a supervised term) are
    kept: their losses add up. StyleGAN2 uses γ = 10 on FFHQ at 1024², and smaller
    values at lower resolutions (0.01 to 1 on 32² to 256² images).

    Args:
        base: the loss to extend, e.g. ``get_loss("gan")``.
        gamma: ``γ``, non-negative. With 0 the penalty is only observed.
    """

    name = "r1"

    def __init__(self, base: GANLoss, gamma: float = 10.0) -> None:
        super().__init__(base)
        self.gamma = _check_non_negative("gamma", gamma)

    def dis_extra(self, inputs: StepInputs) -> dict[str, Tensor]:
        penalty = r1_penalty(inputs.dis, inputs.real)
        own = {"r1": penalty.detach()}
        if self.gamma:
            own["loss"] = self.gamma / 2 * penalty
        return merge_terms(self.base.dis_extra(inputs), own)
