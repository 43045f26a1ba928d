"""Building blocks shared by the convolutional GAN models.

A DCGAN is a stack of identical stages: the generator doubles the spatial size with a
transposed convolution per stage, the discriminator halves it with a strided convolution
per stage. The blocks here are those stages, plus the weight initialisation of the DCGAN
paper (Radford et al., 2016, section 4: "all weights were initialized from a zero-centered
Normal distribution with standard deviation 0.02") and, for networks without batch norm,
a fan-in scaled one (:func:`init_fan_in_weights`).

Two layers let the discriminator look at a whole batch instead of one image at a time,
so a generator that collapses to a few modes (a batch of near-identical samples) is
easy to spot: :class:`MinibatchDiscrimination` (Salimans et al., 2016) and
:class:`MinibatchStdDev` (Karras et al., 2018).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gan_ignite.errors import UsageError

__all__ = [
    "MinibatchDiscrimination",
    "MinibatchStdDev",
    "apply_spectral_norm",
    "check_positive",
    "down_block",
    "init_dcgan_weights",
    "init_fan_in_weights",
    "up_block",
]

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
_TRANSPOSED_TYPES = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
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


def init_fan_in_weights(module: nn.Module) -> nn.Module:
    """Initialise ``module``'s linear maps from N(0, 1/fan_in) (LeCun normal), in place.

    The DCGAN paper's N(0, 0.02) suits batch-normalised networks, whose norms rescale
    every activation. Without batch norm nothing does: a layer of fan-in 1,024 with
    weights of std 0.02 scales its input by sqrt(1024) * 0.02 = 0.64, and the ReLU after
    it by another 0.71, so the 32x32 generator's images start with a spread of 0.003 (real
    CIFAR-10: about 0.5) and its gradients are as small: D wins and the samples collapse
    before G has learnt anything. With variance 1/fan_in each layer keeps its input's
    scale (a ReLU halves the variance), as Chainer's default initializer (LeCun normal)
    did for the articles' networks without batch norm. The fan-in is the number of
    inputs each output sums: ``in * k * k`` for a convolution, ``in * k * k / stride**2``
    for a transposed one (each output sees one kernel tap in ``stride`` per dimension),
    ``in_features`` for a linear layer. Every bias is zero; other layers are left alone.

    Args:
        module: the model (or a single layer) to initialise.

    Returns:
        ``module``, for chaining.
    """
    for layer in module.modules():
        if not isinstance(layer, _LINEAR_TYPES):
            continue
        fan_in = layer.weight[0].numel()  # Linear: in_features; Conv: in * prod(kernel)
        if isinstance(layer, _TRANSPOSED_TYPES):
            taps = math.prod(layer.kernel_size) / math.prod(layer.stride)
            fan_in = layer.in_channels // layer.groups * taps
        nn.init.normal_(layer.weight, 0.0, 1.0 / math.sqrt(fan_in))
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    return module


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectrally normalise every convolution and linear layer of ``module``, in place.

    Uses PyTorch's parametrization (``torch.nn.utils.parametrizations.spectral_norm``):
    each forward pass in training mode runs one power iteration and divides the weight
    by its largest singular value; the iteration vectors are buffers, so they are saved
    and restored with the model's state. Call it after initialising the weights: the
    original weight becomes ``layer.parametrizations.weight.original``.

    Returns:
        ``module``, for chaining.
    """
    for layer in list(module.modules()):
        if isinstance(layer, _LINEAR_TYPES):
            spectral_norm(layer)
    return module


