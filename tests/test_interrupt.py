"""SIGINT / SIGTERM: finish the iteration, save a checkpoint, exit with one line; resume is exact."""

import dataclasses
import os
import re
import shlex
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from benchmarks.kill_resume import SMALL, checkpoint_iterations, command, environment, final_weights, identical
from experiments import gan_mnist
from gan_ignite import extensions as E
from gan_ignite.cli import resume_command
from gan_ignite.config import parse_config
from gan_ignite.trainer import Trainer, TrainingInterrupted
from tests.conftest import PROJECT_ROOT
from tests.test_resume import Step, reference  # noqa: F401  (fixtures)


class SignalAt:
    """An extension that sends this process ``signum`` after iteration ``at``."""

    def __init__(self, signum, at):
        self.signum, self.at = signum, at

    def __call__(self, trainer):
        if trainer.engine.state.iteration == self.at:
            os.kill(os.getpid(), self.signum)


class SignalWhenSaved:
    """Checkpointed state that sends SIGINT while the ``at``-th snapshot is taken: a second Ctrl-C."""

    def __init__(self, at):
        self.at, self.saves = at, 0

    def state_dict(self):
        self.saves += 1
        if self.saves == self.at:
            os.kill(os.getpid(), signal.SIGINT)
        return {"value": torch.tensor(1.0)}

    def load_state_dict(self, state):
        pass


def test_a_signal_stops_after_the_iteration_and_a_second_one_does_not_break_the_save(tmp_path):
    step = Step()
    step.to_save["extra"] = SignalWhenSaved(at=2)  # the epoch snapshot at 2, then the one at 3
    trainer = Trainer(step, [1, 2], stop_trigger=(5, "epoch"), out=tmp_path)
    trainer.extend(SignalAt(signal.SIGINT, 3), name="signal")
    trainer.extend(E.snapshot(), trigger=(1, "epoch"))
    before = signal.getsignal(signal.SIGINT)  # Python's, or SIG_IGN under a background shell job
    with pytest.raises(TrainingInterrupted) as info:
        trainer.run()
    assert (info.value.signum, info.value.iteration, info.value.epoch) == (signal.SIGINT, 3, 2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["checkpoint_2.pt", "checkpoint_2.pt.sha256", "checkpoint_3.pt", "checkpoint_3.pt.sha256"]
    state = torch.load(tmp_path / "checkpoints" / "checkpoint_3.pt", weights_only=True)
    assert state["trainer"]["engine"]["iteration"] == 3
    # Three updates were made (the weight started at w0 and got +1 per iteration).
    first = torch.load(tmp_path / "checkpoints" / "checkpoint_2.pt", weights_only=True)
    torch.testing.assert_close(state["model"]["weight"], first["model"]["weight"] + 1)
    torch.testing.assert_close(step.model.weight.detach(), state["model"]["weight"])
    assert signal.getsignal(signal.SIGINT) is before  # restored
    # Run again in the same process: it continues the interrupted epoch, to iteration 10.
    trainer.run()
    assert trainer.engine.state.iteration == 10 and trainer.engine.state.epoch == 5
    torch.testing.assert_close(step.model.weight.detach(), state["model"]["weight"] + 7)


def test_a_signal_in_the_last_iteration_lets_the_run_finish(tmp_path):
    trainer = Trainer(Step(), [1, 2], stop_trigger=(2, "epoch"), out=tmp_path)
    trainer.extend(SignalAt(signal.SIGTERM, 4), name="signal")
    before = signal.getsignal(signal.SIGTERM)
    trainer.run()
    assert trainer.engine.state.iteration == 4
    assert signal.getsignal(signal.SIGTERM) is before


def test_resume_command_repeats_every_option_that_differs_from_the_default():
    config = gan_mnist.Config(out="runs/my run", classes=(7, 8), batch_norm=False, lr=1e-3, force=True)
    line = resume_command(config, "experiments.gan_mnist")
    words = shlex.split(line)
    assert words[:3] == ["python", "-m", "experiments.gan_mnist"] and words[-1] == "--resume"
    assert "--force" not in words
    assert parse_config(gan_mnist.Config, words[3:]) == dataclasses.replace(config, resume=True, force=False)


LINE = re.compile(
    r"interrupted at iteration (\d+) \(epoch (\d+)\); checkpoint saved: (\S+); continue with: (.+)\n"
)


def test_interrupted_experiments_save_say_how_to_resume_and_resume_exactly(reference, tmp_path):
    # Ctrl-C reaches the whole process group, data loader workers included; SIGTERM the main process.
    cases = [(tmp_path / "int", signal.SIGINT, "2", os.killpg), (tmp_path / "term", signal.SIGTERM, "0", os.kill)]
    with ThreadPoolExecutor(len(cases)) as pool:
        results = list(pool.map(lambda case: interrupt(*case), cases))
    for (out, signum, _, _), (returncode, err) in zip(cases, results):
        assert returncode == 128 + signum, err
        match = LINE.fullmatch(err)
        assert match, err
        iteration, epoch = int(match[1]), int(match[2])
        assert 6 <= iteration < 24 and epoch == (iteration - 1) // 4 + 1
        assert match[3] == str(out / "checkpoints" / f"checkpoint_{iteration}.pt")
        words = shlex.split(match[4])
        assert words[:3] == ["python", "-m", "experiments.gan_mnist"]
        gan_mnist.main(words[3:])
        assert identical(final_weights(out), final_weights(reference)), out.name


def interrupt(out, signum, workers, send):
    """Start a run, ``send`` it ``signum`` once it has a checkpoint of iteration 6 or later.

    Returns its exit status and stderr.
    """
    proc = subprocess.Popen(command(out, [*SMALL, "--num-workers", workers]), cwd=PROJECT_ROOT, env=environment(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    while proc.poll() is None and not any(it >= 6 for it in checkpoint_iterations(out)):
        time.sleep(0.005)
    send(proc.pid, signum)
    err = proc.communicate(timeout=300)[1]
    return proc.returncode, err


class _Copied:
    """A stand-in for a CUDA event: records that the host waited for it."""

    def __init__(self):
        self.waited = False

    def synchronize(self):
        self.waited = True


def test_signal_stop_agrees_on_the_first_signal_any_process_had():
    from gan_ignite.interrupt import SignalStop

    stop = SignalStop()
    with stop.handling((signal.SIGINT, signal.SIGTERM), world=2):
        assert stop.flags() == [0.0, 0.0]
        stop.record(torch.tensor([0.0, 0.0]))
        assert not stop.should_stop()
        stop.record(torch.tensor([0.0, 1.0]))  # another process had SIGTERM, this one nothing
        assert stop.should_stop() and stop.signum == signal.SIGTERM
        assert not stop.should_stop()  # said once
    with stop.handling((signal.SIGINT, signal.SIGTERM), world=1):  # a new run starts afresh
        assert not stop.interrupted and stop.signum is None
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.flags() == [1.0, 0.0]
        assert stop.should_stop() and stop.signum == signal.SIGINT


def test_signal_stop_on_a_device_reads_the_iteration_before_the_last():
    from gan_ignite.interrupt import SignalStop

    stop, first, second = SignalStop(), _Copied(), _Copied()
    with stop.handling((signal.SIGINT,), world=2):
        stop._agreed.append((torch.tensor([1.0]), first))  # as record() keeps a CUDA copy and its event
        assert not stop.should_stop()  # the newest copy may still be in flight
        stop._agreed.append((torch.tensor([0.0]), second))
        assert stop.should_stop() and first.waited and not second.waited
