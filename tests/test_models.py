"""Tests for gan_ignite.models: shapes, ranges, initialisation, architecture choices."""

import pytest
import torch
from torch import nn

from gan_ignite.errors import UsageError
from gan_ignite.models import (
    SUPPORTED_IMAGE_SIZES,
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    init_dcgan_weights,
    init_fan_in_weights,
)

BAD_SIZE = r"Argument `image_size` should be one of 16, 28, 32, 64, but given {}; pass --image-size"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("image_size", SUPPORTED_IMAGE_SIZES)
def test_dcgan_shapes(image_size, channels):
    gen = DCGANGenerator(z_dim=16, image_size=image_size, channels=channels, feature_maps=8)
    dis = DCGANDiscriminator(image_size=image_size, channels=channels, feature_maps=8)
    images = gen(torch.randn(3, 16))
    assert images.shape == (3, channels, image_size, image_size)
    assert dis(images).shape == (3,)
    features = dis.features(images)
    assert features.shape == (3, dis.feature_dim)
    torch.testing.assert_close(dis(images), dis.head(features).squeeze(1))


@pytest.mark.parametrize("batch_norm", [True, False])
def test_dcgan_28_follows_chainer_mnist(batch_norm):
    """Linear to 2fm x 7 x 7, then exactly two ConvTranspose2d(4, stride 2, pad 1)."""
    gen = DCGANGenerator(z_dim=10, image_size=28, feature_maps=8, batch_norm=batch_norm)
    linears = [m for m in gen.modules() if isinstance(m, nn.Linear)]
    deconvs = [m for m in gen.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [m.out_features for m in linears] == [16 * 7 * 7]
    assert [(m.kernel_size, m.stride, m.padding) for m in deconvs] == [((4, 4), (2, 2), (1, 1))] * 2
    assert [m.out_channels for m in deconvs] == [8, 1]


@pytest.mark.parametrize("image_size, expected", [(16, [16, 8]), (64, [64, 32, 16, 8])])
def test_dcgan_channels_halve_per_stage(image_size, expected):
    gen = DCGANGenerator(image_size=image_size, feature_maps=8)
    dis = DCGANDiscriminator(image_size=image_size, feature_maps=8)
    assert [m.in_channels for m in gen.modules() if isinstance(m, nn.ConvTranspose2d)] == expected
    convs = [m.out_channels for m in dis.modules() if isinstance(m, nn.Conv2d)]
    assert convs == expected[::-1]


def test_generator_output_is_tanh_bounded():
    gen = DCGANGenerator(z_dim=8, image_size=16, feature_maps=8)
    last_deconv = [m for m in gen.modules() if isinstance(m, nn.ConvTranspose2d)][-1]
    with torch.no_grad():
        last_deconv.weight.mul_(1000)  # batch norm undoes large noise; saturate after it
    images = gen(torch.randn(16, 8))
    assert images.abs().max() <= 1.0
    assert images.abs().max() > 0.99


def test_generator_accepts_chainer_shaped_noise():
    gen = DCGANGenerator(z_dim=8, image_size=16, feature_maps=8).eval()
    z = torch.randn(4, 8)
    torch.testing.assert_close(gen(z.view(4, 8, 1, 1)), gen(z))


@pytest.mark.parametrize("model", [DCGANGenerator, DCGANDiscriminator])
@pytest.mark.parametrize("image_size", [30, 0, 128, 8])
def test_unsupported_image_size(model, image_size):
    with pytest.raises(UsageError, match=BAD_SIZE.format(image_size)):
        model(image_size=image_size)


def test_unsupported_image_size_given_as_text():
    with pytest.raises(UsageError, match=BAD_SIZE.format("'28'")):
        DCGANGenerator(image_size="28")


@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda: DCGANGenerator(z_dim=0), "z_dim"),
        (lambda: DCGANGenerator(channels=-1), "channels"),
        (lambda: DCGANDiscriminator(feature_maps=0), "feature_maps"),
        (lambda: MLPGenerator(image_size=0), "image_size"),
        (lambda: MLPDiscriminator(hidden=0), "hidden"),
    ],
)
def test_non_positive_arguments(make, argument):
    with pytest.raises(UsageError, match=f"Argument `{argument}` should be a positive integer"):
        make()


def _weights(model, types):
    return torch.cat([m.weight.detach().flatten() for m in model.modules() if isinstance(m, types)])


@pytest.mark.parametrize("model_class", [DCGANGenerator, DCGANDiscriminator])
def test_dcgan_init_statistics(model_class):
    model = model_class(image_size=64)
    weights = _weights(model, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))
    assert weights.numel() > 100_000  # enough draws for the tolerances below
    assert weights.std().item() == pytest.approx(0.02, abs=0.0005)
    assert weights.mean().item() == pytest.approx(0.0, abs=0.0005)
    scales = _weights(model, nn.BatchNorm2d)
    assert scales.mean().item() == pytest.approx(1.0, abs=0.005)
    assert scales.std().item() == pytest.approx(0.02, abs=0.005)
    for module in model.modules():
        if getattr(module, "bias", None) is not None:
            assert torch.count_nonzero(module.bias) == 0


