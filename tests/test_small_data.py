"""Small-data remedies: DiffAugment (gan_ignite.augment) and the R1 penalty (gan_ignite.losses.r1).

Each transform is checked by hand on constructed images, its gradient by gradcheck; R1
against ‖w‖² of a linear discriminator; both options end to end in a tiny run, resumed
exactly (one torch thread, as tests/test_resume.py compares runs bitwise).
"""

import json
import math
import shutil
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from benchmarks.kill_resume import final_weights, identical
from experiments import gan_mnist
from gan_ignite import augment as A
from gan_ignite.config import DIFF_AUGMENT_POLICIES
from gan_ignite.errors import UsageError
from gan_ignite.losses import NonSaturatingLoss, R1Penalty, StepInputs, r1_penalty
from gan_ignite.models import DCGANDiscriminator, DCGANGenerator
from gan_ignite.updaters import make_gan_step
from tests.conftest import TINY_RUN

BOTH = ["--r1-gamma", "1", "--diff-augment", "color,translation,cutout"]


def seeded_draws(seed, *shapes):
    """The ``torch.rand`` draws of the given shapes after ``manual_seed(seed)``, in order."""
    torch.manual_seed(seed)
    return [torch.rand(*shape) for shape in shapes]


# -- the transforms, by hand ---------------------------------------------------------------
def test_brightness_shifts_each_image_mean_by_its_drawn_amount():
    x = torch.rand(4, 3, 8, 8) * 2 - 1
    (u,) = seeded_draws(0, (4,))
    torch.manual_seed(0)
    out = A.rand_brightness(x)
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)) - x.mean(dim=(1, 2, 3)), u - 0.5)
    torch.testing.assert_close(out - x, (u - 0.5).view(4, 1, 1, 1).expand_as(x))


def test_saturation_and_contrast_scale_deviations_from_the_mean():
    pixel = torch.tensor([0.2, 0.4, 0.6]).view(1, 3, 1, 1)
    torch.testing.assert_close(A.saturation(pixel, torch.tensor([0.5])), torch.tensor([0.3, 0.4, 0.5]).view(1, 3, 1, 1))
    grey = torch.tensor([0.0, 1.0]).view(1, 1, 1, 2)
    torch.testing.assert_close(A.saturation(grey, torch.tensor([2.0])), grey)  # one channel: its own mean
    torch.testing.assert_close(A.contrast(grey, torch.tensor([2.0])), torch.tensor([-0.5, 1.5]).view(1, 1, 1, 2))
    (u,) = seeded_draws(1, (1,))
    torch.manual_seed(1)
    torch.testing.assert_close(A.rand_contrast(grey), A.contrast(grey, u + 0.5))


def test_translation_moves_a_bright_pixel_by_the_shift_with_zero_fill():
    x = torch.zeros(2, 1, 8, 8)
    x[:, 0, 3, 4] = 1.0
    out = A.translate(x, torch.tensor([[1, -2], [5, 0]]))
    expected = torch.zeros(2, 1, 8, 8)
    expected[0, 0, 4, 2] = 1.0  # the second image's pixel left the frame: nothing is left
    torch.testing.assert_close(out, expected)
    ones = A.translate(torch.ones(1, 2, 4, 4), torch.tensor([[1, 0]]))
    assert ones[0, :, 0].eq(0).all() and ones[0, :, 1:].eq(1).all()  # zero fill from above


def test_random_translation_draws_every_shift_up_to_an_eighth_of_the_side():
    x = torch.zeros(400, 1, 16, 16)
    x[:, 0, 8, 8] = 1.0
    assert A.translation_limit(x) == (2, 2)
    torch.manual_seed(2)
    out = A.rand_translation(x)
    (u,) = seeded_draws(2, (400, 2))
    shift = (u * 5).floor().long() - 2
    rows, cols = out[:, 0].flatten(1).argmax(1) // 16, out[:, 0].flatten(1).argmax(1) % 16
    assert torch.equal(rows - 8, shift[:, 0]) and torch.equal(cols - 8, shift[:, 1])
    assert set((rows - 8).tolist()) == set((cols - 8).tolist()) == {-2, -1, 0, 1, 2}


