"""What ``sample`` and ``interpolate`` share: a run's generator from the command line, and where images go.

Both commands read a run directory and never write to it. The generator is rebuilt by
:func:`~gan_ignite.evaluate.load_run_generator` from the run's own ``config.json`` and a
checkpoint (``--checkpoint latest|best|PATH``), so no training option is repeated. The
noise comes from an own ``torch.Generator`` seeded with ``--seed`` (never the global
RNGs), drawn on the CPU and then moved, so a seed gives the same images on any device.

Every output path is checked before anything is loaded or written (:func:`output_file`,
:func:`output_folder`): a bad one ends as one line, with nothing written. Images are
shown as the run's own epoch grids show them: generators end in ``tanh``, and
``[-1, 1]`` is mapped to ``[0, 1]`` (:func:`save_grid`).
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gan_ignite.errors import UsageError, allocation, out_of_memory
from gan_ignite.evaluate import LATEST, load_run_generator
from gan_ignite.run_dir import cannot_write_in, resolve_path, write_atomic

__all__ = [
    "VALUE_RANGE", "IMAGE_SUFFIXES", "add_run_arguments", "load_generator", "at_least", "output_file",
    "output_folder", "save_grid", "grid_nrow", "check_grid_size", "out_of_memory_as_usage",
]

# The generators' output range, mapped to [0, 1] for display (as SampleGrid does).
VALUE_RANGE = (-1.0, 1.0)
# Pixels between the images of a grid (and around them), as the run's own grids.
PADDING = 2

# The file name endings an image may be written with: formats Pillow writes an RGB image in.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``RUN_DIR``, ``--checkpoint``, ``--seed`` and ``--device``: which generator, which noise."""
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (the --out of a training run)")
    parser.add_argument("--checkpoint", default=LATEST, metavar="latest|best|PATH",
                        help="latest: the newest verified checkpoint (the moving average with --ema-decay); "
                             "best: checkpoints/gen_best.pt, the (online, not averaged) generator of the best epoch of "
                             "--early-stopping; "
                             "or PATH, a snapshot (checkpoint_<iteration>.pt) or generator file (gen_best.pt) of the "
                             "run, or of a run with the very same networks; a bare name is looked up in "
                             "RUN_DIR/checkpoints, and a file with a .sha256 beside it is verified first")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise: the same seed draws the same images")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (cuda if available)")


def load_generator(args: argparse.Namespace) -> tuple[nn.Module, int, Any]:
    """The generator ``args`` name, its noise size and the run's config (see :func:`load_run_generator`)."""
    from gan_ignite.options import resolve_device

    return load_run_generator(args.run_dir, resolve_device(args.device), args.checkpoint)


def at_least(value: int, least: int, flag: str) -> None:
    """Refuse an option below ``least``, in Ignite's phrasing."""
    if value < least:
        raise UsageError(f"{flag} should be at least {least}, but given {value}")


def _outside(path: Path, run_dir: Path, flag: str) -> None:
    """A run directory holds only what training writes (``--force`` and ``--resume`` refuse anything else)."""
    if path == run_dir or run_dir in path.parents:
        raise UsageError(f"{flag} {path} lies inside the run directory {run_dir}, which holds only what training "
                         f"writes; pass a path outside it")


