"""DCGAN architecture options: the spectrally normalised discriminator, the fully connected layer; saved and resumed."""

import pytest
import torch
from torch import nn

from experiments import gan_mnist
from gan_ignite.evaluate import load_run_generator
from gan_ignite.extensions.snapshot import latest_checkpoint
from gan_ignite.models import DCGANDiscriminator

SMALL = ["--limit", "32", "--batch-size", "8", "--image-size", "16", "--feature-maps", "8", "--z-dim", "8",
         "--n-samples", "4", "--no-progress", "--spectral-norm", "--fc-units", "16"]


def weight_matrices(dis):
    """Each convolution / linear layer's effective weight as a (out, in * k * k) matrix."""
    return {name: m.weight.flatten(1) for name, m in dis.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}


@pytest.mark.parametrize("image_size, minibatch", [(16, None), (28, None), (32, "stddev")])
def test_every_layer_ends_with_spectral_norm_one_and_there_is_no_batch_norm(image_size, minibatch):
    torch.manual_seed(0)
    dis = DCGANDiscriminator(image_size=image_size, feature_maps=8, minibatch=minibatch, spectral_norm=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in dis.modules())
    raw = {name: m.parametrizations.weight.original.flatten(1) for name, m in dis.named_modules()
           if isinstance(m, (nn.Conv2d, nn.Linear))}
    assert len(raw) == len(weight_matrices(dis)) >= 3
    assert all(torch.linalg.svdvals(w)[0] < 0.9 for w in raw.values())  # N(0, 0.02) init: far below 1
    x = torch.randn(4, 1, image_size, image_size)
    with torch.no_grad():
        for _ in range(50):  # each training-mode pass runs one power iteration
            dis(x)
    dis.eval()
    for name, w in weight_matrices(dis).items():
        assert torch.linalg.svdvals(w)[0].item() == pytest.approx(1.0, abs=1e-3), name


def test_the_power_iteration_state_is_saved_and_restored():
    torch.manual_seed(0)
    dis = DCGANDiscriminator(image_size=16, feature_maps=8, spectral_norm=True)
    x = torch.randn(4, 1, 16, 16)
    dis(x)
    assert any(key.endswith("parametrizations.weight.original") for key in dis.state_dict())
    assert any(key.endswith("_u") for key in dis.state_dict())
    torch.manual_seed(1)
    copy = DCGANDiscriminator(image_size=16, feature_maps=8, spectral_norm=True)
    copy.load_state_dict(dis.state_dict())
    # Both in training mode: one more power iteration each, equal only if u and v came along.
    torch.testing.assert_close(copy(x), dis(x), rtol=0, atol=0)


def test_resume_continues_a_run_with_both_options_exactly_and_evaluate_rebuilds_it(tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # one summation order, so bitwise comparison is fair
    try:
        whole, split = tmp_path / "whole", tmp_path / "split"
        gan_mnist.main([*SMALL, "--epochs", "3", "--out", str(whole)])
        gan_mnist.main([*SMALL, "--epochs", "1", "--out", str(split)])
        gan_mnist.main(["--epochs", "3", "--out", str(split), "--resume", "--no-progress"])
    finally:
        torch.set_num_threads(before)
    a, b = (torch.load(latest_checkpoint(out), weights_only=True)["dis"] for out in (whole, split))
    assert any(key.endswith("_u") for key in a)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    gen, z_dim, _ = load_run_generator(split)
    assert isinstance(gen.net[0], nn.Linear) and (gen.net[0].in_features, gen.net[0].out_features) == (z_dim, 16)
    torch.testing.assert_close(gen.state_dict(), torch.load(latest_checkpoint(whole), weights_only=True)["gen"])
