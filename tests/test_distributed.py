"""Two processes on the CPU with gloo: one set of outputs, the loss curve of one process of twice
the batch, checkpoints that move between world sizes, and an exact resume after a kill.

Each run is a real ``python -m experiments.gan_mnist --nproc-per-node 2`` (Ignite's
``idist.Parallel`` spawning two processes), so these tests cost about 100 s together.
"""

import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from benchmarks.kill_resume import checkpoint_iterations, environment, final_weights, identical
from experiments import gan_mnist
from gan_ignite.config import parse_config
from tests.conftest import PROJECT_ROOT

# 256 digits at 16x16, no batch norm (each process would normalise over its own half of
# the batch): 8 iterations an epoch for two processes of batch 16 or one of batch 32.
SMALL = ["--dataset", "digits", "--limit", "256", "--image-size", "16", "--feature-maps", "8", "--z-dim", "8",
         "--no-batch-norm", "--n-samples", "4", "--no-progress", "--log-interval", "1", "--epochs", "2"]
TWO = ["--nproc-per-node", "2", "--batch-size", "16"]
ONE = ["--batch-size", "32"]
KEYS = ("dis/loss", "gen/loss", "dis/real", "dis/fake")
# The two runs differ only in float rounding (the order of the sums over the batch): no
# step of these 16 is more than this apart (measured: 4e-6).
CURVE_TOLERANCE = 1e-4
TRACEBACK = "Traceback"


def command(out, *options):
    return [sys.executable, "-m", "experiments.gan_mnist", *options, "--out", str(out)]


