"""benchmarks/real_vs_samples.py: the README's real-vs-samples grids, read back."""

import subprocess
import sys

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid

from benchmarks.real_vs_samples import GAP, real_images, side_by_side
from experiments import gan_mnist
from gan_ignite.commands import main
from tests.conftest import PROJECT_ROOT

SMALL = ["--limit", "32", "--batch-size", "8", "--image-size", "16", "--feature-maps", "8", "--z-dim", "8",
         "--n-samples", "4", "--no-progress", "--epochs", "1"]


def test_side_by_side_puts_the_real_grid_left_and_the_samples_right():
    real, fake = torch.full((4, 1, 8, 8), -1.0), torch.full((4, 1, 8, 8), 1.0)  # black, white
    grid = side_by_side(real, fake, nrow=2)
    left = make_grid(real, nrow=2, normalize=True, value_range=(-1, 1), padding=2)
    width = left.shape[2]
    assert grid.shape == (3, left.shape[1], 2 * width + GAP)
    assert torch.equal(grid[:, :, :width], left)
    assert torch.all(grid[:, :, width : width + GAP] == 1)  # the white gap
    assert torch.all(grid[:, 2:10, -10:-2] == 1)  # a white sample, inside its padding


def test_the_script_draws_the_run_and_its_data(tmp_path):
    gan_mnist.main([*SMALL, "--out", str(tmp_path / "run")])
    out = tmp_path / "grid.png"
    result = subprocess.run([sys.executable, "benchmarks/real_vs_samples.py", str(tmp_path / "run"), "--out", str(out),
                             "--n", "4", "--nrow", "2"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with Image.open(out) as img:
        pixels = torch.from_numpy(np.array(img.convert("RGB"))).permute(2, 0, 1)
    # The left half is the run's dataset (digits at 16x16), the seeded choice of the script.
    config = {"dataset": "digits", "image_size": 16}
    left = make_grid(real_images(config, 4, None, seed=0), nrow=2, normalize=True, value_range=(-1, 1), padding=2)
    expected = left.mul(255).add(0.5).clamp(0, 255).to(torch.uint8)  # save_image's rounding
    assert pixels.shape == (3, left.shape[1], 2 * left.shape[2] + GAP)
    assert torch.equal(pixels[:, :, : left.shape[2]], expected)
    # The right half is what `gan-ignite sample` draws from the run with the same seed.
    sampled = tmp_path / "sampled.png"
    main(["sample", str(tmp_path / "run"), "--n", "4", "--nrow", "2", "--seed", "0", "--out", str(sampled)])
    with Image.open(sampled) as img:
        right = torch.from_numpy(np.array(img.convert("RGB"))).permute(2, 0, 1)
    assert torch.equal(pixels[:, :, -right.shape[2] :], right)
