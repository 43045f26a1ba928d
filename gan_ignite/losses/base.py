"""The contract between the update step and a GAN variant's loss.

:class:`GANLoss` is what :mod:`gan_ignite.updaters` calls: its discriminator and
generator terms on the raw discriminator outputs, and extra terms for regularisers that
need the networks or the batches, which receive a :class:`StepInputs`.
:func:`merge_terms` combines two sets of extra terms. The argument checks are shared by
the variants' constructors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from gan_ignite.errors import UsageError

__all__ = ["StepInputs", "GANLoss", "WrappedLoss", "merge_terms"]


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
        draw_uniform: ``n -> (n,)`` uniform draws from [0, 1) for the batch's rows, the
            step's own (in a run of several processes, this process's rows of the global
            batch's draws); ``None``: a term draws with ``torch.rand``.
    """

    dis: nn.Module
    real: Tensor
    fake: Tensor
    labels: Tensor | None = None
    real_out: Any = None
    fake_out: Any = None
    draw_uniform: Callable[[int], Tensor] | None = None


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
    #: Whether :meth:`dis_output` is a probability that D is right (a logistic D), so
    #: that "D(x) near 1 and D(G(z)) near 0" means the discriminator wins outright.
    outputs_probabilities = False

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


class WrappedLoss(GANLoss):
    """A :class:`GANLoss` that adds a term to another one: everything is ``base``'s unless overridden.

    The regularisers that combine with any variant (feature matching, R1) subclass it
    and override only the ``*_extra`` method of the step they add their term to.
    """

    def __init__(self, base: GANLoss) -> None:
        if not isinstance(base, GANLoss):
            raise UsageError(f"Argument `base` should be a GANLoss, but given {base!r}")
        self.base = base

    def discriminator(self, real_out: Any, fake_out: Any) -> dict[str, Tensor]:
        return self.base.discriminator(real_out, fake_out)

    def generator(self, fake_out: Any) -> dict[str, Tensor]:
        return self.base.generator(fake_out)

    def dis_output(self, out: Any) -> Tensor:
        return self.base.dis_output(out)

    @property
    def outputs_probabilities(self) -> bool:  # type: ignore[override]
        return self.base.outputs_probabilities

    def dis_extra(self, inputs: StepInputs) -> dict[str, Tensor]:
        return self.base.dis_extra(inputs)

    def gen_extra(self, inputs: StepInputs) -> dict[str, Tensor]:
        return self.base.gen_extra(inputs)


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
