"""64x64 DCGAN on any folder of images (the logo article): ``--dataset PATH``.

Images are composited on white, converted to RGB, resized and center-cropped.
``--feature-matching`` adds Salimans et al.'s feature-matching term to the generator
loss; ``--minibatch-discrimination`` adds their minibatch discrimination layer to the
discriminator. Both fight the mode collapse small folders invite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gan_ignite.cli import run_experiment
from gan_ignite.config import DCGANConfig, option, parse_config
from gan_ignite.losses import FeatureMatching, NonSaturatingLoss
from gan_ignite.recipes import dataset_from_config, dcgan_models, gan_trainer
from gan_ignite.trainer import Trainer


@dataclass(frozen=True)
class Config(DCGANConfig):
    image_size: int = option(64, "image side in pixels")
    epochs: int = option(50, "number of training epochs")
    batch_size: int = option(32, "images per batch")
    feature_matching: bool = option(False, "add the feature-matching term to the generator loss")
    fm_weight: float = option(1.0, "weight of the feature-matching term")
    minibatch_discrimination: bool = option(False, "add a minibatch discrimination layer to D")


def build(config: Config) -> Trainer:
    minibatch = "discrimination" if config.minibatch_discrimination else None
    gen, dis = dcgan_models(config, minibatch=minibatch)
    loss = NonSaturatingLoss()
    if config.feature_matching:
        loss = FeatureMatching(loss, weight=config.fm_weight)
    return gan_trainer(config, dataset_from_config(config), gen, dis, loss)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> None:
    run_experiment(build, parse_config(Config, argv, description=__doc__, prog=prog))


if __name__ == "__main__":
    main()
