"""The EBGAN discriminator: an autoencoder whose reconstruction error is the energy.

Zhao, Mathieu and LeCun, "Energy-based Generative Adversarial Network" (ICLR 2017). The
discriminator is an autoencoder, and its *energy* of an image is how badly it
reconstructs it: low on real data, which it learns to reconstruct, and pushed up to a
margin on generated data (the margin loss in :mod:`gan_ignite.losses`). The generator
wins by making images the autoencoder reconstructs as well as real ones. The encoder's
codes of a generated batch feed the pull-away term, which keeps those codes from all
pointing the same way, so :meth:`EBGANDiscriminator.forward` returns them with the energy.

Architecture, for ``image_size`` S and ``feature_maps`` fm::

    encoder   the DCGAN discriminator's strided stages down to the base map,
              flattened, then a linear map to the code (N, code_dim)
    decoder   a DCGAN generator from the code: linear to the base map,
              transposed-convolution stages, tanh -> (N, C, S, S)

The linear bottleneck matters: the base map alone is larger than the image (2fm x 7 x 7 =
6272 values for a 28 x 28 image at fm = 64), and an autoencoder that wide can learn to copy
anything, generated images included, which makes the energy uninformative. The decoder
ends in ``tanh`` rather than a linear layer because the images it reconstructs lie in
[-1, 1] (datasets are scaled so, generators end in ``tanh``): reconstructions stay in the
data's range and display like samples. Each pixel's error is then at most 2, so the
energy lies in [0, 4]; a margin must be below 4 to be reachable.
"""

from __future__ import annotations

import torch
from torch import nn

from gan_ignite.losses import EnergyOutput
from gan_ignite.models.dcgan import DCGANGenerator, check_image_size, down_stages
from gan_ignite.models.layers import check_positive, init_dcgan_weights
from gan_ignite.models.layout import LayoutFlatten

__all__ = ["EBGANDiscriminator"]


class EBGANDiscriminator(nn.Module):
    """Images (N, channels, image_size, image_size) -> ``EnergyOutput(energy (N,), codes (N, code_dim))``.

    ``energy[i]`` is the mean squared reconstruction error of image ``i`` over its
    C x S x S pixels; ``codes`` are the encoder's outputs, the vectors the pull-away term
    compares. :meth:`features` returns the codes too, so feature matching works with this
    discriminator like with the others.

    Args:
        image_size: side of the square input, one of 16, 28, 32, 64.
        channels: image channels.
        feature_maps: channels of the encoder's first stage (and the decoder's last
            hidden stage); the others double.
        code_dim: size of the code, the autoencoder's bottleneck.
        batch_norm: whether hidden layers are batch-normalised (not the encoder's first,
            which sees raw pixels, as in the DCGAN discriminator).
    """

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        feature_maps: int = 64,
        code_dim: int = 32,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.image_size = check_image_size(image_size)
        self.channels = check_positive("channels", channels)
        self.code_dim = self.feature_dim = check_positive("code_dim", code_dim)
        stages, flat = down_stages(image_size, channels, feature_maps, batch_norm)
        self.encoder = nn.Sequential(*stages, LayoutFlatten(), nn.Linear(flat, code_dim))
        self.decoder = DCGANGenerator(code_dim, image_size, channels, feature_maps, batch_norm)
        init_dcgan_weights(self)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, S, S) images -> (N, code_dim) codes."""
        return self.encoder(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, S, S) images -> (N, code_dim) codes (the feature-matching vector)."""
        return self.encoder(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, S, S) images -> (N, C, S, S) reconstructions in [-1, 1]."""
        return self.decoder(self.encoder(x))

    def forward(self, x: torch.Tensor) -> EnergyOutput:
        """x: (N, C, S, S) images -> ``EnergyOutput(energy (N,), codes (N, code_dim))``."""
        codes = self.encoder(x)
        error = self.decoder(codes) - x
        return EnergyOutput(error.pow(2).flatten(1).mean(1), codes)