def run(out, *options):
    result = subprocess.run(command(out, *options), cwd=PROJECT_ROOT, env=environment(), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def curves(out):
    events = EventAccumulator(str(out / "tb"))
    events.Reload()
    return {key: [(e.step, e.value) for e in events.Scalars(key)] for key in KEYS}


def log(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A 2-process run and a 1-process run of twice the batch, 2 epochs each."""
    root = tmp_path_factory.mktemp("distributed")
    two, one = root / "two", root / "one"
    return {"two": (two, run(two, *SMALL, *TWO)), "one": (one, run(one, *SMALL, *ONE))}


def test_two_processes_write_one_run_directory(runs):
    out, result = runs["two"]
    assert TRACEBACK not in result.stderr and "INFO" not in result.stderr, result.stderr
    assert [(e["epoch"], e["iteration"]) for e in log(out)] == [(1, 8), (2, 16)]  # one line an epoch, not two
    assert sorted(p.name for p in (out / "images").iterdir()) == ["epoch_0001.png", "epoch_0002.png"]
    assert len(list((out / "tb").glob("events.out.tfevents.*"))) == 1  # one writer, not one a process
    assert checkpoint_iterations(out) == [8, 16]
    lines = result.stdout.splitlines()
    table = lines[:next(i for i, line in enumerate(lines) if line.startswith("finished: "))]
    assert len(table) == 3  # one console table: its header and one row an epoch
    assert sum(line.startswith("finished: ") for line in lines) == 1  # and one final summary
    config = json.loads((out / "config.json").read_text())
    assert (config["world_size"], config["batch_size"], config["global_batch_size"]) == (2, 16, 32)


def test_two_processes_of_batch_b_follow_one_process_of_batch_2b(runs):
    two, one = curves(runs["two"][0]), curves(runs["one"][0])
    for key in KEYS:
        assert [step for step, _ in two[key]] == list(range(1, 17))
        assert [step for step, _ in two[key]] == [step for step, _ in one[key]]
        gaps = [abs(a - b) for (_, a), (_, b) in zip(two[key], one[key])]
        assert max(gaps) < CURVE_TOLERANCE, (key, max(gaps))
    # Not trivially equal: training moved the losses.
    assert abs(two["dis/loss"][-1][1] - two["dis/loss"][0][1]) > 100 * CURVE_TOLERANCE


@pytest.fixture(scope="module")
def resumed(runs, tmp_path_factory):
    """The 2-process run continued in one process, and the 1-process run in two under torchrun, for epoch 3."""
    root = tmp_path_factory.mktemp("resumed")
    two, one = root / "two", root / "one"
    shutil.copytree(runs["two"][0], two)
    shutil.copytree(runs["one"][0], one)
    # No --nproc-per-node and no --batch-size: one process, taking the run's global batch of 32.
    in_one = run(two, "--resume", "--epochs", "3")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    in_two = subprocess.run([*torchrun, *command(one, "--resume", "--epochs", "3")[1:]], cwd=PROJECT_ROOT,
                            env=environment(), capture_output=True, text=True, timeout=300)
    assert in_two.returncode == 0, in_two.stderr[-3000:]
    return {"in_one": (two, in_one), "in_two": (one, in_two)}


def test_a_two_process_checkpoint_resumes_in_one_process_with_the_runs_global_batch(resumed):
    out, result = resumed["in_one"]
    assert TRACEBACK not in result.stderr, result.stderr
    assert [(e["epoch"], e["iteration"]) for e in log(out)] == [(1, 8), (2, 16), (3, 24)]
    config = json.loads((out / "config.json").read_text())
    assert (config["world_size"], config["batch_size"], config["global_batch_size"]) == (1, 32, 32)
    assert checkpoint_iterations(out) == [8, 16, 24]


def test_a_one_process_checkpoint_resumes_in_two_processes_under_torchrun(resumed):
    out, result = resumed["in_two"]
    assert TRACEBACK not in result.stderr, result.stderr
    assert [(e["epoch"], e["iteration"]) for e in log(out)] == [(1, 8), (2, 16), (3, 24)]
    config = json.loads((out / "config.json").read_text())
    assert (config["world_size"], config["batch_size"], config["global_batch_size"]) == (2, 16, 32)
    assert len(list((out / "tb").glob("events.out.tfevents.*"))) == 2  # the first run's and the resumed one's


def test_either_way_the_resumed_runs_go_on_as_one_run(resumed):
    # The two started alike (above), and each went on with the same global batch and data order.
    in_one, in_two = curves(resumed["in_one"][0]), curves(resumed["in_two"][0])
    for key in KEYS:
        third = [(step, value) for step, value in in_one[key] if step > 16]
        other = [(step, value) for step, value in in_two[key] if step > 16]
        assert [step for step, _ in third] == [step for step, _ in other] == list(range(17, 25))
        assert max(abs(a - b) for (_, a), (_, b) in zip(third, other)) < CURVE_TOLERANCE, key


@pytest.mark.parametrize("options, line", [
    (["--nproc-per-node", "3"], "--resume: the run's global batch is 32 images (2 processes of 16), which does not "
                                "divide among 3 processes; launch a number of processes that divides 32"),
    (["--batch-size", "16"], "--resume: the run's global batch is 32 images (2 processes of 16), which a resumed "
                             "run keeps; with 1 process pass --batch-size 32, or leave it out"),
])
def test_a_resume_that_would_change_the_global_batch_is_refused(runs, options, line, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_config(gan_mnist.Config, ["--out", str(runs["two"][0]), "--resume", *options])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == f"error: {line}\n"


LINE = re.compile(r"interrupted at iteration (\d+) \(epoch (\d+)\); checkpoint saved: (\S+); continue with: (.+)\n")


def test_a_killed_two_process_run_resumes_exactly(runs, tmp_path):
    out = tmp_path / "killed"
    # A checkpoint every 2 iterations gives the signal a moment early in the run to land in.
    proc = subprocess.Popen(command(out, *SMALL, *TWO, "--snapshot-iterations", "2"), cwd=PROJECT_ROOT,
                            env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None and not checkpoint_iterations(out):
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)  # to the launching process only: it passes it on
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 128 + signal.SIGTERM, err
    match = LINE.fullmatch(err)  # the main process's line, and nothing else
    assert match, err
    iteration = int(match[1])
    assert 2 <= iteration < 16
    assert checkpoint_iterations(out)[-1] == iteration
    words = shlex.split(match[4])
    assert words[:3] == ["python", "-m", "experiments.gan_mnist"] and "--nproc-per-node" in words
    result = run(out, *words[3:])
    assert TRACEBACK not in result.stderr, result.stderr
    assert identical(final_weights(out), final_weights(runs["two"][0]))


def test_bad_input_found_in_the_processes_is_one_line_from_the_main_one(tmp_path, capfd):
    # Called from this process, which has run torch operations: the processes are spawned,
    # not forked (as from the command line), so this is the route CUDA runs take too.
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        gan_mnist.main([*SMALL, "--nproc-per-node", "2", "--batch-size", "200", "--out", str(out)])
    assert exit_.value.code == 2
    assert capfd.readouterr().err == ("error: Argument `batch_size` (200) is larger than each of the 2 processes' "
                                      "share of the dataset (128 of 256 images); pass a smaller --batch-size\n")
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("options, line", [
    (["--backend", "nccl"], "--backend nccl needs CUDA devices and a torch build with NCCL; use --backend gloo on "
                            "the CPU"),
    (["--sync-batch-norm"], "--sync-batch-norm (given, or in the resumed run's config.json) needs CUDA devices: "
                            "torch's SyncBatchNorm runs on GPUs only; pass --no-sync-batch-norm on the CPU"),
    (["--nnodes", "2", "--node-rank", "2"], "--node-rank 2 is not below --nnodes 2; number the machines from 0 to 1"),
])
def test_launch_options_that_cannot_work_are_refused_before_any_process_starts(options, line, tmp_path, capsys,
                                                                               monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(SystemExit) as exit_:
        gan_mnist.main([*SMALL, "--nproc-per-node", "2", *options, "--out", str(tmp_path / "run")])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == f"error: {line}\n"
    assert not (tmp_path / "run").exists()


def test_launch_options_under_torchrun_are_refused(tmp_path, capsys, monkeypatch):
    for name, value in {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_:
        gan_mnist.main([*SMALL, "--nproc-per-node", "2", "--out", str(tmp_path / "run")])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        "error: this process was started by torchrun or srun (RANK, LOCAL_RANK and WORLD_SIZE, or SLURM_PROCID, are "
        "set), which starts the processes itself; leave --nproc-per-node and --nnodes out\n")
