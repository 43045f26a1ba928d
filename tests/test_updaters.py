import copy
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from gan_ignite.errors import UsageError
from gan_ignite.losses import NonSaturatingLoss
from gan_ignite.models import DCGANDiscriminator, DCGANGenerator
from gan_ignite.updaters import make_gan_step

Z_DIM = 8


def build(n_dis=1, dis_batches="separate", batch_norm=True):
    torch.manual_seed(0)
    gen = DCGANGenerator(z_dim=Z_DIM, image_size=16, channels=1, feature_maps=8, batch_norm=batch_norm)
    dis = DCGANDiscriminator(image_size=16, channels=1, feature_maps=8, batch_norm=batch_norm)
    opt_gen = torch.optim.Adam(gen.parameters(), lr=1e-3)
    opt_dis = torch.optim.Adam(dis.parameters(), lr=1e-3)
    return make_gan_step(
        gen, dis, opt_gen, opt_dis, NonSaturatingLoss(), z_dim=Z_DIM, n_dis=n_dis, dis_batches=dis_batches
    )


def engine_at(iteration):
    return SimpleNamespace(state=SimpleNamespace(iteration=iteration))


def real_batch(n=6):
    return torch.rand(n, 1, 16, 16) * 2 - 1, torch.zeros(n, dtype=torch.long)


def params(module):
    return [p.detach().clone() for p in module.parameters()]


def changed(before, module):
    return all(not torch.equal(b, a) for b, a in zip(before, module.parameters()) if a.dim() > 1)


def test_one_step_updates_both_networks_and_observes_finite_values():
    step = build()
    gen_before, dis_before = params(step.gen), params(step.dis)
    observation = step(engine_at(1), real_batch())
    assert set(observation) == {"dis/loss", "dis/real", "dis/fake", "gen/loss"}
    assert all(isinstance(v, float) and math.isfinite(v) for v in observation.values())
    assert 0 < observation["dis/real"] < 1 and 0 < observation["dis/fake"] < 1
    assert changed(gen_before, step.gen) and changed(dis_before, step.dis)


def test_discriminator_step_leaves_no_gradient_in_the_generator():
    step = build()
    gen_before = params(step.gen)
    step.update_dis(real_batch()[0])
    assert all(p.grad is None for p in step.gen.parameters())
    assert all(torch.equal(b, a) for b, a in zip(gen_before, step.gen.parameters()))
    assert all(p.grad is not None for p in step.dis.parameters())


def test_generator_step_leaves_the_discriminator_untouched_and_trainable():
    step = build()
    dis_before = params(step.dis)
    step.update_gen(real_batch(4)[0])
    assert all(p.grad is None for p in step.dis.parameters())
    assert all(p.requires_grad for p in step.dis.parameters())
    # Batch norm running statistics may move; the weights must not.
    assert all(torch.equal(b, a) for b, a in zip(dis_before, step.dis.parameters()))


def test_dis_observation_matches_a_direct_computation():
    step = build()
    real, _ = real_batch()
    torch.manual_seed(5)
    dis_copy = copy.deepcopy(step.dis)
    terms = step.update_dis(real)
    torch.manual_seed(5)
    fake = step.gen(torch.randn(len(real), Z_DIM))
    expected_real = torch.sigmoid(dis_copy(real)).mean()
    assert terms["real"].item() == pytest.approx(expected_real.item(), rel=1e-5)
    loss = NonSaturatingLoss().discriminator(dis_copy(real), dis_copy(fake.detach()))["loss"]
    assert terms["loss"].item() == pytest.approx(loss.item(), rel=1e-5)


def test_generator_updated_every_n_dis_iterations():
    step = build(n_dis=3)
    keys = [set(step(engine_at(it), real_batch())) for it in range(1, 7)]
    has_gen = ["gen/loss" in k for k in keys]
    assert has_gen == [False, False, True, False, False, True]


