"""``gan-ignite sample``: images from a finished (or running) run's generator, without repeating its options.

The generator is rebuilt from the run's ``config.json`` and one of its checkpoints
(``--checkpoint``: the newest verified one by default, giving the moving average when
the run kept one with ``--ema-decay``), and ``--n`` samples are drawn from noise seeded
with ``--seed``. They are written as one grid (``--out``), shown as the run's own epoch
grids are, and/or one PNG per sample at the generator's resolution (``--each DIR``:
``000000.png``, ``000001.png``, ...), the folder an external FID tool reads. The grid
is square by default (``round(sqrt(n))`` a row, as the run's grids: ``--n 16`` gives
4 x 4), and ``DIR`` appears only once every sample is in it: a run stopped part-way
leaves nothing to clean up before trying again::

    gan-ignite sample result --n 64 --seed 0 --out grid.png
    gan-ignite sample result --n 10000 --each samples/ --checkpoint best

The noise is drawn ``--batch-size`` rows at a time, exactly as ``gan-ignite evaluate``
draws it: the same ``--seed`` and ``--batch-size`` give the images it measures, and with
``--n`` up to the batch size and the run's ``--seed``, the noise of its epoch grids.
"""

from __future__ import annotations

import argparse
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from gan_ignite.commands._run_generator import (
    VALUE_RANGE, add_run_arguments, at_least, check_grid_size, grid_nrow, load_generator, out_of_memory_as_usage,
    output_file, output_folder, save_grid,
)
from gan_ignite.errors import UsageError
from gan_ignite.run_dir import write_atomic

__all__ = ["HELP", "add_arguments", "run", "EACH_NAME"]

HELP = "draw samples from a run's generator: a grid image, and/or one PNG per sample for an FID tool"

# The file name of sample i in --each DIR: sorted by name, they are in drawing order.
EACH_NAME = "{:06d}.png"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``gan-ignite sample``."""
    add_run_arguments(parser)
    parser.add_argument("--n", type=int, default=64, help="how many samples")
    parser.add_argument("--out", metavar="FILE",
                        help="the grid image to write (.png .jpg .jpeg .webp .bmp .tif .tiff .gif, e.g. grid.png); "
                             "optional with --each")
    parser.add_argument("--nrow", type=int, default=None,
                        help="samples per row of the grid (default: a square grid, round(sqrt(--n)) a row, as the "
                             "run's own grids: 8 for 64)")
    parser.add_argument("--each", metavar="DIR",
                        help="also write every sample as DIR/000000.png, ... at the generator's resolution "
                             "(a new or empty folder, filled only once every sample is drawn), e.g. for an "
                             "external FID tool")
    parser.add_argument("--batch-size", type=int, default=500,
                        help="noise rows drawn and images generated at a time (as gan-ignite evaluate draws them)")


def run(args: argparse.Namespace) -> None:
    """Check every option, load the generator, then draw and write the samples."""
    nrow = grid_nrow(args.n) if args.nrow is None else args.nrow
    for flag, value in (("--n", args.n), ("--nrow", nrow), ("--batch-size", args.batch_size)):
        at_least(value, 1, flag)
    if args.out is None and args.each is None:
        raise UsageError("pass --out FILE for a grid, --each DIR for one PNG per sample, or both")
    out = output_file(args.out, "--out", args.run_dir) if args.out is not None else None
    each = output_folder(args.each, "--each", args.run_dir) if args.each is not None else None
    if out is not None and each is not None and each in out.parents:
        raise UsageError(f"--out {args.out} lies inside --each {args.each}, which should hold the samples only; "
                         f"write the grid elsewhere")
    gen, z_dim, config = load_generator(args)
    if out is not None:
        check_grid_size(args.n, nrow, config.image_size, "lower --n, or write the samples one a file with --each")
    with out_of_memory_as_usage("to sample", "lower --batch-size"):
        images = _draw(gen, z_dim, args, each)
    if each is not None:
        print(f"wrote {args.n} samples to {each}")
    if out is not None:
        save_grid(images, out, nrow)
        print(f"wrote a grid of {args.n} samples to {out}")


def _draw(gen: torch.nn.Module, z_dim: int, args: argparse.Namespace, each: Path | None) -> torch.Tensor:
    """The ``--n`` samples (N, C, H, W), each written to ``each`` as it is drawn when given.

    Only a grid needs all of them at once; without ``--out`` none are kept. The files
    go into a temporary folder beside ``each``, renamed to it once all are written.
    """
    from gan_ignite.extensions.images import sample_batches

    kept: list[torch.Tensor] = []
    device = next(gen.parameters()).device
    batches = sample_batches(gen, z_dim, args.n, args.batch_size, args.seed, device)
    with _filled_at_once(each) as folder:
        for start, batch in zip(range(0, args.n, args.batch_size), batches):
            if folder is not None:
                _save_each(batch, folder, start)
            if args.out is not None:
                kept.append(batch)
    return torch.cat(kept) if kept else torch.empty(0)


@contextmanager
def _filled_at_once(folder: Path | None) -> Iterator[Path | None]:
    """A new hidden folder beside ``folder`` to fill, renamed to ``folder`` when the block ends well.

    A failure part-way (out of memory, Ctrl-C, a full disk) removes it, and ``folder``
    stays as it was (missing, or empty), so that the same command can simply be run
    again: an FID tool never reads a half-filled folder. ``os.replace`` puts a folder in
    the place of an empty one at once.
    """
    if folder is None:
        yield None
        return
    partial = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.partial")
    os.mkdir(partial)
    try:
        yield partial
        os.replace(partial, folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _save_each(images: torch.Tensor, folder: Path, start: int) -> None:
    """Save (N, C, H, W) images one file each, numbered from ``start``, at their own size."""
    from torchvision.utils import save_image

    for i, image in enumerate(images):
        write_atomic(folder / EACH_NAME.format(start + i),
                     lambda f, image=image: save_image(image, f, format="png", normalize=True, value_range=VALUE_RANGE))
