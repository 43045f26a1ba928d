"""Exact resume: the resumable sampler, mid-epoch resume, atomic snapshots, SIGKILL at random points.

Runs compared bitwise all use one torch thread (in-process and in subprocesses alike):
CPU kernels may sum in another order with another thread count.
"""

import json
import random
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from ignite.engine import Engine, Events
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, get_worker_info

from benchmarks.kill_resume import (
    SMALL,
    checkpoint_iterations,
    environment,
    final_weights,
    identical,
    kill_after_checkpoint,
    start,
    temporary_files,
)
from experiments import gan_mnist
from gan_ignite import extensions as E
from gan_ignite.errors import UsageError
from gan_ignite.extensions.snapshot import snapshot_trigger
from gan_ignite.sampling import ResumableSampler
from gan_ignite.trainer import Trainer
from tests.conftest import PROJECT_ROOT


@pytest.fixture(scope="module")
def reference(tmp_path_factory, one_thread):
    """The uninterrupted small run (24 iterations, a checkpoint every 3), all checkpoints kept."""
    out = tmp_path_factory.mktemp("reference")
    gan_mnist.main([*SMALL, "--n-saved", "20", "--out", str(out)])
    return out


# -- the sampler --------------------------------------------------------------------------
def test_sampler_order_is_a_function_of_seed_and_epoch_and_starts_mid_epoch():
    sampler = ResumableSampler(range(10), seed=3)
    first = list(sampler)
    assert first == torch.randperm(10, generator=torch.Generator().manual_seed(3)).tolist()
    sampler.set_epoch(1)
    second = list(sampler)
    assert sorted(second) == list(range(10)) and second != first
    other = ResumableSampler(range(10), seed=3)
    other.set_epoch(1, start=4)
    assert list(other) == second[4:] and len(other) == 10
    other.load_state_dict({"seed": 4})
    assert list(other) == torch.randperm(10, generator=torch.Generator().manual_seed(5)).tolist()[4:]
    with pytest.raises(ValueError, match=r"Argument `start` should be in \[0, 10\], but given 11"):
        other.set_epoch(0, start=11)


def test_loader_with_resumable_sampler_leaves_the_global_rng_alone():
    def rng_moves(loader):
        before = torch.get_rng_state()
        list(loader)
        return not torch.equal(before, torch.get_rng_state())

    data = torch.arange(12.0)
    sampler = ResumableSampler(data, seed=0)
    assert not rng_moves(DataLoader(data, batch_size=4, sampler=sampler, generator=sampler.worker_generator))
    # The check can fail: torch's own shuffling draws from the global RNG at every epoch.
    assert rng_moves(DataLoader(data, batch_size=4, sampler=RandomSampler(data)))


class WorkerSeeds(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, index):
        return get_worker_info().seed


def test_worker_seeds_follow_seed_and_epoch():
    def seeds(epoch):
        sampler = ResumableSampler(range(4), seed=7)
        sampler.set_epoch(epoch)
        loader = DataLoader(WorkerSeeds(), batch_size=1, sampler=sampler, num_workers=2,
                            generator=sampler.worker_generator)
        return sorted({int(s) for s in loader})

    assert seeds(2) == seeds(2) and len(seeds(2)) == 2
    assert seeds(2) != seeds(3)


# -- snapshots ----------------------------------------------------------------------------
def fired(trigger, epochs=4, epoch_length=4):
    engine, hits = Engine(lambda e, b: None), []

    @engine.on(Events.ITERATION_COMPLETED)
    def record(engine):
        if trigger(engine):
            hits.append(engine.state.iteration)

    engine.run(range(epoch_length), max_epochs=epochs)
    return hits


def test_snapshot_trigger_fires_every_n_epochs_and_every_n_iterations():
    assert fired(snapshot_trigger(2, 3)) == [i for i in range(1, 17) if i % 3 == 0 or i % 8 == 0]
    assert fired(snapshot_trigger(1)) == [4, 8, 12, 16]
    with pytest.raises(UsageError, match=r"Argument `iterations` should be 0 .* but given -1"):
        snapshot_trigger(1, -1)