def test_joint_batches_give_the_same_result_as_separate_without_batch_norm():
    separate, joint = build(dis_batches="separate", batch_norm=False), build(dis_batches="joint", batch_norm=False)
    real, _ = real_batch()
    torch.manual_seed(1)
    a = separate.update_dis(real)
    torch.manual_seed(1)
    b = joint.update_dis(real)
    for key in ("loss", "real", "fake"):
        assert a[key].item() == pytest.approx(b[key].item(), rel=1e-5)


def test_joint_batches_differ_with_batch_norm():
    # Batch norm normalises one concatenated batch differently from two separate ones.
    separate, joint = build(dis_batches="separate"), build(dis_batches="joint")
    real, _ = real_batch()
    torch.manual_seed(1)
    a = separate.update_dis(real)
    torch.manual_seed(1)
    b = joint.update_dis(real)
    assert a["loss"].item() != pytest.approx(b["loss"].item(), rel=1e-4)


def test_tuple_outputs_split_in_joint_mode():
    from typing import NamedTuple

    from gan_ignite.updaters import _split

    head, tail = _split((torch.arange(5), torch.arange(10).reshape(5, 2)), 2)
    assert torch.equal(head[0], torch.tensor([0, 1])) and torch.equal(tail[1], torch.tensor([[4, 5], [6, 7], [8, 9]]))

    class Out(NamedTuple):
        energy: torch.Tensor
        codes: torch.Tensor

    head, tail = _split(Out(torch.arange(4), torch.arange(8).reshape(4, 2)), 1)
    assert isinstance(head, Out) and torch.equal(tail.energy, torch.tensor([1, 2, 3]))


class PenalisedLoss(NonSaturatingLoss):
    """Extra terms that see the step's inputs: a stand-in for a gradient penalty or feature matching."""

    def __init__(self):
        self.seen = {}

    def dis_extra(self, inputs):
        self.seen["dis"] = inputs
        penalty = inputs.real.mean() ** 2 + 0.0 * sum(p.sum() for p in inputs.dis.parameters())
        return {"loss": 3.0 * penalty, "penalty": penalty}

    def gen_extra(self, inputs):
        self.seen["gen"] = inputs
        return {"match": (inputs.real.mean() - inputs.fake.mean()).abs()}


def test_extra_terms_are_added_to_the_loss_and_observed():
    step = build()
    step.loss = PenalisedLoss()
    real, labels = real_batch()
    torch.manual_seed(2)
    observation = step(engine_at(1), (real, labels))
    plain = build()
    torch.manual_seed(2)
    expected = plain(engine_at(1), (real, labels))
    penalty = (real.mean() ** 2).item()
    assert observation["dis/penalty"] == pytest.approx(penalty, rel=1e-5)
    assert observation["dis/loss"] == pytest.approx(expected["dis/loss"] + 3 * penalty, rel=1e-5)
    assert "gen/match" in observation and observation["gen/loss"] == pytest.approx(expected["gen/loss"], rel=1e-5)
    dis_inputs, gen_inputs = step.loss.seen["dis"], step.loss.seen["gen"]
    assert torch.equal(dis_inputs.labels, labels) and dis_inputs.real_out.shape == (6,)
    assert gen_inputs.real_out is None and gen_inputs.fake.requires_grad


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_dis": 0}, r"Argument `n_dis` should be a positive integer, but given 0"),
        ({"dis_batches": "mixed"}, r"Argument `dis_batches` should be one of separate, joint, but given 'mixed'"),
    ],
)
def test_bad_options(kwargs, message):
    gen, dis = nn.Linear(2, 2), nn.Linear(2, 1)
    opt = torch.optim.SGD(gen.parameters(), lr=0.1)
    with pytest.raises(UsageError, match=message):
        make_gan_step(gen, dis, opt, opt, NonSaturatingLoss(), z_dim=2, **kwargs)


# -- the lean hot path ------------------------------------------------------------------------
def count_forwards(module):
    calls = []
    module.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    return calls


