"""DiffAugment: random differentiable transforms of every image the discriminator sees.

On a small dataset the discriminator memorises the real images within a few epochs: it
tells them from generated ones by their exact pixels, its verdict stops being
informative, and training collapses. Augmenting the real images alone would not help:
the generator would learn to produce the augmentations. Differentiable Augmentation
(Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training") applies
one random transform family ``T`` to *every* image D sees, real and generated, in the
discriminator step and in the generator step, so that D learns ``T(x)`` vs ``T(G(z))``
and G's gradient flows back through ``T``. The policies and their settings are those of
the official code (``mit-han-lab/data-efficient-gans``, ``DiffAugment_pytorch.py``):

    color        brightness ±0.5, saturation x[0, 2), contrast x[0.5, 1.5)   per image
    translation  shift by up to 1/8 of the side in each direction, zero fill
    cutout       zero a square of half the side, centred at random

Images are in [-1, 1], as in the official code, so the zero of translation and cutout is
mid-grey. Each transform is a pure function of its parameters (tested by hand) and
``rand_*`` draws the parameters, one per image, from torch's global RNG on the images'
device, which the checkpoint saves: a resumed run draws what the uninterrupted one did.
The draws go through a ``rows`` function (``(draw, n) -> n rows of draw's``) so that the
update step can take its process's rows of the global batch's draws
(:meth:`~gan_ignite.updaters.GANUpdater.sample_noise` does the same with the noise).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from gan_ignite.errors import UsageError

__all__ = [
    "DiffAugment", "parse_policy", "POLICIES", "translation_limit", "cutout_size",
    "brightness", "saturation", "contrast", "translate", "cut_out",
    "rand_brightness", "rand_saturation", "rand_contrast", "rand_translation", "rand_cutout",
]

Draw = Callable[[int], Tensor]
Rows = Callable[[Draw, int], Tensor]


def _all_rows(draw: Draw, n: int) -> Tensor:
    return draw(n)


def _per_image(values: Tensor) -> Tensor:
    """(N,) values -> (N, 1, 1, 1), to broadcast over an image batch."""
    return values.reshape(-1, 1, 1, 1)


# -- the transforms, pure functions of their parameters -----------------------------------
def brightness(x: Tensor, shift: Tensor) -> Tensor:
    """Add ``shift`` (N,) to every pixel of each image of ``x`` (N, C, H, W)."""
    return x + _per_image(shift).to(x.dtype)


def saturation(x: Tensor, factor: Tensor) -> Tensor:
    """Scale each pixel's deviation from its mean over the channels by ``factor`` (N,)."""
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * _per_image(factor).to(x.dtype) + mean


def contrast(x: Tensor, factor: Tensor) -> Tensor:
    """Scale each image's deviation from its mean (over channels and pixels) by ``factor`` (N,)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _per_image(factor).to(x.dtype) + mean


def translate(x: Tensor, shift: Tensor) -> Tensor:
    """Move each image of ``x`` (N, C, H, W) by ``shift`` (N, 2) whole pixels (rows, columns), zero fill.

    The pixel at ``(i, j)`` moves to ``(i + shift[n, 0], j + shift[n, 1])``; what comes in
    from beyond the border is 0. A gather, so the gradient reaches the pixels that stay.
    """
    n, _, h, w = x.shape
    rows = torch.arange(h, device=x.device).view(1, h, 1) - shift[:, 0].view(n, 1, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w) - shift[:, 1].view(n, 1, 1)
    # One pixel of zeros around the image; a source beyond the border reads it.
    padded = torch.nn.functional.pad(x, [1, 1, 1, 1])
    rows, cols = (rows + 1).clamp(0, h + 1), (cols + 1).clamp(0, w + 1)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cut_out(x: Tensor, centre: Tensor, size: tuple[int, int]) -> Tensor:
    """Zero a ``size`` (rows, columns) rectangle of each image, from ``centre - size // 2``, clipped to the image.

    Args:
        x: (N, C, H, W) images.
        centre: (N, 2) integer centres (row, column).
        size: the rectangle's height and width.
    """
    n, _, h, w = x.shape
    top = (centre[:, 0] - size[0] // 2).view(n, 1)
    left = (centre[:, 1] - size[1] // 2).view(n, 1)
    rows, cols = torch.arange(h, device=x.device).view(1, h), torch.arange(w, device=x.device).view(1, w)
    in_rows = (rows >= top) & (rows < top + size[0])
    in_cols = (cols >= left) & (cols < left + size[1])
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])
    return x * keep[:, None].to(x.dtype)


# -- the random transforms of DiffAugment ---------------------------------------------------
def _uniform(x: Tensor, rows: Rows) -> Tensor:
    """(N,) draws from [0, 1), in float32 whatever ``x``'s precision (the same numbers under --amp)."""
    return rows(lambda m: torch.rand(m, device=x.device), len(x))


