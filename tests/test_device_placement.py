"""CUDA correctness without a GPU: the step and the per-iteration extensions run on the ``meta`` device.

A meta tensor has a shape, a dtype and a device but no data: every operation on it runs
(so a whole training iteration does) and any attempt to read a value (``.item()``,
``float(t)``, ``.tolist()``, an ``if`` on a tensor) raises. A step that mixed in a
hidden CPU tensor, or waited for the host, fails here exactly where it would slow a GPU
down or break on one. A dispatch mode records every operation that makes a CPU tensor
besides, since a 0-d CPU tensor may legally join a device computation.
"""

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from ignite.engine import Events
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from experiments import ebgan_mnist, gan_mnist, ssgan_mnist
from gan_ignite.config import ExperimentConfig, parse_config
from gan_ignite.losses import get_loss
from gan_ignite.models import DCGANDiscriminator, DCGANGenerator
from gan_ignite.updaters import make_gan_step

SMALL = ["--image-size", "16", "--feature-maps", "8", "--z-dim", "8", "--batch-size", "8", "--n-samples", "4",
         "--no-progress"]


class CPUTensorRecorder(TorchDispatchMode):
    """Records the operations that produce CPU tensors, except inside optimizer steps.

    torch's non-capturable Adam keeps its step counters on the CPU by design (they are
    host numbers, read without a device sync), so optimizer steps are left out.
    """

    def __init__(self) -> None:
        super().__init__()
        self.cpu_ops: list[str] = []
        self.in_optimizer = False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not self.in_optimizer and any(isinstance(t, torch.Tensor) and t.device.type == "cpu"
                                         for t in tree_leaves(out)):
            self.cpu_ops.append(str(func))
        return out


@pytest.fixture
def recorder():
    mode = CPUTensorRecorder()

    def pre(*args):
        mode.in_optimizer = True

    def post(*args):
        mode.in_optimizer = False

    hooks = [register_optimizer_step_pre_hook(pre),
             register_optimizer_step_post_hook(post)]
    yield mode
    for hook in hooks:
        hook.remove()


def meta_step(loss, dis=None, **options):
    gen = DCGANGenerator(z_dim=8, image_size=16, channels=1, feature_maps=8).to("meta")
    dis = (dis or DCGANDiscriminator(image_size=16, channels=1, feature_maps=8)).to("meta")
    opt_gen, opt_dis = torch.optim.Adam(gen.parameters()), torch.optim.Adam(dis.parameters())
    return make_gan_step(gen, dis, opt_gen, opt_dis, loss, z_dim=8, device="meta", **options)


def engine_at(iteration):
    from types import SimpleNamespace

    return SimpleNamespace(state=SimpleNamespace(iteration=iteration))


@pytest.mark.parametrize("name", ["gan", "minimax", "lsgan", "hinge", "wgan-gp"])
@pytest.mark.parametrize("options", [{}, {"dis_batches": "joint"}, {"reuse_fake": False}],
                         ids=["default", "joint", "fresh-fake"])
def test_a_step_keeps_every_tensor_on_the_device_and_never_syncs(recorder, name, options):
    step = meta_step(get_loss(name), **options)
    batch = (torch.zeros(8, 1, 16, 16), torch.zeros(8, dtype=torch.long))  # as the loader gives it, on the CPU
    with recorder:
        for iteration in (1, 2):
            observation = step(engine_at(iteration), batch)
    assert all(v.device.type == "meta" and v.ndim == 0 for v in observation.values())
    assert recorder.cpu_ops == []


def meta_trainer(monkeypatch, tmp_path, module, *extra):
    monkeypatch.setattr(ExperimentConfig, "resolved_device", lambda self: "meta")
    config = parse_config(module.Config, [*SMALL, *extra, "--out", str(tmp_path / "run")])
    return module.build(config)


@pytest.mark.parametrize("module, extra", [
    (gan_mnist, []), (gan_mnist, ["--ema-decay", "0.9"]), (ebgan_mnist, []), (ssgan_mnist, []),
], ids=["gan", "gan-ema", "ebgan", "ssgan"])
def test_the_experiments_iterations_between_intervals_run_on_the_device(monkeypatch, tmp_path, recorder,
                                                                        module, extra):
    trainer = meta_trainer(monkeypatch, tmp_path, module, "--log-interval", "50", *extra)
    seen = []

    # From the step to the last extension of iterations 2 to 4 (iteration 1 builds lazy
    # state, the optimizers' moments); the batch fetch, on the CPU, is outside.
    @trainer.engine.on(Events.ITERATION_STARTED)
    def record(engine):
        if engine.state.iteration >= 2:
            recorder.__enter__()

    @trainer.engine.on(Events.ITERATION_COMPLETED)
    def stop(engine):
        seen.append(dict(trainer.observation))
        if engine.state.iteration >= 2:
            recorder.__exit__(None, None, None)
        if engine.state.iteration == 4:
            engine.terminate()

    trainer.run()
    assert len(seen) == 4
    assert all(v.device.type == "meta" for v in seen[-1].values() if isinstance(v, torch.Tensor))
    assert recorder.cpu_ops == []