@pytest.mark.parametrize("reuse_fake, expected", [(True, [6]), (False, [6, 6])])
def test_one_generator_forward_per_iteration_unless_fresh_fakes(reuse_fake, expected):
    step = build()
    step.reuse_fake = reuse_fake
    calls = count_forwards(step.gen)
    step(engine_at(1), real_batch())
    assert calls == expected


def test_discriminator_only_iterations_generate_once_without_a_graph():
    step = build(n_dis=2)
    outputs = []
    step.gen.register_forward_hook(lambda m, args, out: outputs.append(out.requires_grad))
    step(engine_at(1), real_batch())
    assert outputs == [False]


def plain_iteration(gen, dis, opt_gen, opt_dis, real):
    """The PyTorch DCGAN tutorial's iteration on logits: one fake batch, detached for D."""
    bce = nn.functional.binary_cross_entropy_with_logits
    fake = gen(torch.randn(len(real), Z_DIM))
    real_out, fake_out = dis(real), dis(fake.detach())
    loss_dis = bce(real_out, torch.ones_like(real_out)) + bce(fake_out, torch.zeros_like(fake_out))
    opt_dis.zero_grad()
    loss_dis.backward()
    opt_dis.step()
    out = dis(fake)
    loss_gen = bce(out, torch.ones_like(out))
    opt_gen.zero_grad()
    loss_gen.backward()
    opt_gen.step()
    return loss_dis.item(), loss_gen.item()


def test_the_step_computes_the_tutorial_iteration():
    step = build()
    gen, dis = copy.deepcopy(step.gen), copy.deepcopy(step.dis)
    opt_gen, opt_dis = torch.optim.Adam(gen.parameters(), lr=1e-3), torch.optim.Adam(dis.parameters(), lr=1e-3)
    real = real_batch()[0]
    for iteration in (1, 2):
        torch.manual_seed(iteration)
        observation = step(engine_at(iteration), (real, None))
        torch.manual_seed(iteration)
        loss_dis, loss_gen = plain_iteration(gen, dis, opt_gen, opt_dis, real)
        assert observation["dis/loss"] == pytest.approx(loss_dis, rel=1e-5)
        assert observation["gen/loss"] == pytest.approx(loss_gen, rel=1e-5)
    for mine, theirs in ((step.gen, gen), (step.dis, dis)):
        for a, b in zip(mine.state_dict().values(), theirs.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_observation_is_floats_on_the_cpu_and_detached_tensors_otherwise():
    step = build()
    assert step.host_observation and all(isinstance(v, float) for v in step(engine_at(1), real_batch()).values())
    step.host_observation = False
    observation = step(engine_at(2), real_batch())
    assert all(isinstance(v, torch.Tensor) and v.ndim == 0 and not v.requires_grad for v in observation.values())
    assert all(v.dtype == torch.float32 for v in observation.values())
    on_meta = make_gan_step(step.gen, step.dis, step.opt_gen, step.opt_dis, step.loss, z_dim=Z_DIM, device="meta")
    assert not on_meta.host_observation  # an accelerator's step must not wait for the host


def test_bf16_autocast_runs_the_networks_in_bfloat16_and_observes_float32():
    step = build()
    step.precision = type(step.precision)("bf16", torch.device("cpu"), ("gen", "dis"))
    dtypes = []
    step.dis.register_forward_hook(lambda m, args, out: dtypes.append(out.dtype))
    observation = step(engine_at(1), real_batch())
    assert dtypes and all(d == torch.bfloat16 for d in dtypes)
    assert all(math.isfinite(v) for v in observation.values())
    assert all(p.dtype == torch.float32 for p in step.gen.parameters())  # the weights stay float32


def test_unknown_amp_mode_is_refused():
    step = build()
    with pytest.raises(UsageError, match=r"Argument `amp` should be one of off, bf16, fp16, but given 'fp8'"):
        make_gan_step(step.gen, step.dis, step.opt_gen, step.opt_dis, step.loss, z_dim=Z_DIM, amp="fp8")