def test_cutout_zeroes_a_square_of_half_the_side_clipped_at_the_border():
    ones = torch.ones(2, 1, 8, 8)
    out = A.cut_out(ones, torch.tensor([[4, 4], [0, 7]]), (4, 4))
    assert out[0, 0, 2:6, 2:6].eq(0).all() and out[0].sum() == 64 - 16
    assert out[1, 0, 0:2, 5:8].eq(0).all() and out[1].sum() == 64 - 6  # the corner's clipped part
    x = torch.ones(300, 3, 16, 16)
    assert A.cutout_size(x) == (8, 8)
    cut = A.rand_cutout(x)[:, 0] == 0
    area = cut.sum(dim=(1, 2))
    heights, widths = cut.any(2).sum(1), cut.any(1).sum(1)
    assert torch.equal(area, heights * widths)  # a rectangle
    assert area.max() == 64 and area.min() >= 16  # whole inside, at least a quarter at a corner


@pytest.mark.parametrize("op", [
    lambda x: A.brightness(x, torch.tensor([0.3, -0.2], dtype=x.dtype)),
    lambda x: A.saturation(x, torch.tensor([1.7, 0.4], dtype=x.dtype)),
    lambda x: A.contrast(x, torch.tensor([0.6, 1.3], dtype=x.dtype)),
    lambda x: A.translate(x, torch.tensor([[1, -1], [0, 2]])),
    lambda x: A.cut_out(x, torch.tensor([[1, 2], [3, 0]]), (2, 2)),
], ids=["brightness", "saturation", "contrast", "translation", "cutout"])
def test_gradients_flow_through_each_transform(op):
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(op, (x,))


def test_gradients_flow_through_the_whole_policy():
    augment = A.DiffAugment("color,translation,cutout")

    def seeded(x):
        with torch.random.fork_rng():
            torch.manual_seed(3)  # the same draws at every call of gradcheck
            return augment(x)

    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(seeded, (x,))


