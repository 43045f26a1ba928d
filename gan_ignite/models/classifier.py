"""Small image classifiers whose penultimate layer serves as a domain feature space.

FID and KID compare feature statistics; Inception-v3 features are the standard, but
Inception knows nothing of handwritten digits and needs weights that cannot be
downloaded here. A small classifier trained on the real training split of the dataset
sees exactly what matters for that domain (stroke shapes, digit identity), so its
penultimate activations make a sharp, cheap feature space, and its class
probabilities give the Inception-style score and the class coverage.

Both networks expose ``features(x) -> (N, F)`` and ``forward(x) -> (N, K)`` logits, with
``F = num_features``. A :class:`SmallResNet` built with ``num_classes=0`` has no classes
at all: the feature network of a self-supervised extractor
(:mod:`gan_ignite.self_supervised`), whose ``forward`` gives (N, 0) logits.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["LeNet", "SmallResNet", "NoClasses", "CLASSIFIERS"]


class LeNet(nn.Module):
    """A LeNet-5-like network for grey 28 or 32 px images (MNIST, Fashion-MNIST, digits).

    Two 5x5 convolution + max-pool stages (32 and 64 maps), a ``num_features``-unit
    hidden layer (the feature space) and a linear classifier. Reaches about 99% on the
    MNIST test split after a few epochs.

    Args:
        channels: input channels (1 for the digit sets).
        image_size: input side; 28 or 32 (any size the two poolings divide works).
        num_classes: K, the number of classes.
        num_features: F, width of the penultimate layer.
    """

    def __init__(self, channels: int = 1, image_size: int = 28, num_classes: int = 10, num_features: int = 128):
        super().__init__()
        self.num_features = num_features
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * (image_size // 4) ** 2, num_features), nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(num_features, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """(N, C, S, S) normalised images -> (N, F) penultimate activations."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.features(x)))


class NoClasses(nn.Module):
    """The head of a network without classes: (N, F) features -> (N, 0) logits.

    Like ``nn.Identity`` it holds no parameters, so the network's state dict is its
    body's alone; unlike it, the output has no columns, so that code reading class
    logits (or softmax probabilities) gets none instead of the features.
    """

    def forward(self, features: Tensor) -> Tensor:
        return features.new_zeros(features.shape[0], 0)


class _Block(nn.Module):
    """A pre-activation residual block (He et al. 2016), optionally halving the size."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(c_in), nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(c_out), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = (
            nn.Conv2d(c_in, c_out, 1, stride, bias=False) if stride != 1 or c_in != c_out else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.bn1(x))
        skip = x if isinstance(self.shortcut, nn.Identity) else self.shortcut(h)
        return skip + self.conv2(torch.relu(self.bn2(self.conv1(h))))


class SmallResNet(nn.Module):
    """A small residual network for colour 32 px images (CIFAR-10, image folders).

    A 3x3 stem, three stages of two pre-activation blocks (``width``, 2x, 4x maps;
    32, 16, 8 px), global average pooling to ``4 * width`` features and a linear classifier.

    Args:
        channels: input channels (3 for colour).
        image_size: input side (unused by the layers: the pooling is global; kept for a
            uniform constructor).
        num_classes: K, the number of classes; 0 for no classes: ``head`` is then
            :class:`NoClasses` (no parameters, (N, 0) logits), as a self-supervised
            feature network has. Files of networks with classes load as before.
        width: maps of the first stage; F = ``4 * width``.
    """

    def __init__(self, channels: int = 3, image_size: int = 32, num_classes: int = 10, width: int = 32):
        super().__init__()
        self.num_features = 4 * width
        stages, c_in = [], width
        for c_out, stride in ((width, 1), (2 * width, 2), (4 * width, 2)):
            stages += [_Block(c_in, c_out, stride), _Block(c_out, c_out, 1)]
            c_in = c_out
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, 1, 1, bias=False),
            *stages,
            nn.BatchNorm2d(c_in), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        # nn.Linear(F, 0) would warn that initialising an empty weight does nothing.
        self.head = nn.Linear(self.num_features, num_classes) if num_classes else NoClasses()

    def features(self, x: Tensor) -> Tensor:
        """(N, C, S, S) normalised images -> (N, F) globally pooled activations."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


# Architecture names as saved in an extractor file; loading looks them up here, so a
# file can only ever build one of these classes.
CLASSIFIERS: dict[str, type[nn.Module]] = {"lenet": LeNet, "resnet": SmallResNet}
