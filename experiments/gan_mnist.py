"""DCGAN on MNIST-like data (the README's default run).

The Chainer DCGAN example on the standard GAN loss: a transposed-convolution generator
and a strided-convolution discriminator with batch norm, trained with Adam.
Runs on the embedded ``digits`` dataset by default; ``--dataset mnist --data-root DIR``
trains on real MNIST.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gan_ignite.cli import run_experiment
from gan_ignite.config import DCGANConfig, option, parse_config
from gan_ignite.options import one_of
from gan_ignite.losses import get_loss
from gan_ignite.recipes import dataset_from_config, dcgan_models, gan_trainer
from gan_ignite.trainer import Trainer


@dataclass(frozen=True)
class Config(DCGANConfig):
    # Small batches and a brisk learning rate: digit shapes appear within 2 epochs of the
    # 1,797-image digits set (about 220 steps); with 32 / 2e-4 they take about 4 times longer.
    epochs: int = option(10, "number of training epochs")
    batch_size: int = option(16, "images per batch")
    lr: float = option(5e-4, "Adam learning rate (of both networks unless --lr-dis)")
    loss: str = option("gan", "gan (non-saturating), minimax, hinge, wgan-gp or lsgan",
                       one_of("gan", "minimax", "hinge", "wgan-gp", "lsgan"))


def build(config: Config) -> Trainer:
    gen, dis = dcgan_models(config)
    return gan_trainer(config, dataset_from_config(config), gen, dis, get_loss(config.loss))


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> None:
    run_experiment(build, parse_config(Config, argv, description=__doc__, prog=prog))


if __name__ == "__main__":
    main()