def test_policies_parse_and_unknown_names_are_refused_with_the_valid_ones(tmp_path, capsys):
    assert A.parse_policy("color, cutout") == ("color", "cutout") and A.parse_policy("") == ()
    assert tuple(A.POLICIES) == DIFF_AUGMENT_POLICIES
    with pytest.raises(UsageError, match=r"list of color, translation, cutout, but given 'color,rot' \('rot'"):
        A.DiffAugment("color,rot")
    with pytest.raises(SystemExit) as exit_info:
        gan_mnist.main([*TINY_RUN, "--diff-augment", "color,rot", "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.endswith(
        "--diff-augment should be a comma-separated list of color, translation, cutout (empty: off), "
        "but given 'color,rot'"
    )


# -- R1 ------------------------------------------------------------------------------------
class Linear(nn.Module):
    """D(x) = w·x, so ∇_x D = w for every image."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return x.flatten(1) @ self.w.to(x.dtype)


def test_r1_on_a_linear_discriminator_is_the_squared_norm_of_its_weights():
    w = torch.tensor([1.0, -2.0, 0.5, 3.0])
    dis, real = Linear(w), torch.randn(5, 1, 2, 2)
    torch.testing.assert_close(r1_penalty(dis, real), w.square().sum())
    terms = R1Penalty(NonSaturatingLoss(), gamma=3.0).dis_extra(StepInputs(dis, real, torch.randn(5, 1, 2, 2)))
    torch.testing.assert_close(terms["loss"], 1.5 * w.square().sum())
    torch.testing.assert_close(terms["r1"], w.square().sum())
    terms["loss"].backward()
    torch.testing.assert_close(dis.w.grad, 3.0 * w)  # d/dw of (3/2)‖w‖²: the penalty trains D


def test_r1_averages_each_images_own_gradient_and_runs_in_float32_under_autocast():
    class Quadratic(nn.Module):  # D(x) = ½‖x‖², ∇_x D = x
        def forward(self, x):
            return 0.5 * x.flatten(1).square().sum(1)

    real = torch.randn(4, 1, 3, 3)
    torch.testing.assert_close(r1_penalty(Quadratic(), real), real.flatten(1).square().sum(1).mean())
    w = torch.randn(9)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        penalty = r1_penalty(Linear(w), real)
    assert penalty.dtype == torch.float32
    torch.testing.assert_close(penalty, w.square().sum())


def test_r1_refuses_a_negative_gamma_and_outputs_without_one_score_an_image():
    with pytest.raises(UsageError, match=r"Argument `gamma` should be non-negative, but given -1"):
        R1Penalty(NonSaturatingLoss(), gamma=-1)

    class Maps(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(UsageError, match=r"one number, but it gave a tensor of shape \(2, 1, 2, 2\) for 2 images"):
        r1_penalty(Maps(), torch.randn(2, 1, 2, 2))


# -- the update step -----------------------------------------------------------------------
class Recording(nn.Module):
    """A discriminator that records every batch it is given."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.seen = inner, []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.inner(x)


@pytest.mark.parametrize("dis_batches", ["separate", "joint"])
def test_every_image_the_discriminator_sees_is_augmented_and_r1_is_observed(dis_batches):
    torch.manual_seed(0)
    gen = DCGANGenerator(z_dim=8, image_size=16, channels=1, feature_maps=8)
    dis = Recording(DCGANDiscriminator(image_size=16, channels=1, feature_maps=8))
    step = make_gan_step(
        gen, dis, torch.optim.Adam(gen.parameters()), torch.optim.Adam(dis.parameters()),
        R1Penalty(NonSaturatingLoss(), gamma=1.0), z_dim=8, dis_batches=dis_batches,
        augment=lambda x, rows: x + 10.0,  # a marker: no image in [-1, 1] survives it unseen
    )
    real = torch.rand(4, 1, 16, 16) * 2 - 1
    observation = step(SimpleNamespace(state=SimpleNamespace(iteration=1)), (real, torch.zeros(4)))
    # D's steps, then R1 on the (augmented) reals, then the generator step's fake.
    assert len(dis.seen) == (4 if dis_batches == "separate" else 3)
    assert all(batch.min() > 8 for batch in dis.seen)
    torch.testing.assert_close(dis.seen[0][:4], real + 10.0)
    assert math.isfinite(observation["dis/r1"]) and observation["dis/r1"] > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gen.parameters() if p.dim() > 1)


# -- end to end ----------------------------------------------------------------------------
def read_log(out):
    entries = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in entry.items() if k != "elapsed_time"} for entry in entries]


def test_a_tiny_run_logs_finite_r1_and_resumes_exactly_with_both_remedies(tmp_path, one_thread):
    options = [*TINY_RUN, *BOTH, "--snapshot-iterations", "3", "--n-saved", "20"]
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    gan_mnist.main([*options, "--epochs", "3", "--out", str(reference)])
    log = read_log(reference)
    assert len(log) == 3 and all(math.isfinite(entry["dis/r1"]) and entry["dis/r1"] > 0 for entry in log)
    assert all(math.isfinite(entry[key]) for entry in log for key in ("dis/loss", "gen/loss"))
    # Checkpoint 6 is half-way through epoch 2 (4 iterations an epoch).
    (resumed / "checkpoints").mkdir(parents=True)
    for name in ("run.json", "config.json", "checkpoints/checkpoint_6.pt", "checkpoints/checkpoint_6.pt.sha256"):
        shutil.copy(reference / name, resumed / name)
    gan_mnist.main([*options, "--epochs", "3", "--out", str(resumed), "--resume"])
    assert identical(final_weights(resumed), final_weights(reference))
    assert read_log(resumed) == log
