"""FiniteGuard: host numbers checked every iteration, device values and weights at its checks, no sync in between."""

import math

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from gan_ignite import extensions as E
from gan_ignite.errors import DivergenceError
from gan_ignite.extensions import finite_guard
from gan_ignite.trainer import Trainer

NO_CHECKPOINT = "no checkpoint was written before it; lower the learning rate"


class ScalarReads(TorchDispatchMode):
    """Counts the reads of a tensor's value by the host: ``.item()``, ``float(t)``, ``bool(t)``."""

    READS = {torch.ops.aten._local_scalar_dense.default, torch.ops.aten.is_nonzero.default}

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += func in self.READS
        return func(*args, **(kwargs or {}))


class Counted(E.Extension):
    """Runs ``extension`` under :class:`ScalarReads`; ``reads[i]``: its reads at iteration i + 1."""

    def __init__(self, extension):
        self.extension, self.reads = extension, []
        self.priority, self.name = extension.priority, extension.name

    def initialize(self, trainer):
        self.extension.initialize(trainer)

    def __call__(self, trainer):
        with ScalarReads() as reads:
            self.extension(trainer)
        self.reads.append(reads.count)


def scripted(values):
    """An update function observing ``values[iteration - 1]`` (a dict)."""
    return lambda engine, batch: dict(values[engine.state.iteration - 1])


def device_values(*values, dtype=torch.float32):
    """Observations of 0-d CPU tensors, which a guard with ``host_devices=()`` treats as device values."""
    return [{"dis/loss": torch.tensor(1.0, dtype=dtype), "gen/loss": torch.tensor(v, dtype=dtype)} for v in values]


def run(values, guard, length=None, models=None, out=None):
    trainer = Trainer(scripted(values), list(range(length or len(values))), stop_trigger=(len(values), "iteration"),
                      out=out, models=models)
    trainer.extend(guard)
    trainer.run()
    return trainer


def test_host_numbers_and_cpu_tensors_are_checked_in_their_own_iteration(tmp_path):
    values = [{"gen/loss": 1.0, "dis/loss": torch.tensor(1.0)}, {"gen/loss": 1.0, "dis/loss": torch.tensor(math.inf)}]
    with pytest.raises(DivergenceError, match=rf"^dis/loss became inf at iteration 2 \(epoch 1\); {NO_CHECKPOINT}"):
        run(values * 5, E.FiniteGuard(interval=(10, "iteration")), out=tmp_path)


def test_device_values_are_not_read_between_checks(tmp_path):
    # Meta tensors have no value: reading one raises, so the run shows none was read.
    meta = {"gen/loss": torch.tensor(1.0, device="meta"), "dis/real": torch.tensor(0.5, device="meta")}
    trainer = run([meta] * 4, E.FiniteGuard(interval=(10, "iteration")), length=10, out=tmp_path)
    assert trainer.iteration == 4


def test_no_host_sync_at_iterations_off_the_interval(tmp_path):
    models = {"gen": nn.Linear(2, 2)}  # its weights are read only at the checks too
    guard = Counted(E.FiniteGuard(interval=(3, "iteration"), host_devices=()))
    run(device_values(*[0.5] * 7), guard, length=10, models=models, out=tmp_path)
    assert guard.reads == [0, 0, 2, 0, 0, 2, 0]  # one read for the values and one for the weights, at 3 and 6


def test_cpu_tensors_are_host_values_by_default(tmp_path):
    guard = Counted(E.FiniteGuard(interval=(3, "iteration")))
    run(device_values(0.5, 0.5), guard, length=10, out=tmp_path)
    assert guard.reads == [2, 2]  # each value read in its own iteration: reading a CPU tensor waits for nothing


