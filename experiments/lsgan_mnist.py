"""LSGAN (Mao et al. 2017) on MNIST-like data: the DCGAN networks with least-squares losses.

The discriminator outputs raw scores; D pulls real scores to ``b`` and fake ones to
``a``, G pulls fake scores to ``c``. ``--a 0 --b 1 --c 1`` (default) or the paper's other
setting ``--a -1 --b 1 --c 0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gan_ignite.cli import run_experiment
from gan_ignite.config import DCGANConfig, option, parse_config
from gan_ignite.losses import LSGANLoss
from gan_ignite.recipes import dataset_from_config, dcgan_models, gan_trainer
from gan_ignite.trainer import Trainer


@dataclass(frozen=True)
class Config(DCGANConfig):
    epochs: int = option(10, "number of training epochs")
    batch_size: int = option(16, "images per batch")
    lr: float = option(5e-4, "Adam learning rate (of both networks unless --lr-dis)")
    a: float = option(0.0, "target score of generated images for D")
    b: float = option(1.0, "target score of real images for D")
    c: float = option(1.0, "target score G wants D to give its images")


def build(config: Config) -> Trainer:
    gen, dis = dcgan_models(config)
    return gan_trainer(config, dataset_from_config(config), gen, dis, LSGANLoss(a=config.a, b=config.b, c=config.c))


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> None:
    run_experiment(build, parse_config(Config, argv, description=__doc__, prog=prog))


if __name__ == "__main__":
    main()
