"""Tests for the model variants: minibatch layers, DCGAN discriminator options, EBGAN's autoencoder."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from gan_ignite.errors import UsageError
from gan_ignite.losses import EBGANLoss, EnergyOutput
from gan_ignite.models import (
    SUPPORTED_IMAGE_SIZES,
    DCGANDiscriminator,
    DCGANGenerator,
    EBGANDiscriminator,
    MinibatchDiscrimination,
    MinibatchStdDev,
)
from gan_ignite.updaters import make_gan_step


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# -- MinibatchDiscrimination -------------------------------------------------------------


def brute_force_minibatch_discrimination(layer, x):
    """c_b(x_i) = sum over j != i of exp(-||M_i,b - M_j,b||_1), one term at a time."""
    n, (B, C) = len(x), (layer.num_kernels, layer.kernel_dim)
    T = layer.T.detach()
    M = [[x[i] @ T[:, b * C : (b + 1) * C] for b in range(B)] for i in range(n)]
    c = torch.zeros(n, B)
    for i in range(n):
        for b in range(B):
            for j in range(n):
                if j != i:
                    c[i, b] += torch.exp(-(M[i][b] - M[j][b]).abs().sum())
    return torch.cat([x, c], dim=1)


def test_minibatch_discrimination_matches_brute_force():
    layer = MinibatchDiscrimination(6, num_kernels=3, kernel_dim=4)
    x = 0.3 * torch.randn(5, 6)
    out = layer(x)
    expected = brute_force_minibatch_discrimination(layer, x)
    assert out.shape == (5, 6 + 3)
    torch.testing.assert_close(out, expected)
    closeness = out[:, 6:]
    assert closeness.min() > 0.01 and closeness.max() < 4 - 0.01  # a test of distances, not of 0s or 1s


def test_minibatch_discrimination_sees_collapse():
    layer = MinibatchDiscrimination(6, num_kernels=3, kernel_dim=4)
    collapsed = torch.randn(1, 6).expand(5, 6)  # five identical rows: every distance 0
    torch.testing.assert_close(layer(collapsed)[:, 6:], torch.full((5, 3), 4.0))
    spread = 100 * torch.eye(5, 6)  # rows far apart: every exp(-distance) ~ 0
    torch.testing.assert_close(layer(spread)[:, 6:], torch.zeros(5, 3))


def test_minibatch_discrimination_trains_and_passes_gradients():
    layer = MinibatchDiscrimination(6, num_kernels=3, kernel_dim=2)
    x = (0.3 * torch.randn(4, 6)).requires_grad_()
    layer(x)[:, 6:].sum().backward()
    assert layer.T.grad.abs().sum() > 0 and x.grad.abs().sum() > 0


# -- MinibatchStdDev ---------------------------------------------------------------------


def brute_force_stddev(x, g):
    """Append each consecutive group's mean (over C, H, W) of the population std, group by group."""
    n, _, h, w = x.shape
    stats = torch.empty(n)
    for start in range(0, n, g):
        group = x[start : start + g]
        std = ((group - group.mean(0)) ** 2).mean(0).add(1e-8).sqrt()
        stats[start : start + g] = std.mean()
    return torch.cat([x, stats.view(n, 1, 1, 1).expand(n, 1, h, w)], dim=1)


@pytest.mark.parametrize(
    "n, group_size, g",
    [
        (8, 4, 4),
        (12, 4, 4),
        (6, 4, 3),  # the largest divisor of 6 not above 4
        (10, 4, 2),
        (12, 5, 4),
        (3, 4, 3),  # fewer samples than a group: one group
        (7, 4, 7),  # prime: groups of 1 would measure nothing, the whole batch is one group
        (5, 4, 5),
        (1, 4, 1),
    ],
)
def test_minibatch_stddev_matches_brute_force(n, group_size, g):
    layer = MinibatchStdDev(group_size)
    assert layer.group(n) == g
    x = torch.randn(n, 3, 5, 5)
    out = layer(x)
    assert out.shape == (n, 4, 5, 5)
    torch.testing.assert_close(out, brute_force_stddev(x, g))


def test_minibatch_stddev_groups_are_independent():
    layer = MinibatchStdDev(4)
    x = torch.randn(8, 2, 3, 3)
    y = x.clone()
    y[5] += 10  # second group only
    before, after = layer(x)[:, -1, 0, 0], layer(y)[:, -1, 0, 0]
    torch.testing.assert_close(after[:4], before[:4])
    assert (after[4:] > before[4:] + 1).all()


def test_minibatch_stddev_of_one_sample_is_the_epsilon():
    out = MinibatchStdDev()(torch.randn(1, 2, 3, 3))
    torch.testing.assert_close(out[:, -1], torch.full((1, 3, 3), 1e-4))


@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda: MinibatchStdDev(0), "group_size"),
        (lambda: MinibatchDiscrimination(0), "in_features"),
        (lambda: MinibatchDiscrimination(4, num_kernels=0), "num_kernels"),
        (lambda: MinibatchDiscrimination(4, kernel_dim=-1), "kernel_dim"),
        (lambda: DCGANDiscriminator(num_classes=0), "num_classes"),
        (lambda: EBGANDiscriminator(code_dim=0), "code_dim"),
    ],
)
def test_non_positive_arguments(make, argument):
    with pytest.raises(UsageError, match=f"Argument `{argument}` should be a positive integer, but given"):
        make()


