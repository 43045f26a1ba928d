"""EBGAN (Zhao et al. 2017) on MNIST-like data, with the pull-away term.

The discriminator is an autoencoder whose energy is its reconstruction error: it lowers
the energy of real images and pushes generated ones above a margin; the generator lowers
the energy of its images plus λ times the pull-away term, which penalises codes of a
batch that point the same way (a mode-collapse guard). ``--no-pt`` trains without it
(``gen/pull_away`` is still logged, to compare). Each epoch also saves the
discriminator's reconstructions of a fixed batch of real images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from gan_ignite.cli import run_experiment
from gan_ignite.config import DCGANConfig, option, parse_config
from gan_ignite.distributed import is_main_process
from gan_ignite.options import POSITIVE
from gan_ignite.extensions import ReconstructionGrid
from gan_ignite.losses import EBGANLoss
from gan_ignite.models import EBGANDiscriminator
from gan_ignite.recipes import dataset_from_config, dcgan_models, gan_trainer
from gan_ignite.trainer import Trainer


@dataclass(frozen=True)
class Config(DCGANConfig):
    epochs: int = option(10, "number of training epochs")
    batch_size: int = option(16, "images per batch")
    lr: float = option(5e-4, "Adam learning rate (of both networks unless --lr-dis)")
    margin: float = option(EBGANLoss.DEFAULT_MARGIN, "energy margin m of generated images")
    pt: bool = option(True, "pull-away term in the generator loss (--no-pt to compare)")
    pt_weight: float = option(0.1, "weight of the pull-away term (the paper's 0.1)")
    n_reconstructions: int = option(16, "real images whose reconstructions are saved each epoch", POSITIVE)


def build(config: Config) -> Trainer:
    gen, dis = dcgan_models(config, discriminator=EBGANDiscriminator)
    dataset = dataset_from_config(config)
    loss = EBGANLoss(margin=config.margin, pt_weight=config.pt_weight if config.pt else 0.0)
    trainer = gan_trainer(config, dataset, gen, dis, loss)
    n = min(config.n_reconstructions, len(dataset))
    real = torch.stack([dataset[i][0] for i in range(n)])
    if is_main_process():  # it writes the run directory
        trainer.extend(ReconstructionGrid(dis, real, device=config.resolved_device()))
    return trainer


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> None:
    run_experiment(build, parse_config(Config, argv, description=__doc__, prog=prog))


if __name__ == "__main__":
    main()
