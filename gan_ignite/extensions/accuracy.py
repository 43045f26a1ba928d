"""Classifier accuracy of a semi-supervised discriminator on held-out labelled data.

The semi-supervised GAN of Salimans et al. (2016) gives its discriminator K logits, one
per real class (the "generated" class's logit is fixed at 0). How well it classifies
images it never trained on is the point of that experiment, so this extension measures
it each epoch and adds it to the iteration's observation, where LogReport and
TensorBoard pick it up like any loss.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch
from torch import nn

from gan_ignite.errors import UsageError
from gan_ignite.distributed import broadcast_numbers, is_main_process
from gan_ignite.extensions.extension import PRIORITY_WRITER, Extension
from gan_ignite.extensions.images import inference
from gan_ignite.triggers import TriggerLike, get_trigger

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["ClassifierAccuracy", "classifier_accuracy"]


def classifier_accuracy(dis: nn.Module, loader: Iterable, device: str | torch.device = "cpu") -> float:
    """The fraction of ``loader``'s images whose largest logit is their label.

    Runs ``dis`` under ``no_grad`` in eval mode (batch norm on its running statistics)
    and restores its previous mode. Counts are summed over the whole loader, so a short
    last batch weighs by its size, not as much as a full one.

    Args:
        dis: the discriminator, (N, C, H, W) images -> (N, K) class logits.
        loader: batches ``(images (N, C, H, W), labels (N,))`` with labels in ``[0, K)``.
        device: where ``dis`` lives.
    """
    with inference(dis):
        correct, total = _count_correct(dis, loader, torch.device(device))
    if not total:
        raise UsageError("Argument `loader` should give at least one labelled image, but given an empty loader")
    return correct / total


def _count_correct(dis: nn.Module, loader: Iterable, device: torch.device) -> tuple[int, int]:
    # Counted on the device: one host sync at the end instead of one per batch.
    correct = torch.zeros((), dtype=torch.long, device=device)
    total = 0
    for batch in loader:
        if not isinstance(batch, (list, tuple)) or len(batch) < 2:
            raise UsageError(
                f"Argument `loader` should give (images, labels) batches, but given {type(batch).__name__}"
            )
        images, labels = batch[0].to(device), batch[1].to(device)
        logits = dis(images)
        if logits.ndim != 2:
            raise UsageError(
                f"Argument `dis` should return (N, K) class logits, but given shape {tuple(logits.shape)}; "
                "build the discriminator with num_classes=K"
            )
        correct += (logits.argmax(dim=1) == labels).sum()
        total += len(labels)
    return int(correct), total


class ClassifierAccuracy(Extension):
    """Adds the discriminator's held-out accuracy to ``trainer.observation[key]``.

    A writer (priority 300), so it runs before LogReport (an editor, 200) and
    TensorBoard (a reader, 100) in the iteration it fires: they read the observation
    after it added the key, and the accuracy lands in the log entry of that epoch.
    With a lower priority the key would be added after LogReport had taken the
    observation and would never be logged. Since it is observed only when this
    extension fires, a LogReport entry's mean of the key is the one measured value.

    Args:
        dis: the discriminator, images -> (N, K) class logits.
        loader: held-out batches ``(images, labels)``.
        device: where ``dis`` lives.
        key: the observation key.
        trigger: when to measure, e.g. ``(1, 'epoch')``.
    """

    priority = PRIORITY_WRITER
    name = "ClassifierAccuracy"

    def __init__(
        self,
        dis: nn.Module,
        loader: Iterable,
        device: str | torch.device = "cpu",
        key: str = "dis/accuracy",
        trigger: TriggerLike = (1, "epoch"),
    ) -> None:
        get_trigger(trigger)  # a bad trigger fails here, not when the trainer registers it
        self.trigger = trigger
        self.dis = dis
        self.loader = loader
        self.device = torch.device(device)
        self.key = key

    def __call__(self, trainer: Trainer) -> None:
        # With several processes the main one measures and every one gets its number: D's
        # batch-norm statistics differ between processes, and a stop trigger reading the
        # key must decide alike in all of them.
        accuracy = {"accuracy": classifier_accuracy(self.dis, self.loader, self.device)} if is_main_process() else {}
        trainer.observation[self.key] = broadcast_numbers(accuracy, ["accuracy"])["accuracy"]