# -- DCGAN discriminator options ---------------------------------------------------------


def conv_params(c_in, c_out, bias):
    return c_in * c_out * 4 * 4 + (c_out if bias else 0)


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        # 28 px, fm 64: conv 1->64 (bias), conv 64->128 + BN, linear 128*7*7 -> 1.
        ({}, conv_params(1, 64, True) + conv_params(64, 128, False) + 2 * 128 + (128 * 7 * 7 + 1)),
        # 64 px, 3 channels, fm 8: 3->8 (bias), 8->16, 16->32, 32->64 with BN, linear 64*4*4 -> 1.
        (
            dict(image_size=64, channels=3, feature_maps=8),
            conv_params(3, 8, True)
            + sum(conv_params(i, 2 * i, False) + 2 * 2 * i for i in (8, 16, 32))
            + (64 * 4 * 4 + 1),
        ),
    ],
)
def test_default_discriminator_is_unchanged(kwargs, expected):
    dis = DCGANDiscriminator(**kwargs)
    assert sum(p.numel() for p in dis.parameters()) == expected
    assert isinstance(dis.head, nn.Linear)  # checkpoints keep their "head.weight" keys
    assert not any(isinstance(m, (MinibatchStdDev, MinibatchDiscrimination)) for m in dis.modules())
    explicit = DCGANDiscriminator(**kwargs, minibatch=None, num_classes=1)
    assert list(explicit.state_dict()) == list(dis.state_dict())


@pytest.mark.parametrize("fc_units", [0, 24])
@pytest.mark.parametrize("num_classes", [1, 10])
@pytest.mark.parametrize("minibatch", [None, "discrimination", "stddev"])
@pytest.mark.parametrize("image_size", SUPPORTED_IMAGE_SIZES)
def test_discriminator_variant_shapes(image_size, minibatch, num_classes, fc_units):
    dis = DCGANDiscriminator(image_size=image_size, channels=3, feature_maps=4, minibatch=minibatch,
                             num_classes=num_classes, fc_units=fc_units)
    x = torch.randn(6, 3, image_size, image_size)
    out = dis(x)
    assert out.shape == ((6,) if num_classes == 1 else (6, num_classes))
    features = dis.features(x)
    assert features.shape == (6, dis.feature_dim)
    if fc_units:
        assert dis.feature_dim == fc_units
    head = dis.head(features)
    torch.testing.assert_close(out, head.squeeze(1) if num_classes == 1 else head)


def test_minibatch_discrimination_sits_between_features_and_head():
    plain = DCGANDiscriminator(image_size=16, feature_maps=4)
    dis = DCGANDiscriminator(image_size=16, feature_maps=4, minibatch="discrimination")
    layer, linear = dis.head
    assert isinstance(layer, MinibatchDiscrimination) and layer.in_features == dis.feature_dim
    assert linear.in_features == dis.feature_dim + layer.num_kernels
    assert dis.feature_dim == plain.feature_dim
    extra = sum(p.numel() for p in dis.parameters()) - sum(p.numel() for p in plain.parameters())
    assert extra == layer.T.numel() + layer.num_kernels  # T, and the head's weights on c(x)


def test_minibatch_stddev_precedes_the_last_stage():
    dis = DCGANDiscriminator(image_size=32, feature_maps=4, minibatch="stddev")
    stages = list(dis.body)
    assert isinstance(stages[-3], MinibatchStdDev)
    last_conv = stages[-2][0]
    assert isinstance(last_conv, nn.Conv2d) and last_conv.in_channels == 8 + 1  # 2fm + the std map
    assert sum(isinstance(m, MinibatchStdDev) for m in dis.modules()) == 1


@pytest.mark.parametrize("minibatch", ["discrimination", "stddev"])
def test_minibatch_discriminators_depend_on_the_batch(minibatch):
    dis = DCGANDiscriminator(image_size=16, feature_maps=4, minibatch=minibatch).eval()
    x = torch.randn(4, 1, 16, 16)
    alone = dis(x[:2])
    with_others = dis(torch.cat([x[:2], 5 * x[2:]]))[:2]
    assert not torch.allclose(alone, with_others)


@pytest.mark.parametrize("minibatch", ["discrimination", "stddev"])
def test_gradients_reach_every_parameter_of_the_variants(minibatch):
    dis = DCGANDiscriminator(image_size=16, feature_maps=4, minibatch=minibatch, num_classes=3)
    dis(torch.randn(4, 1, 16, 16)).logsumexp(1).sum().backward()
    for name, param in dis.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_unknown_minibatch_layer():
    with pytest.raises(
        UsageError, match=r"Argument `minibatch` should be one of None, 'discrimination', 'stddev', but given 'std'"
    ):
        DCGANDiscriminator(minibatch="std")


# -- EBGAN autoencoder discriminator -----------------------------------------------------


