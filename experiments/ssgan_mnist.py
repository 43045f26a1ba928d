"""Semi-supervised GAN (Salimans et al. 2016) on MNIST-like data: a K+1-class discriminator.

The discriminator classifies real images into the K digit classes, and "generated" is
the (K+1)-th class. It trains on every training image but sees only ``--labelled``
labels per class; the rest are unlabelled. Its classification accuracy on a held-out
split is logged each epoch as ``validation/dis/accuracy`` (``dis/accuracy`` is the
accuracy on the training batches' labelled images). By default the generator loss adds
feature matching, the objective the paper's semi-supervised runs used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch.utils.data import DataLoader

from gan_ignite.cli import run_experiment
from gan_ignite.config import DCGANConfig, fm_reduction_option, fm_weight_option, option, parse_config
from gan_ignite.extensions import ClassifierAccuracy
from gan_ignite.losses import SemiSupervisedLoss
from gan_ignite.recipes import dataset_from_config, dcgan_models, gan_trainer, with_feature_matching
from gan_ignite.splits import PartiallyLabelled, hold_out, labels_of
from gan_ignite.trainer import Trainer


@dataclass(frozen=True)
class Config(DCGANConfig):
    epochs: int = option(10, "number of training epochs")
    batch_size: int = option(32, "images per batch")
    labelled: int = option(10, "labels kept per class; the other training images are unlabelled")
    held_out: float = option(0.2, "fraction of the data held out to measure D's accuracy")
    feature_matching: bool = option(True, "feature matching for the generator (the paper's choice)")
    fm_weight: float = fm_weight_option(1.0)
    fm_reduction: str = fm_reduction_option()


def build(config: Config) -> Trainer:
    data = dataset_from_config(config)
    num_classes = max(labels_of(data)) + 1  # logits indexed by label, even with --classes
    gen, dis = dcgan_models(config, num_classes=num_classes)
    train, held = hold_out(data, config.held_out, config.seed)
    loss = with_feature_matching(config, SemiSupervisedLoss(num_classes))
    trainer = gan_trainer(config, PartiallyLabelled(train, config.labelled, config.seed), gen, dis, loss)
    held_loader = DataLoader(held, batch_size=256)
    trainer.extend(ClassifierAccuracy(dis, held_loader, device=config.resolved_device(), key="validation/dis/accuracy"))
    return trainer


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> None:
    run_experiment(build, parse_config(Config, argv, description=__doc__, prog=prog))


if __name__ == "__main__":
    main()
