"""Gradients at the flat/image boundaries of a channels_last DCGAN come back in their tensor's layout."""

import pytest
import torch
from torch import nn

from gan_ignite.models import DCGANDiscriminator, DCGANGenerator
from gan_ignite.models.layout import LayoutFlatten, grad_in_input_layout

CL = torch.channels_last


def layout(t):
    if t.is_contiguous():
        return "contiguous"
    return "channels_last" if t.is_contiguous(memory_format=CL) else "strided"


def gradient_of(x, through):
    """The gradient reaching the intermediate tensor ``x`` (a leaf's is restrided to the leaf's layout)."""
    leaf = x.detach().requires_grad_()
    inner = leaf * 1
    seen = []
    inner.register_hook(seen.append)
    through(inner).sum().backward()
    return seen[0]


def test_the_identity_hands_its_gradient_back_in_its_inputs_layout():
    weight = torch.randn(4, 3, 5, 5)
    x = torch.randn(4, 3, 5, 5).contiguous(memory_format=CL)
    grad = gradient_of(x, lambda t: grad_in_input_layout(t).flatten(1) * weight.flatten(1))
    assert layout(grad) == "channels_last" and torch.equal(grad, weight)
    plain = gradient_of(x, lambda t: t.flatten(1) * weight.flatten(1))
    assert layout(plain) == "contiguous"  # what a plain flatten hands back: the case this is for
    y = torch.randn(4, 3, 5, 5)
    grad = gradient_of(y, lambda t: grad_in_input_layout(t) * weight.contiguous(memory_format=CL))
    assert layout(grad) == "contiguous" and torch.equal(grad, weight)


def test_layout_flatten_is_flatten_with_the_same_state():
    assert isinstance(LayoutFlatten(), nn.Flatten)
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(LayoutFlatten()(x.contiguous(memory_format=CL)), nn.Flatten()(x))


def gradient_layouts(model, x, kind):
    """The layouts of the gradients reaching the outputs of ``model``'s ``kind`` activations."""
    seen = []

    def record(module, inputs, output):
        output.register_hook(lambda grad: seen.append((layout(output), layout(grad))))

    for module in model.modules():
        if isinstance(module, kind):
            module.register_forward_hook(record)
    model(x).sum().backward()
    return seen


def test_the_discriminators_last_activation_gets_its_gradient_in_its_own_layout():
    dis = DCGANDiscriminator(image_size=16, channels=3, feature_maps=8).to(memory_format=CL)
    x = torch.randn(4, 3, 16, 16).contiguous(memory_format=CL)
    seen = gradient_layouts(dis, x, nn.LeakyReLU)
    assert len(seen) == 2 and all(out == grad == "channels_last" for out, grad in seen), seen


def test_the_generators_projection_gets_its_gradient_in_its_own_layout():
    gen = DCGANGenerator(z_dim=8, image_size=16, channels=3, feature_maps=8).to(memory_format=CL)
    seen = gradient_layouts(gen, torch.randn(4, 8), nn.ReLU)
    assert seen[-1] == ("contiguous", "contiguous"), seen  # the ReLU after Unflatten (hooks run last first)
    assert all(out == grad for out, grad in seen), seen


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, CL], ids=["nchw", "channels_last"])
def test_the_layout_changes_no_value_and_passes_a_double_backward(memory_format):
    torch.manual_seed(0)
    dis = DCGANDiscriminator(image_size=16, channels=3, feature_maps=8)
    reference = DCGANDiscriminator(image_size=16, channels=3, feature_maps=8)
    reference.load_state_dict(dis.state_dict())
    reference.body[-1] = nn.Flatten()  # the layer this replaces
    x = torch.randn(4, 3, 16, 16)
    grads = []
    for model in (dis.to(memory_format=memory_format), reference.to(memory_format=memory_format)):
        images = x.contiguous(memory_format=memory_format).requires_grad_()
        (penalty,) = torch.autograd.grad(model(images).sum(), images, create_graph=True)  # as WGAN-GP does
        penalty.pow(2).sum().backward()
        grads.append([p.grad for p in model.parameters()])
    for ours, theirs in zip(*grads):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