@pytest.mark.parametrize("image_size, channels", [(16, 1), (28, 1), (32, 3), (64, 3)])
def test_ebgan_outputs(image_size, channels):
    dis = EBGANDiscriminator(image_size=image_size, channels=channels, feature_maps=4, code_dim=7)
    x = torch.rand(5, channels, image_size, image_size) * 2 - 1
    out = dis(x)
    assert isinstance(out, EnergyOutput)
    assert out.energy.shape == (5,) and out.codes.shape == (5, 7)
    reconstructions = dis.reconstruct(x)
    assert reconstructions.shape == x.shape
    assert reconstructions.abs().max() <= 1.0  # tanh: the data's range
    torch.testing.assert_close(dis.features(x), out.codes)
    torch.testing.assert_close(dis.encode(x), out.codes)
    assert dis.feature_dim == 7


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_ebgan_energy_is_the_mean_squared_reconstruction_error(mode):
    dis = EBGANDiscriminator(image_size=16, feature_maps=4).train(mode == "train")
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    energy = dis(x).energy
    by_hand = torch.stack([((r - xi) ** 2).sum() / r.numel() for r, xi in zip(dis.reconstruct(x), x)])
    torch.testing.assert_close(energy, by_hand)
    assert (energy >= 0).all() and (energy <= 4).all()


def test_ebgan_gradients_reach_every_parameter():
    dis = EBGANDiscriminator(image_size=16, feature_maps=4, code_dim=5)
    out = dis(torch.rand(4, 1, 16, 16) * 2 - 1)
    (out.energy.mean() + out.codes.pow(2).mean()).backward()
    for name, param in dis.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_ebgan_discriminator_trains_with_the_ebgan_loss():
    """One real update step; ``joint`` splits the EnergyOutput of the concatenated batch."""
    gen = DCGANGenerator(z_dim=8, image_size=16, feature_maps=4)
    dis = EBGANDiscriminator(image_size=16, feature_maps=4, code_dim=6)
    step = make_gan_step(
        gen, dis, torch.optim.Adam(gen.parameters()), torch.optim.Adam(dis.parameters()), EBGANLoss(),
        z_dim=8, dis_batches="joint",
    )
    observation = step(SimpleNamespace(state=SimpleNamespace(iteration=1)), torch.rand(4, 1, 16, 16) * 2 - 1)
    assert {"dis/loss", "dis/real", "dis/fake", "gen/loss", "gen/pull_away"} <= set(observation)
    assert 0 <= observation["dis/real"] <= 4 and 0 <= observation["dis/fake"] <= 4


def test_ebgan_unsupported_image_size():
    with pytest.raises(UsageError, match=r"Argument `image_size` should be one of 16, 28, 32, 64, but given 30"):
        EBGANDiscriminator(image_size=30)


# -- fully connected hidden layer (InfoGAN's MNIST networks) --------------------------------


def n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("batch_norm", [True, False])
def test_fc_units_add_one_hidden_layer_to_the_generator(batch_norm):
    z, units, projected = 10, 32, (2 * 8) * 7 * 7  # 28 px, fm 8: the projection is 16 x 7 x 7
    plain = DCGANGenerator(z_dim=z, feature_maps=8, batch_norm=batch_norm)
    gen = DCGANGenerator(z_dim=z, feature_maps=8, batch_norm=batch_norm, fc_units=units)
    # z -> units (with its BN scale and shift, or a bias), then units -> projection instead of z -> projection.
    hidden = z * units + (2 * units if batch_norm else units)
    assert n_params(gen) - n_params(plain) == hidden + (units - z) * projected
    assert gen(torch.randn(5, z)).shape == (5, 1, 28, 28)
    assert isinstance(gen.net[0], nn.Linear) and gen.net[0].out_features == units


@pytest.mark.parametrize("minibatch", [None, "discrimination"])
def test_fc_units_make_the_discriminator_features_the_hidden_layer(minibatch):
    plain = DCGANDiscriminator(image_size=28, feature_maps=8, minibatch=minibatch)
    dis = DCGANDiscriminator(image_size=28, feature_maps=8, minibatch=minibatch, fc_units=24)
    x = torch.randn(6, 1, 28, 28)
    assert dis.feature_dim == 24 and dis.features(x).shape == (6, 24)
    torch.testing.assert_close(dis(x), dis.head(dis.features(x)).squeeze(1))
    if minibatch is None:  # conv features (16 x 7 x 7) -> 24 units + BN; head 24 -> 1 instead of 784 -> 1
        flat = 16 * 7 * 7
        assert n_params(dis) - n_params(plain) == flat * 24 + 2 * 24 + (24 - flat)


def test_fc_units_take_spectral_norm_and_no_batch_norm():
    dis = DCGANDiscriminator(image_size=16, feature_maps=8, fc_units=24, spectral_norm=True)
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in dis.modules())
    linears = [m for m in dis.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 2 and all(hasattr(m, "parametrizations") for m in linears)


def test_negative_fc_units_are_refused():
    with pytest.raises(UsageError, match=r"Argument `fc_units` should be zero \(no such layer\) or a positive "
                       r"integer, but given -2"):
        DCGANGenerator(fc_units=-2)
