"""Reconstruction grids: what an autoencoder discriminator (EBGAN) makes of fixed real images.

EBGAN's discriminator is an autoencoder whose energy is its reconstruction error, so its
reconstructions show what it has learnt of the data: blurry early on, sharp once real
images get low energy. Each epoch this extension saves one picture of a fixed batch of
real images above their reconstructions, at the same grid positions. The images are
chosen once and checkpointed with the extension, so successive pictures compare the
same inputs. Reconstructing runs under ``no_grad`` in eval mode and restores the
discriminator's previous mode, through :func:`~gan_ignite.extensions.images.inference`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from gan_ignite.errors import UsageError
from gan_ignite.extensions.extension import PRIORITY_WRITER, Extension
from gan_ignite.extensions.images import inference, save_grid
from gan_ignite.run_dir import RECONSTRUCTION_FILE

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["ReconstructionGrid"]


class ReconstructionGrid(Extension):
    """Saves ``images/reconstruction_0001.png``-style pictures: real images over their reconstructions.

    The picture is two grids of ``nrow`` columns stacked vertically: the N real images
    (top rows) and ``dis.reconstruct`` of them (bottom rows), each image in [-1, 1] shown
    as [0, 1]. ``nrow`` is about ``sqrt(2N)``, so the whole picture is about square. The
    picture (3, H, W) is also put in ``trainer.images[name]`` for TensorBoard.

    Args:
        dis: the autoencoder discriminator, with ``reconstruct((N, C, H, W)) -> (N, C, H, W)``.
        images: (N, C, H, W) real images in [-1, 1], kept on the CPU.
        device: where ``dis`` lives.
        filename: file name pattern inside ``out/images``; ``{epoch}`` and
            ``{iteration}`` are filled in.
        name: key in ``trainer.images``.
    """

    trigger = (1, "epoch")
    priority = PRIORITY_WRITER
    name = "ReconstructionGrid"

    def __init__(
        self,
        dis: nn.Module,
        images: torch.Tensor,
        device: str | torch.device = "cpu",
        filename: str = RECONSTRUCTION_FILE,
        name: str = "reconstructions",
    ) -> None:
        if not callable(getattr(dis, "reconstruct", None)):
            raise UsageError(
                "Argument `dis` should be an autoencoder discriminator with a `reconstruct` method "
                f"(e.g. EBGANDiscriminator), but given {type(dis).__name__}"
            )
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or not len(images):
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise UsageError(f"Argument `images` should be a non-empty (N, C, H, W) tensor, but given {shape}")
        self.dis = dis
        self.images = images.detach().cpu().clone()
        self.device = torch.device(device)
        self.filename = filename
        self.image_name = name

    @property
    def nrow(self) -> int:
        """Columns of each half of the picture."""
        return max(1, round(math.sqrt(2 * len(self.images))))

    def __call__(self, trainer: Trainer) -> None:
        save_grid(trainer, self.grid(), self.image_name, self.filename)

    def grid(self) -> torch.Tensor:
        """(3, H, W) in [0, 1]: the real images' grid above the reconstructions' grid."""
        from torchvision.utils import make_grid

        with inference(self.dis):
            reconstructions = self.dis.reconstruct(self.images.to(self.device)).float().cpu()
        halves = [
            make_grid(batch.float(), nrow=self.nrow, normalize=True, value_range=(-1, 1), padding=2)
            for batch in (self.images, reconstructions)
        ]
        return torch.cat(halves, dim=1)

    def state_dict(self) -> dict[str, Any]:
        return {"images": self.images}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.images = state["images"]
