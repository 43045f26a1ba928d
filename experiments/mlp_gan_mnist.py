"""The small MLP GAN of the Keras article on MNIST-like data.

One hidden Dense layer of 128 units with LeakyReLU(0.01) in each network, a tanh
generator output, the standard GAN loss and Adam.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gan_ignite.cli import run_experiment
from gan_ignite.config import GANConfig, option, parse_config
from gan_ignite.options import POSITIVE, one_of
from gan_ignite.losses import get_loss
from gan_ignite.models import MLPDiscriminator, MLPGenerator
from gan_ignite.recipes import dataset_from_config, gan_trainer
from gan_ignite.trainer import Trainer


@dataclass(frozen=True)
class Config(GANConfig):
    epochs: int = option(30, "number of training epochs")
    batch_size: int = option(32, "images per batch")
    hidden: int = option(128, "units of the hidden layer", POSITIVE)
    loss: str = option("gan", "gan (non-saturating) or minimax", one_of("gan", "minimax"))


def build(config: Config) -> Trainer:
    dataset = dataset_from_config(config)
    shape = dict(image_size=config.image_size, channels=dataset[0][0].shape[0], hidden=config.hidden)
    gen = MLPGenerator(z_dim=config.z_dim, **shape)
    dis = MLPDiscriminator(**shape)
    return gan_trainer(config, dataset, gen, dis, get_loss(config.loss))


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> None:
    run_experiment(build, parse_config(Config, argv, description=__doc__, prog=prog))


if __name__ == "__main__":
    main()