class MinibatchDiscrimination(nn.Module):
    """Features (N, in_features) -> (N, in_features + num_kernels): each row's closeness to the others.

    Salimans et al., "Improved Techniques for Training GANs" (2016), section 3.2. A
    learned tensor ``T`` (in_features, num_kernels, kernel_dim) maps each row ``f_i`` to
    a matrix ``M_i = f_i T`` (num_kernels, kernel_dim). For every kernel ``b`` the layer
    measures how close row ``i`` is to the rest of the batch,

        c_b(x_i) = sum over j != i of exp(-||M_i,b - M_j,b||_1),

    and appends ``c(x_i)`` (num_kernels,) to the row's features. A collapsed generator
    makes batches whose rows are all close (``c_b`` near N - 1), which real batches are
    not, so the discriminator can tell them apart.

    The pairwise distances are one broadcast (N, N, num_kernels, kernel_dim) tensor, so
    memory grows with N**2; that is fine for the batch sizes GANs train with.

    Args:
        in_features: size of the incoming feature vectors.
        num_kernels: number of closeness statistics ``B`` appended per row.
        kernel_dim: size ``C`` of each kernel's projection.
    """

    def __init__(self, in_features: int, num_kernels: int = 100, kernel_dim: int = 5) -> None:
        super().__init__()
        self.in_features = check_positive("in_features", in_features)
        self.num_kernels = check_positive("num_kernels", num_kernels)
        self.kernel_dim = check_positive("kernel_dim", kernel_dim)
        self.T = nn.Parameter(torch.empty(in_features, num_kernels * kernel_dim))
        # std 1/sqrt(in_features) keeps M at the scale of the input features whatever
        # their number, so exp(-L1) starts neither all 1 nor all 0. A plain Parameter,
        # not a Linear, so init_dcgan_weights' N(0, 0.02) does not shrink it.
        nn.init.normal_(self.T, 0.0, 1.0 / math.sqrt(in_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in_features) -> (N, in_features + num_kernels)."""
        m = (x @ self.T).view(-1, self.num_kernels, self.kernel_dim)  # (N, B, C)
        distances = (m.unsqueeze(1) - m.unsqueeze(0)).abs().sum(3)  # (N, N, B)
        # Mask the diagonal rather than subtract exp(0) = 1 from the sum: exact, and
        # no cancellation when the other terms are tiny.
        others = 1.0 - torch.eye(len(x), device=x.device, dtype=x.dtype)
        closeness = (torch.exp(-distances) * others.unsqueeze(2)).sum(1)  # (N, B)
        return torch.cat([x, closeness], dim=1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_kernels={self.num_kernels}, kernel_dim={self.kernel_dim}"


class MinibatchStdDev(nn.Module):
    """Maps (N, C, H, W) -> (N, C + 1, H, W): appends the batch's spread as one feature map.

    Karras et al., "Progressive Growing of GANs" (2018), section 3. The batch is split
    into groups of ``G`` consecutive samples; within each group the layer takes the
    standard deviation of every feature at every position, averages it over (C, H, W)
    to one number, and appends that number as a constant extra map to each sample of
    the group. Generated batches with too little variety get a visibly small value.

    Groups are consecutive samples, so a joint batch ``[real; fake]`` whose halves are
    multiples of ``G`` never mixes real and generated images in one group. When N is
    not a multiple of ``group_size``, ``G`` is the largest divisor of N not above
    ``group_size`` (N = 6, group_size = 4: groups of 3); if that divisor is 1 (N a
    prime above ``group_size``) the whole batch is one group, since a group of one
    has no spread to measure. The deviation is the population one (divide by G) with
    1e-8 under the square root, as in the paper, so a batch of one gives 1e-4.

    Args:
        group_size: the largest number of samples per group.
    """

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = check_positive("group_size", group_size)

    def group(self, n: int) -> int:
        """The group size ``G`` used for a batch of ``n`` samples."""
        g = max(d for d in range(1, min(self.group_size, n) + 1) if n % d == 0)
        return n if g == 1 else g

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) -> (N, C + 1, H, W)."""
        n, _, h, w = x.shape
        g = self.group(n)
        groups = x.reshape(n // g, g, -1)  # (N/G, G, C*H*W)
        std = torch.sqrt(groups.var(dim=1, correction=0) + 1e-8)  # (N/G, C*H*W)
        stat = std.mean(dim=1).repeat_interleave(g)  # (N,): each group's value, per sample
        return torch.cat([x, stat.view(n, 1, 1, 1).expand(n, 1, h, w)], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"