def output_file(name: str, flag: str, run_dir: str | Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> Path:
    """The image file ``name`` resolved, once it is known that it can be written.

    Args:
        name: the path as given.
        flag: the option, for messages (``--out``).
        run_dir: the run read from, which is never written to.
        suffixes: the file name endings allowed (default: :data:`IMAGE_SUFFIXES`; those
            this Pillow cannot write are left out).

    Raises:
        UsageError: its folder is missing, no folder or not writable; the path is a
            folder, lies in the run directory, or ends in none of ``suffixes``.
    """
    from PIL import Image

    path = resolve_path(name, flag)
    _outside(path, resolve_path(run_dir, "RUN_DIR"), flag)
    formats = Image.registered_extensions()
    known = tuple(s for s in suffixes if formats.get(s) in Image.SAVE)
    if path.suffix.lower() not in known:
        raise UsageError(f"{flag} {name} should name a file of an image format ({' '.join(known)}), "
                         f"e.g. {path.with_suffix(known[0]).name}")
    if path.is_dir():
        raise UsageError(f"{flag} {name} is a folder; pass a file path such as {path / 'samples.png'}")
    _writable_folder(path.parent, f"{flag} {name}")
    return path


def output_folder(name: str, flag: str, run_dir: str | Path) -> Path:
    """A new or empty folder ``name`` to fill with images, resolved (created later, by the first write).

    An FID tool measures every image of a folder: one that already holds files would mix
    them into the measurement, so it is refused rather than emptied.

    Raises:
        UsageError: it is a file or a folder that holds files, its parent is missing or
            not writable, or it lies in the run directory.
    """
    path = resolve_path(name, flag)
    _outside(path, resolve_path(run_dir, "RUN_DIR"), flag)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {name} is a file, not a folder; pass a new or empty folder")
    if path.is_dir():
        with os.scandir(path) as entries:
            holds_files = any(True for _ in entries)
        if holds_files:
            raise UsageError(f"{flag} {name} already holds files, which a tool reading the folder would count "
                             f"among the samples; pass a new or empty folder")
        _writable_folder(path, f"{flag} {name}")
    else:
        _writable_folder(path.parent, f"{flag} {name}")
    return path


def _writable_folder(folder: Path, what: str) -> None:
    if not folder.is_dir():
        missing = "does not exist" if not folder.exists() else "is not a folder"
        raise UsageError(f"{what}: the folder {folder} {missing}; create it or pass another path")
    if (problem := cannot_write_in(folder)) is not None:
        raise UsageError(f"{what} is not writable ({problem} in {folder}); pass a folder you can write to")


def save_grid(images: torch.Tensor, path: Path, nrow: int) -> torch.Tensor:
    """Save (N, C, H, W) images in ``VALUE_RANGE`` as one grid image at ``path`` (atomically).

    The grid is torchvision's ``make_grid`` with 2 pixels of padding, ``nrow`` images a
    row, as the run's ``images/epoch_*.png``; a single image is saved as it is.

    Returns:
        (3, H', W') the grid in [0, 1].
    """
    from PIL import Image
    from torchvision.utils import make_grid, save_image

    grid = make_grid(images, nrow=nrow, normalize=True, value_range=VALUE_RANGE, padding=PADDING)
    image_format = Image.registered_extensions()[path.suffix.lower()]
    write_atomic(path, lambda f: save_image(grid, f, format=image_format))
    return grid


def grid_nrow(n: int) -> int:
    """Images a row of a grid of ``n``: ``round(sqrt(n))``, about square, as the run's own grids (``SampleGrid``)."""
    return max(1, round(math.sqrt(n)))


def check_grid_size(n: int, nrow: int, image_size: int, remedy: str) -> None:
    """Refuse a grid of ``n`` images, ``nrow`` a row, bigger than Pillow opens (its decompression-bomb limit).

    Args:
        n: images in the grid.
        nrow: images a row.
        image_size: side of one image, in pixels.
        remedy: what to lower, for the message.

    Raises:
        UsageError: the grid has more pixels than ``PIL.Image.MAX_IMAGE_PIXELS``.
    """
    from PIL import Image

    side = image_size + PADDING
    width, height = min(n, nrow) * side + PADDING, math.ceil(n / nrow) * side + PADDING
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise UsageError(f"the grid would be {width} x {height} pixels, more than image viewers and Pillow open "
                         f"({limit} pixels); {remedy}")


@contextmanager
def out_of_memory_as_usage(what: str, remedy: str) -> Iterator[None]:
    """Turn running out of (host or GPU) memory inside the block into one :class:`UsageError` line.

    Args:
        what: what ran out, for the message (``"to sample"``).
        remedy: the options to lower (``"lower --batch-size"``).
    """
    try:
        yield
    except (MemoryError, RuntimeError) as exc:
        if not out_of_memory(exc):
            raise
        raise UsageError(f"not enough memory {what}: {allocation(exc)}; {remedy}") from None
