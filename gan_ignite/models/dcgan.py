"""DCGAN generator and discriminator for small square images (Radford et al., 2016).

The generator projects a noise vector to a small feature map (the *base*) and doubles
its size with transposed convolutions until it reaches the image size; the discriminator
mirrors it with strided convolutions back down to the base and a linear head:

    image_size   base    stages   generator channels (feature_maps = fm)
    16           4x4     2        2fm -> fm -> C
    28           7x7     2        2fm -> fm -> C      (Chainer's MNIST DCGAN)
    32           4x4     3        4fm -> 2fm -> fm -> C
    64           4x4     4        8fm -> 4fm -> 2fm -> fm -> C

Batch norm follows every hidden layer except the discriminator's first (as in the paper);
``batch_norm=False`` builds the plain variant (the CIFAR-10 article trained one). The
discriminator returns raw logits: the losses apply the sigmoid in a numerically stable
form (``binary_cross_entropy_with_logits``).
"""

from __future__ import annotations

import torch
from torch import nn

from gan_ignite.errors import UsageError
from gan_ignite.models.layers import check_positive, down_block, init_dcgan_weights, up_block

__all__ = [
    "SUPPORTED_IMAGE_SIZES",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "check_image_size",
    "feature_plan",
]

SUPPORTED_IMAGE_SIZES = (16, 28, 32, 64)


def check_image_size(image_size: int) -> int:
    """Return ``image_size`` if a DCGAN can make it, else raise :class:`UsageError`."""
    if isinstance(image_size, bool) or image_size not in SUPPORTED_IMAGE_SIZES:
        sizes = ", ".join(map(str, SUPPORTED_IMAGE_SIZES))
        raise UsageError(
            f"Argument `image_size` should be one of {sizes}, but given {image_size!r}; "
            "pass --image-size with one of them"
        )
    return image_size


def feature_plan(image_size: int, feature_maps: int) -> tuple[int, list[int]]:
    """The base size and the hidden channel counts of a DCGAN for ``image_size``.

    Returns:
        ``(base, channels)``: the side of the smallest feature map (7 for 28, else 4) and
        the channel counts from the base up, one per stage (``[8fm, 4fm, 2fm, fm]`` for
        64). The generator walks ``channels`` forwards, the discriminator backwards.
    """
    check_image_size(image_size)
    base = 7 if image_size == 28 else 4
    stages = (image_size // base).bit_length() - 1  # image_size == base * 2**stages
    return base, [feature_maps * 2 ** (stages - 1 - i) for i in range(stages)]


class DCGANGenerator(nn.Module):
    """Noise (N, z_dim) -> images (N, channels, image_size, image_size) in [-1, 1].

    A linear projection to ``channels[0] x base x base``, then one transposed-convolution
    stage per doubling (ReLU, batch norm unless ``batch_norm=False``), and a last
    transposed convolution to the image channels with ``tanh``.

    Args:
        z_dim: size of the noise vector.
        image_size: side of the square output, one of :data:`SUPPORTED_IMAGE_SIZES`.
        channels: image channels (1 grey, 3 colour).
        feature_maps: channels of the last hidden stage; earlier ones double.
        batch_norm: whether hidden layers are batch-normalised.
    """

    def __init__(
        self,
        z_dim: int = 100,
        image_size: int = 28,
        channels: int = 1,
        feature_maps: int = 64,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.z_dim = check_positive("z_dim", z_dim)
        self.image_size = check_image_size(image_size)
        self.channels = check_positive("channels", channels)
        base, hidden = feature_plan(image_size, check_positive("feature_maps", feature_maps))
        project: list[nn.Module] = [
            nn.Linear(z_dim, hidden[0] * base * base, bias=not batch_norm),
            nn.Unflatten(1, (hidden[0], base, base)),
        ]
        if batch_norm:
            project.append(nn.BatchNorm2d(hidden[0]))
        project.append(nn.ReLU(inplace=True))
        stages = [up_block(i, o, batch_norm=batch_norm) for i, o in zip(hidden, hidden[1:])]
        self.net = nn.Sequential(
            *project,
            *stages,
            nn.ConvTranspose2d(hidden[-1], channels, 4, stride=2, padding=1),
            nn.Tanh(),
        )
        init_dcgan_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z: (N, z_dim) noise (or (N, z_dim, 1, 1)) -> (N, C, S, S) images in [-1, 1]."""
        return self.net(z.flatten(1))


class DCGANDiscriminator(nn.Module):
    """Images (N, channels, image_size, image_size) -> logits (N,).

    One strided-convolution stage per halving (LeakyReLU 0.2; batch norm on all but the
    first unless ``batch_norm=False``) down to the base size, then a linear head.
    :meth:`features` exposes the flattened activation before the head, the feature
    vector that feature matching compares between real and generated batches.

    Args:
        image_size: side of the square input, one of :data:`SUPPORTED_IMAGE_SIZES`.
        channels: image channels.
        feature_maps: channels of the first stage; later ones double.
        batch_norm: whether hidden layers after the first are batch-normalised.
    """

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        feature_maps: int = 64,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.image_size = check_image_size(image_size)
        self.channels = check_positive("channels", channels)
        base, hidden = feature_plan(image_size, check_positive("feature_maps", feature_maps))
        hidden = hidden[::-1]  # fm, 2fm, ... from the image down to the base
        # The paper leaves the first layer without batch norm: it sees raw pixels.
        stages = [down_block(channels, hidden[0], batch_norm=False)]
        stages += [down_block(i, o, batch_norm=batch_norm) for i, o in zip(hidden, hidden[1:])]
        self.body = nn.Sequential(*stages, nn.Flatten())
        self.feature_dim = hidden[-1] * base * base
        self.head = nn.Linear(self.feature_dim, 1)
        init_dcgan_weights(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, S, S) images -> (N, feature_dim) penultimate activations."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, S, S) images -> (N,) logits (no sigmoid)."""
        return self.head(self.features(x)).squeeze(1)
