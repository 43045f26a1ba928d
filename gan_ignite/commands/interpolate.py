"""``gan-ignite interpolate``: walks through a run's latent space, between pairs of random noise vectors.

Each of ``--rows`` rows walks in ``--steps`` images from one noise vector ``z0`` to
another ``z1``, both drawn from the standard Gaussian the experiments train with (seeded
with ``--seed``), by spherical interpolation (:func:`slerp`). In many dimensions a
Gaussian vector lies close to the sphere of radius ``sqrt(z_dim)``: the straight line
between two of them cuts through the sphere's inside, where the generator never saw
noise (midway its norm shrinks by about ``1/sqrt(2)``), while the great circle stays
on it (White, "Sampling Generative Networks", 2016). The first and last image of a row
are the generator's images of ``z0`` and ``z1`` themselves.

``--out`` gets one grid, a row per walk. With ``--gif``, an animated GIF is written
beside it, named as ``--out`` with the suffix ``.gif`` (``interp.png`` -> ``interp.gif``):
its frames are the steps, each a grid of every row's image at that step, walking to
``z1`` and back again, looping::

    gan-ignite interpolate result --out interp.png --rows 8 --steps 10 --gif

The generator comes from the run's ``config.json`` and ``--checkpoint``, as for
``gan-ignite sample``; nothing is written to the run directory. The images are generated
``--batch-size`` at a time and all kept for the grid, so one call draws at most
:data:`MAX_IMAGES` (``--rows`` times ``--steps``), in a grid Pillow can open again.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from torch import Tensor, nn

from gan_ignite.commands._run_generator import (
    VALUE_RANGE, add_run_arguments, at_least, check_grid_size, load_generator, out_of_memory_as_usage, output_file,
    save_grid,
)
from gan_ignite.errors import UsageError
from gan_ignite.run_dir import write_atomic

__all__ = ["HELP", "add_arguments", "run", "slerp", "walks", "gif_frames", "FRAME_MS", "MAX_IMAGES"]

HELP = "walk between random noise vectors of a run's generator (spherical interpolation): a grid, or a GIF too"

# How long each frame of the GIF shows, in milliseconds.
FRAME_MS = 120

# The most images (--rows times --steps) one call draws: all of them are kept for the grid
# (and the GIF's frames), so a slip such as --steps 100000 is refused rather than run.
MAX_IMAGES = 10_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``gan-ignite interpolate``."""
    add_run_arguments(parser)
    parser.add_argument("--out", metavar="FILE", required=True,
                        help="the grid image to write, one row per walk (.png .jpg .jpeg .webp .bmp .tif .tiff "
                             ".gif, e.g. interp.png)")
    parser.add_argument("--rows", type=int, default=8, help="how many walks, each between two random noise vectors")
    parser.add_argument("--steps", type=int, default=10,
                        help=f"images per walk, both ends included (--rows times --steps at most {MAX_IMAGES})")
    parser.add_argument("--gif", action="store_true",
                        help="also write an animated GIF, a path of its own: --out with the suffix .gif "
                             "(--out interp.png writes interp.gif beside it, replacing a file of that name); "
                             "one frame per step, walking there and back")
    parser.add_argument("--batch-size", type=int, default=500, help="images generated at a time")


def slerp(z0: Tensor, z1: Tensor, t: Tensor, eps: float = 1e-7) -> Tensor:
    """Spherical interpolation from ``z0`` to ``z1`` at the fractions ``t``.

    ``slerp(z0, z1, t) = sin((1 - t) w) / sin(w) * z0 + sin(t w) / sin(w) * z1``, where
    ``w`` is the angle between ``z0`` and ``z1``: the point moves along their great
    circle at constant angular speed, so between two vectors of one norm every point has
    that norm. ``t = 0`` and ``t = 1`` give ``z0`` and ``z1`` exactly. Where the two are
    (nearly) parallel, ``sin(w)`` vanishes and the straight line, then the same path, is
    taken instead.

    Args:
        z0: (N, D) start vectors.
        z1: (N, D) end vectors.
        t: (S,) fractions of the way, in [0, 1].
        eps: below this ``sin(w)`` (and norm) counts as zero.

    Returns:
        (N, S, D): row ``i`` walks from ``z0[i]`` to ``z1[i]``.
    """
    unit0 = z0 / torch.linalg.vector_norm(z0, dim=1, keepdim=True).clamp_min(eps)
    unit1 = z1 / torch.linalg.vector_norm(z1, dim=1, keepdim=True).clamp_min(eps)
    omega = torch.acos((unit0 * unit1).sum(dim=1).clamp(-1.0, 1.0))[:, None]  # (N, 1)
    sin = torch.sin(omega)
    t = t.to(z0.dtype)[None, :]  # (1, S)
    straight = sin < eps
    safe = torch.where(straight, torch.ones_like(sin), sin)
    w0 = torch.where(straight, 1.0 - t, torch.sin((1.0 - t) * omega) / safe)  # (N, S)
    w1 = torch.where(straight, t.expand_as(w0), torch.sin(t * omega) / safe)
    return w0[..., None] * z0[:, None, :] + w1[..., None] * z1[:, None, :]


