"""Semi-supervised GAN with K+1 classes (``ssgan``, Salimans et al. 2016).

D's K class logits give the real-vs-generated logit ``logsumexp(l)``, scored by the
logistic losses, and a supervised cross-entropy on the labelled part of the real batch.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from gan_ignite.errors import UsageError
from gan_ignite.losses.base import GANLoss, StepInputs, _check_non_negative
from gan_ignite.losses.logistic import bce_dis_loss, bce_gen_loss

__all__ = ["real_vs_fake_logits", "supervised_cross_entropy", "labelled_accuracy", "SemiSupervisedLoss"]


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


class SemiSupervisedLoss(GANLoss):
    """Semi-supervised GAN with K+1 classes (``ssgan``, Salimans et al. 2016).

    D outputs K class logits (N, K); the generated class has a fixed logit 0, so the
    real-vs-generated logit is ``logsumexp(l)`` (:func:`real_vs_fake_logits`) and the
    unsupervised terms are the logistic ones on it: :func:`bce_dis_loss` for D,
    :func:`bce_gen_loss` for G (or feature matching, by wrapping this loss in
    :class:`FeatureMatching`). On top, D minimises the cross-entropy of the real batch's
    labelled examples (:func:`supervised_cross_entropy`; labels < 0 mark unlabelled
    ones), observed as ``dis/supervised`` with ``dis/accuracy`` on the same examples, each
    a ``(value, number of labelled examples)`` pair: interval means are over examples, and
    a batch without labels weighs nothing.
    ``dis/real`` and ``dis/fake`` report the probability ``sigmoid(logsumexp(l))``.

    Batches must be ``(images, labels)``.

    Args:
        num_classes: K, at least 2.
        supervised_weight: weight of the supervised cross-entropy, non-negative.
    """

    name = "ssgan"
    outputs_probabilities = True

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
        # Reported as (value, weight) pairs weighted by the batch's labelled examples, so
        # the logged means are over examples, and a batch without labels (weight 0) adds
        # nothing, without asking the device whether it has labels (a host sync).
        labelled = (inputs.labels >= 0).sum().float()
        return {
            "loss": self.supervised_weight * supervised,
            "supervised": (supervised.detach(), labelled),
            "accuracy": (labelled_accuracy(inputs.real_out, inputs.labels), labelled),
        }

    def _logits(self, class_logits: Tensor) -> Tensor:
        if class_logits.dim() != 2 or class_logits.shape[1] != self.num_classes:
            raise UsageError(
                f"Argument `dis` should output (N, {self.num_classes}) class logits for ssgan, "
                f"but its output has shape {tuple(class_logits.shape)}"
            )
        return real_vs_fake_logits(class_logits)