@pytest.mark.parametrize("model", [DCGANGenerator, DCGANDiscriminator])
def test_batch_norm_false_builds_plain_variant(model):
    plain = model(image_size=32, feature_maps=8, batch_norm=False)
    normed = model(image_size=32, feature_maps=8, batch_norm=True)
    norm_types = (nn.BatchNorm1d, nn.BatchNorm2d)
    assert not any(isinstance(m, norm_types) for m in plain.modules())
    assert any(isinstance(m, norm_types) for m in normed.modules())
    # Without a norm after them, the layers need their biases (initialised to zero).
    biased = [m for m in plain.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert all(m.bias is not None and torch.count_nonzero(m.bias) == 0 for m in biased)


def test_discriminator_first_layer_has_no_batch_norm():
    dis = DCGANDiscriminator(image_size=64, feature_maps=8)
    first_stage = dis.body[0]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in first_stage.modules())
    assert isinstance(first_stage[-1], nn.LeakyReLU) and first_stage[-1].negative_slope == 0.2


def test_init_dcgan_weights_on_any_module():
    net = nn.Sequential(nn.Conv2d(3, 256, 5), nn.BatchNorm2d(256), nn.Linear(10, 10), nn.ReLU())
    assert init_dcgan_weights(net) is net
    assert net[0].weight.std().item() == pytest.approx(0.02, abs=0.001)
    assert net[1].weight.mean().item() == pytest.approx(1.0, abs=0.01)
    assert torch.count_nonzero(net[0].bias) == 0 and torch.count_nonzero(net[1].bias) == 0
    net.apply(init_dcgan_weights)  # the per-module style of PyTorch's DCGAN example
    assert net[0].weight.std().item() == pytest.approx(0.02, abs=0.001)


@pytest.mark.parametrize("layer", [
    nn.Linear(300, 200),
    nn.Conv2d(64, 128, 4, stride=2, padding=1),
    nn.ConvTranspose2d(256, 128, 4, stride=2, padding=1),  # each output sums 256 * 2 * 2 inputs
    nn.ConvTranspose2d(64, 32, 3, stride=1, padding=1),
])
def test_init_fan_in_weights_keeps_unit_variance(layer):
    # LeCun normal by its definition: a zero-mean unit-variance input gives a unit-variance
    # output at interior positions (the padded borders sum fewer inputs, so they are cut off).
    assert init_fan_in_weights(layer) is layer
    assert torch.count_nonzero(layer.bias) == 0
    shape = (64, layer.in_features) if isinstance(layer, nn.Linear) else (16, layer.in_channels, 16, 16)
    with torch.no_grad():
        out = layer(torch.randn(shape))
    if out.dim() == 4:
        out = out[:, :, 2:-2, 2:-2]
    assert out.var().item() == pytest.approx(1.0, rel=0.1)


@pytest.mark.parametrize("image_size, channels", [(28, 1), (32, 3), (64, 3)])
def test_dcgan_without_batch_norm_starts_with_spread_samples(image_size, channels):
    # N(0, 0.02) shrinks an un-normalised network's signal at every layer: the 32x32
    # generator's samples started with a spread of 0.003 (in [-1, 1]), D's logits at 0.01.
    gen = DCGANGenerator(z_dim=100, image_size=image_size, channels=channels, batch_norm=False)
    dis = DCGANDiscriminator(image_size=image_size, channels=channels, batch_norm=False)
    with torch.no_grad():
        samples = gen(torch.randn(64, 100))
        logits = dis(torch.rand(64, channels, image_size, image_size) * 2 - 1)
    assert samples.std(0).mean().item() > 0.05
    assert logits.std().item() > 0.05


@pytest.mark.parametrize("make_gen, make_dis", [
    (lambda: DCGANGenerator(z_dim=8, image_size=16, feature_maps=8),
     lambda: DCGANDiscriminator(image_size=16, feature_maps=8)),
    (lambda: MLPGenerator(z_dim=8, image_size=12), lambda: MLPDiscriminator(image_size=12)),
])
def test_gradients_reach_every_parameter(make_gen, make_dis):
    gen, dis = make_gen(), make_dis()
    dis(gen(torch.randn(4, 8))).sum().backward()
    for model in (gen, dis):
        for name, param in model.named_parameters():
            assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("image_size, channels", [(28, 1), (10, 3), (7, 1)])
def test_mlp_shapes(image_size, channels):
    gen = MLPGenerator(z_dim=20, image_size=image_size, channels=channels)
    dis = MLPDiscriminator(image_size=image_size, channels=channels)
    images = gen(torch.randn(5, 20))
    assert images.shape == (5, channels, image_size, image_size)
    assert dis(images).shape == (5,)
    assert dis.features(images).shape == (5, 128)
    torch.testing.assert_close(dis(images), dis.head(dis.features(images)).squeeze(1))


def test_mlp_is_the_keras_article_architecture():
    gen, dis = MLPGenerator(), MLPDiscriminator()
    for model, widths in ((gen, [(100, 128), (128, 784)]), (dis, [(784, 128), (128, 1)])):
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        assert [(m.in_features, m.out_features) for m in linears] == widths
        slopes = [m.negative_slope for m in model.modules() if isinstance(m, nn.LeakyReLU)]
        assert slopes == [0.01]
    images = gen(1000 * torch.randn(8, 100))
    assert images.abs().max() <= 1.0 and images.abs().max() > 0.99
