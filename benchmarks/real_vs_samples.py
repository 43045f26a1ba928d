"""One image for the README: real images of a run's dataset beside the run's samples.

Left, ``--n`` real images drawn at random (seeded) from the run's training set; right,
``--n`` samples of the run's latest generator (its moving average when the run kept
one) from seeded noise, as ``gan-ignite sample`` draws them. Both halves are
torchvision ``make_grid`` grids, as the runs' own ``images/epoch_*.png``::

    python benchmarks/real_vs_samples.py RUN_DIR --out docs/cifar10_real_vs_samples.png

The dataset, its root and image size are read from the run's ``config.json``;
``--data-root`` overrides the root (a run trained on another machine).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gan_ignite.commands._run_generator import PADDING, VALUE_RANGE  # noqa: E402
from gan_ignite.data import load_dataset  # noqa: E402
from gan_ignite.evaluate import load_run_generator  # noqa: E402
from gan_ignite.extensions.images import sample_batches  # noqa: E402

GAP = 8  # white pixels between the two grids


def real_images(config: dict, n: int, data_root: str | None, seed: int) -> torch.Tensor:
    """``n`` training images of the run's dataset, a seeded random choice, in [-1, 1]."""
    dataset = load_dataset(config["dataset"], root=data_root or config.get("data_root"),
                           image_size=config["image_size"], download=False)
    chosen = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:n]
    return torch.stack([dataset[int(i)][0] for i in chosen])


def samples(run_dir: Path, n: int, seed: int) -> torch.Tensor:
    """``n`` samples of the run's latest generator from seeded noise, in [-1, 1]."""
    gen, z_dim, _ = load_run_generator(run_dir)
    return torch.cat(list(sample_batches(gen, z_dim, n, n, seed)))  # the noise of `gan-ignite sample --seed`


def side_by_side(real: torch.Tensor, fake: torch.Tensor, nrow: int) -> torch.Tensor:
    """(3, H, W) in [0, 1]: the grid of ``real``, a white gap, the grid of ``fake``."""
    from torchvision.utils import make_grid

    grids = [make_grid(x.float(), nrow=nrow, normalize=True, value_range=VALUE_RANGE, padding=PADDING)
             for x in (real, fake)]
    gap = torch.ones(3, grids[0].shape[1], GAP)
    return torch.cat([grids[0], gap, grids[1]], dim=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--n", type=int, default=32, help="images in each half")
    parser.add_argument("--nrow", type=int, default=4, help="images per row of each half")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", default=None, help="where the run's dataset is, if not its own --data-root")
    args = parser.parse_args()
    from torchvision.utils import save_image

    config = json.loads((args.run_dir / "config.json").read_text())
    grid = side_by_side(real_images(config, args.n, args.data_root, args.seed),
                        samples(args.run_dir, args.n, args.seed), args.nrow)
    save_image(grid, args.out)
    print(f"wrote {args.out}: {args.n} real images (left), {args.n} samples (right)")


if __name__ == "__main__":
    main()
