"""GAN losses: pure functions and the loss objects an update step plugs in.

A GAN variant differs from another only in how it scores the discriminator's outputs:
the update step (:mod:`gan_ignite.updaters`) runs the networks and calls a
:class:`GANLoss` for the discriminator term and for the generator term. Adding a variant
means adding a loss object here, never a copy of the step.

Each loss term returns a ``dict`` of scalar tensors: ``"loss"`` is what the optimizer
minimises, any other key (a penalty, a pull-away term) is reported as an observation
under the network's prefix (``dis/loss``, ``gen/pull_away``).

Nothing here knows Ignite, optimizers or files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn
from torch.nn import functional as F

from gan_ignite.errors import UsageError

__all__ = [
    "StepInputs",
    "GANLoss",
    "NonSaturatingLoss",
    "MinimaxLoss",
    "bce_dis_loss",
    "bce_gen_loss",
    "minimax_gen_loss",
    "get_loss",
    "LOSSES",
]


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
        return f"{type(self).__name__}()"


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


LOSSES: dict[str, type[GANLoss]] = {
    NonSaturatingLoss.name: NonSaturatingLoss,
    MinimaxLoss.name: MinimaxLoss,
}


def get_loss(name: str, **kwargs) -> GANLoss:
    """Build a registered loss by name (``gan``, ``minimax``, ...)."""
    if name not in LOSSES:
        valid = ", ".join(LOSSES)
        raise UsageError(f"Argument `loss` should be one of {valid}, but given {name!r}")
    return LOSSES[name](**kwargs)
