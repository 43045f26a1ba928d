"""Sample grids: the generator's images from one fixed noise, saved every epoch.

The Chainer articles' ``out_generated_image``: the same noise every time, so successive
grids show how the generator's mapping evolves rather than a new random draw. The noise
comes from its own seeded ``torch.Generator``, never from the global RNGs the training
draws from, and is checkpointed with the extension. Sampling runs under ``no_grad`` in
eval mode and restores the generator's previous mode.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from gan_ignite.extensions.extension import PRIORITY_WRITER, Extension
from gan_ignite.run_dir import IMAGES, SAMPLE_GRID_FILE, write_atomic

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["SampleGrid", "generate", "sample_batches", "inference", "save_grid"]


@contextlib.contextmanager
def inference(module: nn.Module) -> Iterator[None]:
    """Run ``module`` under ``no_grad`` in eval mode, then restore its previous mode.

    What every extension that looks at a network needs: batch norm on its running
    statistics, no autograd graph, and training resuming exactly as it was.
    """
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)


def save_grid(trainer: Trainer, grid: torch.Tensor, name: str, filename: str) -> None:
    """Publish a (3, H, W) grid in ``trainer.images[name]`` and save it as ``out/images/filename``.

    ``filename`` is a pattern; ``{epoch}`` and ``{iteration}`` are filled in.
    """
    from torchvision.utils import save_image

    trainer.images[name] = grid
    state = trainer.engine.state
    path = trainer.out / IMAGES / filename.format(epoch=state.epoch, iteration=state.iteration)
    write_atomic(path, lambda f: save_image(grid, f, format="png"))


def generate(gen: nn.Module, noise: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Images ``gen(noise)`` in eval mode under ``no_grad``, restoring ``gen``'s mode.

    Args:
        gen: the generator.
        noise: (N, z_dim) noise on ``gen``'s device.
        batch_size: how many images per forward pass.

    Returns:
        (N, C, H, W) images on the CPU.
    """
    with inference(gen):
        return torch.cat([gen(chunk).float().cpu() for chunk in noise.split(batch_size)])


def sample_batches(
    gen: nn.Module, z_dim: int, n: int, batch_size: int, seed: int, device: str | torch.device = "cpu"
) -> Iterator[torch.Tensor]:
    """``n`` images of ``gen`` in batches, from noise of an own RNG seeded with ``seed``.

    The same seed draws the same noise every time (for every run compared, every
    evaluation of one run), and the global RNGs training draws from stay untouched.
    """
    rng = torch.Generator().manual_seed(seed)
    for start in range(0, n, batch_size):
        noise = torch.randn(min(batch_size, n - start), z_dim, generator=rng)
        yield generate(gen, noise.to(device))


class SampleGrid(Extension):
    """Saves ``images/epoch_0001.png``-style grids of the generator's samples.

    The grid tensor (3, H, W) in [0, 1] is also put in ``trainer.images[name]`` for
    readers such as the TensorBoard extension.

    Args:
        gen: the generator.
        z_dim: size of its noise vector.
        n: number of samples (a square number makes a square grid).
        seed: seed of the fixed noise.
        device: where the generator lives.
        filename: file name pattern inside ``out/images``; ``{epoch}`` and
            ``{iteration}`` are filled in.
        name: key in ``trainer.images``.
    """

    trigger = (1, "epoch")
    priority = PRIORITY_WRITER
    name = "SampleGrid"

    def __init__(
        self,
        gen: nn.Module,
        z_dim: int,
        n: int = 64,
        seed: int = 0,
        device: str | torch.device = "cpu",
        filename: str = SAMPLE_GRID_FILE,
        name: str = "samples",
    ) -> None:
        self.gen = gen
        self.device = torch.device(device)
        self.noise = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))
        self.filename = filename
        self.image_name = name
        self.nrow = max(1, round(math.sqrt(n)))

    def __call__(self, trainer: Trainer) -> None:
        from torchvision.utils import make_grid

        images = generate(self.gen, self.noise.to(self.device))
        # Generators end in tanh: map [-1, 1] to [0, 1] for display.
        grid = make_grid(images, nrow=self.nrow, normalize=True, value_range=(-1, 1), padding=2)
        save_grid(trainer, grid, self.image_name, self.filename)

    def state_dict(self) -> dict[str, Any]:
        return {"noise": self.noise}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.noise = state["noise"]
