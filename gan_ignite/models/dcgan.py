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
form (``binary_cross_entropy_with_logits``). Options of the discriminator add a minibatch
layer (``minibatch=``) or K class logits for semi-supervised training (``num_classes=``),
or make it the spectrally normalised SN-GAN discriminator (``spectral_norm=True``);
``fc_units=`` adds InfoGAN's fully connected hidden layer to either network.
"""

from __future__ import annotations

import torch
from torch import nn

from gan_ignite.errors import UsageError
from gan_ignite.models.layers import (
    MinibatchDiscrimination,
    MinibatchStdDev,
    apply_spectral_norm,
    check_positive,
    down_block,
    init_dcgan_weights,
    init_fan_in_weights,
    up_block,
)
from gan_ignite.models.layout import LayoutFlatten, keep_gradient_layout_at_input

__all__ = [
    "MINIBATCH_LAYERS",
    "SUPPORTED_IMAGE_SIZES",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "check_image_size",
    "check_minibatch",
    "down_stages",
    "feature_plan",
]

SUPPORTED_IMAGE_SIZES = (16, 28, 32, 64)
# Values of DCGANDiscriminator's ``minibatch`` option besides None.
MINIBATCH_LAYERS = ("discrimination", "stddev")


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
    transposed convolution to the image channels with ``tanh``. With ``fc_units``, the
    projection is preceded by a fully connected hidden layer: the two-layer projection of
    the InfoGAN MNIST generator (Chen et al., 2016), which Lucic et al. (2018) took as the
    standard MNIST architecture; it lets the generator lay out a whole digit before the
    convolutions draw its strokes.

    Args:
        z_dim: size of the noise vector.
        image_size: side of the square output, one of :data:`SUPPORTED_IMAGE_SIZES`.
        channels: image channels (1 grey, 3 colour).
        feature_maps: channels of the last hidden stage; earlier ones double.
        batch_norm: whether hidden layers are batch-normalised.
        fc_units: if positive, a fully connected hidden layer of this many units between
            the noise and the projection (InfoGAN's MNIST generator uses 1024).
    """

    def __init__(
        self,
        z_dim: int = 100,
        image_size: int = 28,
        channels: int = 1,
        feature_maps: int = 64,
        batch_norm: bool = True,
        fc_units: int = 0,
    ) -> None:
        super().__init__()
        self.z_dim = check_positive("z_dim", z_dim)
        self.image_size = check_image_size(image_size)
        self.channels = check_positive("channels", channels)
        base, hidden = feature_plan(image_size, check_positive("feature_maps", feature_maps))
        project = _fc_block(z_dim, fc_units, nn.ReLU(inplace=True), batch_norm) if fc_units else []
        project += [
            nn.Linear(fc_units or z_dim, hidden[0] * base * base, bias=not batch_norm),
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
        (init_dcgan_weights if batch_norm else init_fan_in_weights)(self)
        # Where Unflatten's ordinary layout meets the convolutions' (gan_ignite.models.layout).
        keep_gradient_layout_at_input(next(m for m in self.net.modules() if isinstance(m, nn.ConvTranspose2d)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z: (N, z_dim) noise (or (N, z_dim, 1, 1)) -> (N, C, S, S) images in [-1, 1]."""
        return self.net(z.flatten(1))


class DCGANDiscriminator(nn.Module):
    """Images (N, channels, image_size, image_size) -> logits (N,), or (N, K) for K classes.

    One strided-convolution stage per halving (LeakyReLU 0.2; batch norm on all but the
    first unless ``batch_norm=False``) down to the base size, then a linear head.
    :meth:`features` exposes the flattened activation before the head, the feature
    vector that feature matching compares between real and generated batches.

    Two options let the discriminator see the whole batch, against mode collapse:
    ``minibatch="discrimination"`` puts a
    :class:`~gan_ignite.models.layers.MinibatchDiscrimination` between the features and
    the linear head (Salimans et al., 2016); ``minibatch="stddev"`` puts a
    :class:`~gan_ignite.models.layers.MinibatchStdDev` map before the last convolution
    stage (Karras et al., 2018, where it precedes the last block). :meth:`features` stays
    the per-image activation before the minibatch layer for ``"discrimination"``, so
    feature matching compares the same statistics with or without it.

    ``num_classes=K > 1`` makes the head give K logits, the semi-supervised
    discriminator of Salimans et al. (2016): K real classes plus a "generated" class
    whose logit is fixed at 0, so ``logsumexp`` over the K logits is the real-vs-fake
    logit. The losses interpret them; this class only shapes the output.

    ``spectral_norm=True`` builds the SN-GAN discriminator (Miyato et al., 2018): every
    convolution and linear layer is 1-Lipschitz (its weight divided by a power-iteration
    estimate of its largest singular value), and there is no batch norm, whose per-batch
    rescaling would undo that bound. A discriminator that cannot grow arbitrarily sharp
    gives the generator useful gradients for longer.

    Args:
        image_size: side of the square input, one of :data:`SUPPORTED_IMAGE_SIZES`.
        channels: image channels.
        feature_maps: channels of the first stage; later ones double.
        batch_norm: whether hidden layers after the first are batch-normalised.
        minibatch: ``None`` (per-image, the default), ``"discrimination"`` or ``"stddev"``.
        num_classes: outputs per image; 1 gives logits (N,), K > 1 gives (N, K).
        spectral_norm: divide every convolution and linear weight by its largest
            singular value (Miyato et al., 2018), in place of batch norm (a minibatch
            discrimination tensor is left as it is).
        fc_units: if positive, a fully connected hidden layer of this many units
            (LeakyReLU; batch norm as the other hidden layers) between the convolutions
            and the head, as in InfoGAN's MNIST discriminator; :meth:`features` then
            returns its activation.
    """

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        feature_maps: int = 64,
        batch_norm: bool = True,
        *,
        minibatch: str | None = None,
        num_classes: int = 1,
        spectral_norm: bool = False,
        fc_units: int = 0,
    ) -> None:
        super().__init__()
        self.image_size = check_image_size(image_size)
        self.channels = check_positive("channels", channels)
        self.minibatch = check_minibatch(minibatch)
        self.num_classes = check_positive("num_classes", num_classes)
        batch_norm = batch_norm and not spectral_norm
        stages, self.feature_dim = down_stages(
            image_size, channels, feature_maps, batch_norm, stddev=minibatch == "stddev"
        )
        stages.append(LayoutFlatten())
        if fc_units:
            stages += _fc_block(self.feature_dim, fc_units, nn.LeakyReLU(0.2, inplace=True), batch_norm)
            self.feature_dim = fc_units
        self.body = nn.Sequential(*stages)
        self.head = _head(self.feature_dim, num_classes, discrimination=minibatch == "discrimination")
        # Spectral norm divides every weight by its own scale, so the init's scale does not matter there.
        (init_dcgan_weights if batch_norm or spectral_norm else init_fan_in_weights)(self)
        if spectral_norm:
            apply_spectral_norm(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, S, S) images -> (N, feature_dim) penultimate activations."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, S, S) images -> (N,) logits, or (N, num_classes) (no sigmoid, no softmax)."""
        out = self.head(self.features(x))
        return out.squeeze(1) if self.num_classes == 1 else out


def _fc_block(in_features: int, units: int, activation: nn.Module, batch_norm: bool) -> list[nn.Module]:
    """A fully connected hidden layer: linear (no bias under batch norm), batch norm, activation."""
    if isinstance(units, bool) or not isinstance(units, int) or units < 0:
        raise UsageError(
            f"Argument `fc_units` should be zero (no such layer) or a positive integer, but given {units!r}"
        )
    layers: list[nn.Module] = [nn.Linear(in_features, units, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(units))
    return [*layers, activation]


def check_minibatch(minibatch: str | None) -> str | None:
    """Return ``minibatch`` if it names a minibatch layer (or is ``None``), else raise :class:`UsageError`."""
    if minibatch is not None and minibatch not in MINIBATCH_LAYERS:
        valid = ", ".join(["None", *map(repr, MINIBATCH_LAYERS)])
        raise UsageError(f"Argument `minibatch` should be one of {valid}, but given {minibatch!r}")
    return minibatch


def down_stages(
    image_size: int, channels: int, feature_maps: int, batch_norm: bool = True, *, stddev: bool = False
) -> tuple[list[nn.Module], int]:
    """The DCGAN discriminator's strided stages, (N, C, S, S) -> (N, F_c, base, base).

    Shared by :class:`DCGANDiscriminator` and the EBGAN encoder. With ``stddev``, a
    :class:`~gan_ignite.models.layers.MinibatchStdDev` precedes the last stage.

    Returns:
        ``(stages, feature_dim)``: the modules in order and the size of their flattened
        output ``F_c * base * base``.
    """
    base, hidden = feature_plan(image_size, check_positive("feature_maps", feature_maps))
    hidden = hidden[::-1]  # fm, 2fm, ... from the image down to the base (>= 2 stages)
    # The paper leaves the first layer without batch norm: it sees raw pixels.
    stages: list[nn.Module] = [down_block(channels, hidden[0], batch_norm=False)]
    stages += [down_block(i, o, batch_norm=batch_norm) for i, o in zip(hidden[:-2], hidden[1:-1])]
    if stddev:
        stages.append(MinibatchStdDev())
    stages.append(down_block(hidden[-2] + int(stddev), hidden[-1], batch_norm=batch_norm))
    return stages, hidden[-1] * base * base


def _head(feature_dim: int, num_classes: int, *, discrimination: bool) -> nn.Module:
    """The linear head, behind a minibatch discrimination layer when asked."""
    if not discrimination:
        return nn.Linear(feature_dim, num_classes)
    layer = MinibatchDiscrimination(feature_dim)
    return nn.Sequential(layer, nn.Linear(feature_dim + layer.num_kernels, num_classes))