def test_a_non_finite_device_value_is_reported_at_the_check_with_its_key_and_iteration(tmp_path):
    values = device_values(1.0, 1.0, math.nan, 1.0, 1.0, 1.0)
    trainer = Trainer(scripted(values), list(range(10)), stop_trigger=(6, "iteration"), out=tmp_path)
    trainer.extend(E.FiniteGuard(interval=(5, "iteration"), host_devices=()))
    logged = []
    trainer.extend(E.make_extension(trigger=(5, "iteration"), priority=E.PRIORITY_EDITOR, name="log")(
        lambda t: logged.append(t.iteration)))
    with pytest.raises(DivergenceError, match=(
        rf"^gen/loss became nan at iteration 3 \(epoch 1\), found at iteration 5; {NO_CHECKPOINT}"
    )):
        trainer.run()
    assert logged == []  # the interval's end was checked before its log


def test_every_key_non_finite_in_the_first_broken_iteration_is_named(tmp_path):
    values = [{"dis/loss": torch.tensor(v), "gen/loss": torch.tensor(w)}
              for v, w in ((1.0, 1.0), (math.inf, -math.inf), (math.nan, 1.0))]
    with pytest.raises(DivergenceError, match=(
        r"^dis/loss became inf and gen/loss became -inf at iteration 2 \(epoch 1\), found at iteration 3; "
    )):
        run(values, E.FiniteGuard(interval=(3, "iteration"), host_devices=()), length=10, out=tmp_path)


def test_large_finite_device_values_of_mixed_precision_are_not_mistaken_for_inf(tmp_path):
    values = [{"big": torch.tensor(1e300, dtype=torch.float64), "small": torch.tensor(1.0)}] * 3
    assert run(values, E.FiniteGuard(interval=(3, "iteration"), host_devices=()), out=tmp_path).iteration == 3


def test_kept_device_values_are_checked_early_when_many(tmp_path, monkeypatch):
    monkeypatch.setattr(finite_guard, "_MAX_KEPT", 2)  # iterations kept: a check after iteration 2
    with pytest.raises(DivergenceError, match=r"^gen/loss became nan at iteration 1 \(epoch 1\), found at iteration 2"):
        run(device_values(math.nan, 1.0, 1.0), E.FiniteGuard(interval=(100, "iteration"), host_devices=()),
            length=10, out=tmp_path)


class BreakWeight:
    """Finite observations; at ``iteration`` it writes inf into one weight of ``gen``."""

    def __init__(self, iteration):
        self.gen = nn.Linear(2, 3)
        self.models = {"gen": self.gen}
        self.iteration = iteration

    def __call__(self, engine, batch):
        if engine.state.iteration == self.iteration:
            with torch.no_grad():
                self.gen.weight[0, 1] = math.inf
        return {"dis/loss": 1.0}


@pytest.mark.parametrize("interval, snapshots, epoch_length, found_at", [
    ((3, "iteration"), None, 10, 3),  # at the interval's end
    ((10, "iteration"), (1, "epoch"), 4, 4),  # at the epoch's end, where snapshots are written by default
    ((10, "iteration"), (5, "iteration"), 10, 5),  # at the snapshot schedule given
    ((10, "iteration"), None, 4, None),  # neither: not seen before the run ends at iteration 8
])
def test_weights_are_checked_at_the_interval_and_the_snapshots(tmp_path, interval, snapshots, epoch_length, found_at):
    update = BreakWeight(2)
    trainer = Trainer(update, list(range(epoch_length)), stop_trigger=(8, "iteration"), out=tmp_path)
    trainer.extend(E.FiniteGuard(interval=interval, snapshots=snapshots))
    if found_at is None:
        trainer.run()
        return
    with pytest.raises(DivergenceError, match=rf"^the weight gen\.weight became inf at iteration {found_at} "):
        trainer.run()


def test_weights_are_not_checked_when_turned_off(tmp_path):
    trainer = Trainer(BreakWeight(2), [0, 1, 2, 3], stop_trigger=(1, "epoch"), out=tmp_path)
    trainer.extend(E.FiniteGuard(interval=(1, "iteration"), check_weights=False))
    trainer.run()
    assert trainer.iteration == 4


def resumed(tmp_path, state, *extensions):
    trainer = Trainer(scripted([{"dis/loss": 1.0}] * 8), list(range(8)), stop_trigger=(8, "iteration"), out=tmp_path)
    for extension in extensions:
        trainer.extend(extension)
    trainer.load_state_dict(state)
    trainer.run()
    return trainer


