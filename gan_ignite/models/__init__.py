"""Generator and discriminator networks.

Every generator maps noise (N, z_dim) to images (N, C, S, S) in [-1, 1]; every discriminator
maps images to its outputs and has ``features(x) -> (N, F)``, the activation before its last
layer. The outputs are logits (N,) for the DCGAN and MLP discriminators ((N, K) for a
K-class DCGAN discriminator), and ``EnergyOutput(energy (N,), codes (N, D))`` for EBGAN's
autoencoder.
"""

from gan_ignite.models.dcgan import (
    MINIBATCH_LAYERS,
    SUPPORTED_IMAGE_SIZES,
    DCGANDiscriminator,
    DCGANGenerator,
    check_image_size,
)
from gan_ignite.models.ebgan import EBGANDiscriminator
from gan_ignite.models.layers import (
    MinibatchDiscrimination,
    MinibatchStdDev,
    apply_spectral_norm,
    init_dcgan_weights,
    init_fan_in_weights,
)
from gan_ignite.models.mlp import MLPDiscriminator, MLPGenerator

__all__ = [
    "MINIBATCH_LAYERS",
    "SUPPORTED_IMAGE_SIZES",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "EBGANDiscriminator",
    "MLPDiscriminator",
    "MLPGenerator",
    "MinibatchDiscrimination",
    "MinibatchStdDev",
    "apply_spectral_norm",
    "check_image_size",
    "init_dcgan_weights",
    "init_fan_in_weights",
]
