"""Generator and discriminator networks.

Every generator maps noise (N, z_dim) to images (N, C, S, S) in [-1, 1]; every discriminator maps images to logits (N,) and has
``features(x) -> (N, F)``, the activation before its last layer.
"""

from gan_ignite.models.dcgan import (
    SUPPORTED_IMAGE_SIZES,
    DCGANDiscriminator,
    DCGANGenerator,
    check_image_size,
)
from gan_ignite.models.layers import init_dcgan_weights
from gan_ignite.models.mlp import MLPDiscriminator, MLPGenerator

__all__ = [
    "SUPPORTED_IMAGE_SIZES",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "check_image_size",
    "init_dcgan_weights",
]