def test_bad_snapshot_iterations_is_one_line_and_touches_nothing(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        gan_mnist.main([*SMALL, "--snapshot-iterations", "-2", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert err == "error: --snapshot-iterations should be zero or more, but given -2\n"
    assert not (tmp_path / "run").exists()


class Step:
    """Adds 1 to a weight each iteration."""

    def __init__(self):
        self.model = nn.Linear(1, 1)
        self.to_save = {"model": self.model}

    def __call__(self, engine, batch):
        with torch.no_grad():
            self.model.weight.add_(1.0)
        return {"x": float(batch)}


def test_rotation_deletes_the_old_snapshot_only_after_the_new_one_is_written(tmp_path, monkeypatch):
    step = Step()
    trainer = Trainer(step, [1, 2], stop_trigger=(3, "epoch"), out=tmp_path)
    trainer.extend(E.snapshot(n_saved=1), trigger=(1, "epoch"))
    real_save = torch.save

    def die_in_second_write(obj, f, **kwargs):
        if trainer.engine.state.iteration == 4:
            f.write(b"half a checkpoint")
            raise OSError("disk full")
        real_save(obj, f, **kwargs)

    monkeypatch.setattr(torch, "save", die_in_second_write)
    with pytest.raises(OSError, match="disk full"):
        trainer.run()
    # Ignite's Checkpoint asked to delete checkpoint_2 before writing checkpoint_4: with
    # n_saved=1 a plain DiskSaver would leave no snapshot at all.
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["checkpoint_2.pt", "checkpoint_2.pt.sha256"]
    state = torch.load(tmp_path / "checkpoints" / "checkpoint_2.pt", weights_only=True)
    assert state["trainer"]["engine"]["iteration"] == 2


def test_resume_removes_killed_writes_and_surplus_snapshots(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name in ("checkpoint_2.pt", "checkpoint_4.pt", "checkpoint_6.pt", "tmpab_cd123", "notes.txt"):
        (folder / name).write_bytes(b"x")
    assert E.latest_checkpoint(tmp_path).name == "checkpoint_6.pt"
    trainer = Trainer(Step(), [1, 2], stop_trigger=(5, "epoch"), out=tmp_path)
    trainer.engine.state.iteration = 6  # as after loading checkpoint_6
    E.snapshot(n_saved=2).initialize(trainer)
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint_4.pt", "checkpoint_6.pt", "notes.txt"]


# -- exact resume -------------------------------------------------------------------------
@pytest.mark.parametrize("iteration, workers", [(6, "0"), (9, "2")])
def test_resume_from_a_mid_epoch_checkpoint_is_exact(reference, tmp_path, iteration, workers):
    # 4 iterations an epoch: checkpoint 6 is half-way through epoch 2, 9 a quarter into epoch 3.
    (tmp_path / "checkpoints").mkdir()
    for name in ("run.json", "config.json", f"checkpoints/checkpoint_{iteration}.pt",
                 f"checkpoints/checkpoint_{iteration}.pt.sha256"):
        shutil.copy(reference / name, tmp_path / name)
    gan_mnist.main([*SMALL, "--num-workers", workers, "--out", str(tmp_path), "--resume"])
    assert identical(final_weights(tmp_path), final_weights(reference))
    assert read_log(tmp_path) == read_log(reference)


def read_log(out):
    """log.jsonl without the wall-clock times."""
    entries = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in entry.items() if k != "elapsed_time"} for entry in entries]


DIE_IN_WRITE = """
import os, signal, sys, torch
real_save, calls = torch.save, []
def save(obj, f, **kwargs):
    calls.append(f)
    if len(calls) == int(sys.argv[1]):
        f.write(b"half a checkpoint")  # f: DiskSaver's temporary file
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    real_save(obj, f, **kwargs)
torch.save = save
from experiments import gan_mnist
gan_mnist.main(sys.argv[2:])
"""


def test_sigkill_at_random_points_and_during_a_write_then_resume_is_bitwise_exact(reference, tmp_path):
    rng = random.Random()
    # Two random kills here; benchmarks/kill_resume.py makes 20 and more.
    # After checkpoint 3 to 15, and at most 0.25 s more: well before the 24th iteration.
    points = [(rng.choice([3, 6, 9, 12, 15]), rng.uniform(0.0, 0.25)) for _ in range(2)]
    runs = [(tmp_path / f"kill{i}", start(tmp_path / f"kill{i}", SMALL)) for i in range(2)]
    in_write = tmp_path / "in_write"
    # SIGKILL in the 4th checkpoint write (iteration 8) with half a file on disk.
    writer = subprocess.Popen([sys.executable, "-c", DIE_IN_WRITE, "4", *SMALL, "--out", str(in_write)],
                              cwd=PROJECT_ROOT, env=environment(), stderr=subprocess.PIPE)
    with ThreadPoolExecutor(len(runs)) as pool:  # each watched from the moment it starts
        killed = list(pool.map(lambda run, point: kill_after_checkpoint(*run[::-1], *point), runs, points))
    writer.communicate(timeout=300)
    assert writer.returncode == -signal.SIGKILL
    assert len(temporary_files(in_write)) == 1 and checkpoint_iterations(in_write) == [3, 4, 6]
    for out, was_killed in [*zip((out for out, _ in runs), killed), (in_write, True)]:
        assert was_killed, f"{out.name} finished before its kill at {points}"
        gan_mnist.main([*SMALL, "--out", str(out), "--resume"])
        assert identical(final_weights(out), final_weights(reference)), f"{out.name} after kills at {points}"
        assert not temporary_files(out)