def test_a_checkpoint_of_the_former_divergence_check_resumes_with_the_guard(tmp_path):
    first = Trainer(scripted([{"dis/loss": 1.0}] * 8), list(range(8)), stop_trigger=(3, "iteration"),
                    out=tmp_path / "a")
    first.extend(E.DivergenceCheck(interval=(2, "iteration")))
    first.run()
    state = first.state_dict()
    # What the DivergenceCheck of before the split saved: its health state alone, no "guard".
    state["extensions"]["DivergenceCheck"] = {"counts": {"dis_wins": 1, "collapse": 0},
                                              "sums": [0.0, 0.0, 0],
                                              "interval": {"previous_iteration": 3, "previous_epoch_detail": 3 / 8}}
    guard = Counted(E.FiniteGuard(interval=(2, "iteration"), check_weights=False, host_devices=()))
    assert resumed(tmp_path / "b", state, guard).iteration == 8
    check = E.DivergenceCheck(interval=(2, "iteration"))
    assert resumed(tmp_path / "c", state, check).iteration == 8
    assert check.health.state_dict()["counts"] == {"dis_wins": 1, "collapse": 0}  # loaded (neither check applies)


def test_the_guards_state_round_trips(tmp_path):
    guard = E.FiniteGuard(interval=(3, "iteration"))
    run([{"dis/loss": 1.0}] * 4, guard, length=10, out=tmp_path)
    other = E.FiniteGuard(interval=(3, "iteration"))
    other.load_state_dict(guard.state_dict())
    assert other.state_dict() == guard.state_dict() == {
        "interval": {"previous_iteration": 4, "previous_epoch_detail": 0.4},
        "snapshots": {"previous_iteration": 4, "previous_epoch_detail": 0.4},
    }


def test_device_values_are_copied_when_kept_as_an_update_may_reuse_its_tensors(tmp_path):
    loss = torch.tensor(1.0)  # overwritten every iteration, as a CUDA graph's outputs are

    def update(engine, batch):
        loss.fill_(math.nan if engine.state.iteration == 2 else 1.0)
        return {"gen/loss": loss}

    trainer = Trainer(update, list(range(10)), stop_trigger=(4, "iteration"), out=tmp_path)
    trainer.extend(E.FiniteGuard(interval=(4, "iteration"), host_devices=()))
    with pytest.raises(DivergenceError, match=r"^gen/loss became nan at iteration 2 \(epoch 1\), found at iteration 4"):
        trainer.run()


def test_an_interrupted_state_with_a_non_finite_weight_is_not_saved(tmp_path, capsys):
    import os
    import signal

    from gan_ignite.trainer import TrainingInterrupted

    net = nn.Linear(2, 2)

    def step(engine, batch):
        if engine.state.iteration == 3:
            with torch.no_grad():
                net.weight[0, 0] = float("inf")  # a step made a weight inf, the losses still finite
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C during the iteration
        return {"dis/loss": 1.0}

    trainer = Trainer(step, list(range(10)), stop_trigger=(10, "iteration"), out=tmp_path, models={"dis": net})
    trainer.extend(E.FiniteGuard(interval=(10, "iteration"), snapshots=(10, "iteration")))
    trainer.extend(E.snapshot(), trigger=(10, "iteration"))
    with pytest.raises(TrainingInterrupted):
        trainer.run()
    assert not list((tmp_path / "checkpoints").glob("*.pt"))
    assert "not saving the interrupted state of iteration 3: the weight dis.weight became inf" in capsys.readouterr().err


def test_a_weighted_pair_is_checked_by_its_value(tmp_path):
    trainer = Trainer(lambda engine, batch: {"dis/accuracy": (math.nan, 4.0)}, [0], stop_trigger=(1, "iteration"),
                      out=tmp_path)
    trainer.extend(E.FiniteGuard())
    with pytest.raises(DivergenceError, match=r"^dis/accuracy became nan at iteration 1"):
        trainer.run()
