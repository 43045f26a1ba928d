"""Building blocks shared by the convolutional GAN models.

A DCGAN is a stack of identical stages: the generator doubles the spatial size with a
transposed convolution per stage, the discriminator halves it with a strided convolution
per stage. The blocks here are those stages, plus the weight initialisation of the DCGAN
paper (Radford et al., 2016, section 4: "all weights were initialized from a zero-centered
Normal distribution with standard deviation 0.02").
"""

from __future__ import annotations

from torch import nn

from gan_ignite.errors import UsageError

__all__ = ["check_positive", "down_block", "init_dcgan_weights", "up_block"]

# Layers whose weight is a plain linear map: N(0, 0.02) in the DCGAN paper.
_LINEAR_TYPES = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)
_BATCH_NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def check_positive(name: str, value: int) -> int:
    """Return ``value`` if it is a positive integer, else raise :class:`UsageError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UsageError(f"Argument `{name}` should be a positive integer, but given {value!r}")
    return value


def up_block(in_channels: int, out_channels: int, *, batch_norm: bool = True) -> nn.Sequential:
    """One generator stage: (N, in, H, W) -> (N, out, 2H, 2W).

    ``ConvTranspose2d(kernel 4, stride 2, padding 1)`` doubles the size exactly
    ((H - 1) * 2 - 2 + 4 = 2H), then batch norm (optional) and ReLU. The convolution has
    no bias when batch norm follows, since the norm's shift would cancel it.
    """
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=not batch_norm)
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def down_block(in_channels: int, out_channels: int, *, batch_norm: bool = True) -> nn.Sequential:
    """One discriminator stage: (N, in, H, W) -> (N, out, H/2, W/2).

    ``Conv2d(kernel 4, stride 2, padding 1)`` halves an even size, then batch norm
    (optional) and LeakyReLU(0.2), the DCGAN paper's choice for the discriminator.
    """
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=not batch_norm)
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def init_dcgan_weights(module: nn.Module) -> nn.Module:
    """Initialise ``module`` and all its submodules as in the DCGAN paper, in place.

    Convolution, transposed convolution and linear weights are drawn from N(0, 0.02);
    batch norm scales from N(1, 0.02); every bias is zero. Other layers are left alone.
    The function walks ``module.modules()`` itself, so ``init_dcgan_weights(gen)`` is
    enough; ``gen.apply(init_dcgan_weights)`` also works (it only redraws more often).

    Args:
        module: the model (or a single layer) to initialise.

    Returns:
        ``module``, for chaining.
    """
    for layer in module.modules():
        if isinstance(layer, _LINEAR_TYPES):
            nn.init.normal_(layer.weight, 0.0, 0.02)
        elif isinstance(layer, _BATCH_NORM_TYPES) and layer.affine:
            nn.init.normal_(layer.weight, 1.0, 0.02)
        else:
            continue
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    return module
