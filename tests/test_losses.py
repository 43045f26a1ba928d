import math

import pytest
import torch
from torch.testing import assert_close

from gan_ignite.errors import UsageError
from gan_ignite.losses import (
    MinimaxLoss,
    NonSaturatingLoss,
    bce_dis_loss,
    bce_gen_loss,
    get_loss,
    minimax_gen_loss,
)


def sigmoid(t: float) -> float:
    return 1 / (1 + math.exp(-t))


def test_bce_dis_loss_matches_hand_computation():
    real, fake = [0.5, -1.0], [2.0, 0.0, -3.0]
    expected = -sum(math.log(sigmoid(t)) for t in real) / 2 - sum(math.log(1 - sigmoid(t)) for t in fake) / 3
    assert_close(bce_dis_loss(torch.tensor(real), torch.tensor(fake)), torch.tensor(expected))


def test_generator_losses_match_hand_computation():
    fake = [1.5, -0.5]
    non_saturating = -sum(math.log(sigmoid(t)) for t in fake) / 2
    minimax = sum(math.log(1 - sigmoid(t)) for t in fake) / 2
    assert_close(bce_gen_loss(torch.tensor(fake)), torch.tensor(non_saturating))
    assert_close(minimax_gen_loss(torch.tensor(fake)), torch.tensor(minimax))


def test_losses_are_stable_for_huge_logits():
    # A sigmoid followed by log would give inf or nan here.
    huge = torch.tensor([200.0, -200.0])
    assert_close(bce_dis_loss(huge[:1], huge[1:]), torch.tensor(0.0))
    assert_close(bce_gen_loss(huge[1:]), torch.tensor(200.0))
    assert_close(minimax_gen_loss(huge[:1]), torch.tensor(-200.0))
    grad_input = torch.tensor([-200.0], requires_grad=True)
    bce_gen_loss(grad_input).backward()
    assert torch.isfinite(grad_input.grad).all() and grad_input.grad.item() == pytest.approx(-1.0)


def test_non_saturating_gradient_is_strong_where_minimax_saturates():
    # D rejects the sample confidently: minimax's gradient vanishes, the non-saturating one does not.
    logits = torch.tensor([-8.0], requires_grad=True)
    bce_gen_loss(logits).backward()
    ns_grad = logits.grad.abs().item()
    logits.grad = None
    minimax_gen_loss(logits).backward()
    assert ns_grad > 0.99 and logits.grad.abs().item() < 1e-3


def test_loss_objects_report_terms_and_probabilities():
    real, fake = torch.tensor([0.0, 2.0]), torch.tensor([-1.0])
    loss = NonSaturatingLoss()
    assert_close(loss.discriminator(real, fake)["loss"], bce_dis_loss(real, fake))
    assert_close(loss.generator(fake)["loss"], bce_gen_loss(fake))
    assert_close(loss.dis_output(real), torch.tensor((0.5 + sigmoid(2.0)) / 2))
    assert_close(MinimaxLoss().generator(fake)["loss"], minimax_gen_loss(fake))


def test_get_loss_by_name_and_unknown_name():
    assert isinstance(get_loss("minimax"), MinimaxLoss)
    with pytest.raises(UsageError, match=r"Argument `loss` should be one of gan, minimax, lsgan, ebgan, hinge, wgan-gp, ssgan, but given 'wgan'"):
        get_loss("wgan")