def walks(
    gen: nn.Module, z_dim: int, rows: int, steps: int, seed: int, batch_size: int = 500
) -> tuple[Tensor, Tensor, Tensor]:
    """The images of ``rows`` walks of ``steps`` steps, and their end noises.

    The two ends are drawn from an own RNG seeded with ``seed`` (``z0`` then ``z1`` in
    one (2 * rows, z_dim) draw), on the CPU, then moved to ``gen``'s device; the
    images are generated ``batch_size`` at a time.

    Returns:
        (rows, steps, C, H, W) images on the CPU, (rows, z_dim) ``z0`` and ``z1``.
    """
    from gan_ignite.extensions.images import generate

    ends = torch.randn(2 * rows, z_dim, generator=torch.Generator().manual_seed(seed))
    z0, z1 = ends[:rows], ends[rows:]
    noise = slerp(z0, z1, torch.linspace(0.0, 1.0, steps)).reshape(rows * steps, z_dim)
    images = generate(gen, noise.to(next(gen.parameters()).device), batch_size)
    return images.reshape(rows, steps, *images.shape[1:]), z0, z1


def gif_frames(images: Tensor) -> list[Tensor]:
    """The GIF's frames: for each step there and back, a grid of every walk's image at that step.

    Args:
        images: (rows, steps, C, H, W) in [-1, 1], ``steps >= 2``.

    Returns:
        ``2 * steps - 2`` grids (3, H', W') in [0, 1]: steps 0, 1, ..., steps - 1, ..., 1,
        so that looping the GIF never shows one frame twice in a row.
    """
    from torchvision.utils import make_grid

    steps = images.shape[1]
    nrow = max(1, round(math.sqrt(images.shape[0])))
    order = [*range(steps), *range(steps - 2, 0, -1)]
    return [make_grid(images[:, s], nrow=nrow, normalize=True, value_range=VALUE_RANGE, padding=2) for s in order]


def _save_gif(frames: list[Tensor], path: Path) -> None:
    from PIL import Image

    pictures = [Image.fromarray(f.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy())
                for f in frames]
    write_atomic(path, lambda f: pictures[0].save(f, format="GIF", save_all=True, append_images=pictures[1:],
                                                  duration=FRAME_MS, loop=0))


def run(args: argparse.Namespace) -> None:
    """Check every option, load the generator, then write the grid (and the GIF)."""
    at_least(args.rows, 1, "--rows")
    at_least(args.steps, 2, "--steps")
    at_least(args.batch_size, 1, "--batch-size")
    if args.rows * args.steps > MAX_IMAGES:
        raise UsageError(f"--rows {args.rows} times --steps {args.steps} is {args.rows * args.steps} images, more "
                         f"than {MAX_IMAGES}; lower --rows or --steps")
    out = output_file(args.out, "--out", args.run_dir)
    gif = _gif_path(out, args) if args.gif else None
    gen, z_dim, config = load_generator(args)
    check_grid_size(args.rows * args.steps, args.steps, config.image_size, "lower --rows or --steps")
    with out_of_memory_as_usage("to interpolate", "lower --rows, --steps or --batch-size"):
        images, _, _ = walks(gen, z_dim, args.rows, args.steps, args.seed, args.batch_size)
        save_grid(images.flatten(0, 1), out, nrow=args.steps)
        print(f"wrote {args.rows} walks of {args.steps} steps to {out}")
        if gif is not None:
            _save_gif(gif_frames(images), gif)
            print(f"wrote their animation ({2 * args.steps - 2} frames) to {gif} (--out with the suffix .gif)")


def _gif_path(out: Path, args: argparse.Namespace) -> Path:
    """Where ``--gif`` writes: ``--out`` with the suffix ``.gif``, checked as ``--out`` is.

    Raises:
        UsageError: ``--out`` is a GIF itself, or the GIF's path is a folder (or not writable).
    """
    if out.suffix.lower() == ".gif":
        raise UsageError(f"--out {args.out} names the grid, a still image; --gif writes the animation beside "
                         f"it as NAME.gif: pass e.g. --out {out.with_suffix('.png').name}")
    gif = out.with_suffix(".gif")
    if gif.is_dir():
        raise UsageError(f"--gif writes the animation to {gif} (--out with the suffix .gif), but that is a folder; "
                         f"pass another --out name")
    return output_file(str(gif), "--gif", args.run_dir, suffixes=(".gif",))
