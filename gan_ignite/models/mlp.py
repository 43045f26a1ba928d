"""The small fully connected GAN of the Keras MNIST article.

Each network has a single hidden ``Dense(128)`` layer with LeakyReLU(0.01). The
generator maps noise to flattened pixels with ``tanh``; the discriminator maps flattened
pixels to one logit. Weights start as Keras' defaults (Glorot uniform, zero bias) so runs
match the article, not PyTorch's own ``Linear`` initialisation. No convolution is
involved, so any positive image size works.
"""

from __future__ import annotations

import torch
from torch import nn

from gan_ignite.models.layers import check_positive

__all__ = ["MLPDiscriminator", "MLPGenerator"]


def _init_keras_dense(module: nn.Module) -> None:
    """Glorot-uniform weights and zero biases, Keras' ``Dense`` defaults."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)


class MLPGenerator(nn.Module):
    """Noise (N, z_dim) -> images (N, channels, image_size, image_size) in [-1, 1].

    Args:
        z_dim: size of the noise vector.
        image_size: side of the square output (any positive size).
        channels: image channels.
        hidden: width of the hidden layer.
    """

    def __init__(
        self, z_dim: int = 100, image_size: int = 28, channels: int = 1, hidden: int = 128
    ) -> None:
        super().__init__()
        self.z_dim = check_positive("z_dim", z_dim)
        self.image_size = check_positive("image_size", image_size)
        self.channels = check_positive("channels", channels)
        self.net = nn.Sequential(
            nn.Linear(z_dim, check_positive("hidden", hidden)),
            nn.LeakyReLU(0.01),
            nn.Linear(hidden, channels * image_size * image_size),
            nn.Tanh(),
            nn.Unflatten(1, (channels, image_size, image_size)),
        )
        _init_keras_dense(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z: (N, z_dim) noise -> (N, C, S, S) images in [-1, 1]."""
        return self.net(z.flatten(1))


class MLPDiscriminator(nn.Module):
    """Images (N, channels, image_size, image_size) -> logits (N,).

    Args:
        image_size: side of the square input (any positive size).
        channels: image channels.
        hidden: width of the hidden layer; :meth:`features` returns its activation.
    """

    def __init__(self, image_size: int = 28, channels: int = 1, hidden: int = 128) -> None:
        super().__init__()
        self.image_size = check_positive("image_size", image_size)
        self.channels = check_positive("channels", channels)
        self.feature_dim = check_positive("hidden", hidden)
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * image_size * image_size, hidden),
            nn.LeakyReLU(0.01),
        )
        self.head = nn.Linear(hidden, 1)
        _init_keras_dense(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, S, S) images -> (N, hidden) hidden-layer activations."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, S, S) images -> (N,) logits (no sigmoid)."""
        return self.head(self.features(x)).squeeze(1)