def rand_brightness(x: Tensor, rows: Rows = _all_rows) -> Tensor:
    """Brightness shifted by U[-0.5, 0.5) per image."""
    return brightness(x, _uniform(x, rows) - 0.5)


def rand_saturation(x: Tensor, rows: Rows = _all_rows) -> Tensor:
    """Saturation scaled by U[0, 2) per image (no change on one-channel images: each pixel is its own mean)."""
    return saturation(x, _uniform(x, rows) * 2)


def rand_contrast(x: Tensor, rows: Rows = _all_rows) -> Tensor:
    """Contrast scaled by U[0.5, 1.5) per image."""
    return contrast(x, _uniform(x, rows) + 0.5)


def translation_limit(x: Tensor, ratio: float = 0.125) -> tuple[int, int]:
    """The largest shift (rows, columns) of :func:`rand_translation`: ``ratio`` of the side, rounded."""
    return int(x.shape[2] * ratio + 0.5), int(x.shape[3] * ratio + 0.5)


def rand_translation(x: Tensor, rows: Rows = _all_rows, ratio: float = 0.125) -> Tensor:
    """Translation by a uniform integer shift in ``[-limit, limit]`` per axis and image (:func:`translation_limit`)."""
    limit = torch.tensor(translation_limit(x, ratio), device=x.device)
    draw = rows(lambda m: torch.rand(m, 2, device=x.device), len(x))
    # floor(u * (2L + 1)) - L is uniform on -L..L; drawn as floats, for one draw per number.
    return translate(x, (draw * (2 * limit + 1)).floor().long() - limit)


def cutout_size(x: Tensor, ratio: float = 0.5) -> tuple[int, int]:
    """The rectangle of :func:`rand_cutout`: ``ratio`` of each side, rounded."""
    return int(x.shape[2] * ratio + 0.5), int(x.shape[3] * ratio + 0.5)


def rand_cutout(x: Tensor, rows: Rows = _all_rows, ratio: float = 0.5) -> Tensor:
    """Cutout of a :func:`cutout_size` rectangle centred uniformly at random, clipped to the image.

    As in the official code the centre ranges over ``0..H-1`` for an odd size and
    ``0..H`` for an even one, so that every pixel is cut as often as its mirror image.
    """
    size = cutout_size(x, ratio)
    span = torch.tensor([x.shape[2] + 1 - size[0] % 2, x.shape[3] + 1 - size[1] % 2], device=x.device)
    draw = rows(lambda m: torch.rand(m, 2, device=x.device), len(x))
    return cut_out(x, (draw * span).floor().long(), size)


POLICIES: dict[str, tuple[Callable[[Tensor, Rows], Tensor], ...]] = {
    "color": (rand_brightness, rand_saturation, rand_contrast),
    "translation": (rand_translation,),
    "cutout": (rand_cutout,),
}


def parse_policy(policy: str) -> tuple[str, ...]:
    """The policy names of ``"color,translation,cutout"`` in order (``()`` for ``""``: off).

    Raises:
        UsageError: a name that is no policy, listing the valid ones.
    """
    names = tuple(name.strip() for name in policy.split(",")) if policy.strip() else ()
    for name in names:
        if name not in POLICIES:
            raise UsageError(f"Argument `diff_augment` should be a comma-separated list of {', '.join(POLICIES)}, "
                             f"but given {policy!r} ({name!r} is none of them)")
    return names


class DiffAugment:
    """The DiffAugment transform of a policy, applied to an image batch (see the module's docstring).

    Args:
        policy: comma-separated policy names of :data:`POLICIES`, applied in order.
    """

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self.names = parse_policy(policy)

    def __call__(self, x: Tensor, rows: Rows = _all_rows) -> Tensor:
        """``x`` (N, C, H, W) in [-1, 1], each image transformed by its own random draws.

        Args:
            rows: ``(draw, n) -> (n, ...)``: which ``n`` rows of ``draw``'s this batch takes
                (a process of a distributed run takes its rows of the global batch's).
        """
        for name in self.names:
            for transform in POLICIES[name]:
                x = transform(x, rows)
        return x

    def __repr__(self) -> str:
        return f"DiffAugment({self.policy!r})"
