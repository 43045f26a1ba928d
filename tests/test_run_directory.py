"""The run directory as real processes use it: one writer, a full disk, hostile contents, integrity.

The in-process refusals are in ``tests/test_bad_input.py``; these need real processes
(a lock held by another process, ``python -m`` putting the working directory on the
module path), a mount (a full or read-only file system) or a whole resumed run.
"""

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from benchmarks.kill_resume import environment
from experiments import gan_mnist
from gan_ignite import extensions as E
from gan_ignite.extensions.snapshot import load_snapshot
from gan_ignite.registry import experiment_names
from gan_ignite.run_dir import read_marker, write_marker
from gan_ignite.trainer import Trainer
from tests.conftest import PROJECT_ROOT

SMALL = ["--limit", "64", "--batch-size", "16", "--image-size", "16", "--feature-maps", "8", "--z-dim", "8",
         "--n-samples", "4", "--no-progress"]
NAMES = ", ".join(experiment_names())


def fingerprint(root):
    """Every file's SHA-256 and every folder under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def train(out, *options, cwd=PROJECT_ROOT, env=None, module="experiments.gan_mnist"):
    return subprocess.run([sys.executable, "-m", module, *SMALL, "--out", str(out), *options], cwd=cwd,
                          env=env or environment(), capture_output=True, text=True, timeout=300)


def start(out, *options):
    return subprocess.Popen([sys.executable, "-m", "experiments.gan_mnist", *SMALL, "--out", str(out), *options],
                            cwd=PROJECT_ROOT, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def read_log(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def without_times(log):
    return [{k: v for k, v in entry.items() if k != "elapsed_time"} for entry in log]


def wait_until(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# -- one writer at a time -------------------------------------------------------------------
def test_a_second_process_is_refused_while_a_run_trains_and_a_killed_run_leaves_no_lock(tmp_path):
    out = tmp_path / "run"
    first = start(out, "--epochs", "400")
    try:
        wait_until(lambda: (out / "run.lock").is_file() and (out / "run.lock").read_text().strip().isdigit())
        assert int((out / "run.lock").read_text()) == first.pid
        expected = (f"error: --out {out} is in use by another process (PID {first.pid}); wait for it to finish or "
                    f"stop it, or choose another --out\n")
        for options in ([], ["--resume", "--epochs", "500"], ["--force"]):
            second = train(out, *options)
            assert (second.returncode, second.stderr) == (2, expected), options
        assert first.poll() is None  # still training, undisturbed
    finally:
        first.kill()
        first.communicate()
    log = read_log(out)
    assert [e["epoch"] for e in log] == list(range(1, len(log) + 1))  # one writer's entries, in order
    # SIGKILL released the lock with the process: the run resumes at once.
    resumed = train(out, "--resume", "--epochs", str(len(log) + 2))
    assert resumed.returncode == 0, resumed.stderr
    assert [e["epoch"] for e in read_log(out)][-2:] == [len(log) + 1, len(log) + 2]


def test_two_runs_started_at_once_on_one_out_leave_one_run(tmp_path):
    out = tmp_path / "run"
    runs = [start(out, "--epochs", "3") for _ in range(2)]
    results = sorted((run.returncode, err) for run in runs for _, err in [run.communicate(timeout=300)])
    assert results[0] == (0, "")
    loser = results[1]
    assert loser[0] == 2 and loser[1].count("\n") == 1
    assert (f"error: --out {out} is in use by another process" in loser[1]
            or f"error: --out {out} already holds a run of gan_mnist" in loser[1]), loser[1]
    assert [(e["epoch"], e["iteration"]) for e in read_log(out)] == [(1, 4), (2, 8), (3, 12)]
    assert len(list((out / "tb").iterdir())) == 1  # one event file: one writer


# -- nothing executes from a run directory ------------------------------------------------
PAYLOAD = "import pathlib; pathlib.Path({marker!r}).write_text('ran'); print('PAYLOAD RAN')\n"


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "run"
    gan_mnist.main([*SMALL, "--epochs", "1", "--out", str(out)])
    return out


def evaluate_inside(run, cwd):
    return subprocess.run([sys.executable, "-m", "gan_ignite.evaluate", str(run), "--n", "8"], cwd=cwd,
                          env=environment(), capture_output=True, text=True, timeout=300)


def copy_run(small_run, path, experiment=None):
    import shutil

    shutil.copytree(small_run, path)
    if experiment is not None:
        config = json.loads((path / "config.json").read_text())
        (path / "config.json").write_text(json.dumps({**config, "experiment": experiment}))
    return path


@pytest.mark.parametrize("name", ["rundir_helpers", "this"])  # `this` prints the Zen of Python when imported
def test_evaluate_imports_no_module_that_a_run_directory_names(small_run, tmp_path, name):
    run = copy_run(small_run, tmp_path / "downloaded", experiment=name)
    marker = tmp_path / "PWNED"
    (run / "rundir_helpers.py").write_text(PAYLOAD.format(marker=str(marker)))
    before = fingerprint(tmp_path)
    result = evaluate_inside(".", cwd=run)  # python -m puts the run directory first on sys.path
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"error: unknown experiment {name!r}; choose one of {NAMES}\n"
    assert not marker.exists() and fingerprint(tmp_path) == before


def test_evaluate_refuses_an_experiments_package_that_the_working_directory_puts_first(small_run, tmp_path):
    run = copy_run(small_run, tmp_path / "downloaded")
    marker = tmp_path / "PWNED"
    (run / "experiments").mkdir()
    for name in ("__init__.py", "gan_mnist.py"):
        (run / "experiments" / name).write_text(PAYLOAD.format(marker=str(marker)))
    result = evaluate_inside(".", cwd=run)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: the package `experiments` found first on the module path is {run / 'experiments'}, not gan_ignite's "
        f"own {PROJECT_ROOT / 'experiments'}; run from another directory\n")
    assert not marker.exists()


# -- paths ---------------------------------------------------------------------------------
def test_a_tilde_out_puts_every_file_under_home_and_resumes_from_there(tmp_path):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir(), cwd.mkdir()
    env = {**environment(), "HOME": str(home), "PYTHONPATH": str(PROJECT_ROOT)}
    assert train("~/run", "--epochs", "1", cwd=cwd, env=env).returncode == 0
    assert train("~/run", "--epochs", "2", "--resume", cwd=cwd, env=env).returncode == 0
    assert list(cwd.iterdir()) == []  # no "./~"
    assert sorted(p.name for p in (home / "run" / "checkpoints").iterdir())[-2:] == [
        "checkpoint_8.pt", "checkpoint_8.pt.sha256"]
    assert [e["iteration"] for e in read_log(home / "run")] == [4, 8]
    assert json.loads((home / "run" / "config.json").read_text())["out"] == str(home / "run")


# -- integrity -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    assert train(out, "--epochs", "4").returncode == 0
    return out


@pytest.mark.parametrize("damage", ["flipped bit", "missing sidecar"])
def test_resume_passes_over_a_damaged_newest_checkpoint_and_continues_exactly(uninterrupted, tmp_path, damage):
    out = tmp_path / "run"
    assert train(out, "--epochs", "3").returncode == 0  # checkpoints 4, 8, 12
    newest = out / "checkpoints" / "checkpoint_12.pt"
    if damage == "flipped bit":
        data = bytearray(newest.read_bytes())
        data[len(data) // 2] ^= 0x01
        newest.write_bytes(bytes(data))
        why = "its bytes differ from the SHA-256 recorded when it was written"
    else:
        (out / "checkpoints" / "checkpoint_12.pt.sha256").unlink()
        why = "it has no .sha256 sidecar: its write did not finish"
    resumed = train(out, "--epochs", "4", "--resume")
    assert resumed.returncode == 0
    assert resumed.stderr == (f"warning: checkpoint {newest} fails its integrity check ({why}); using "
                              f"checkpoint_8.pt instead\n")
    assert without_times(read_log(out)) == without_times(read_log(uninterrupted))
    final = out / "checkpoints" / "checkpoint_16.pt"
    assert final.read_bytes() != b"" and (out / "checkpoints" / "checkpoint_16.pt.sha256").read_text() == (
        f"{hashlib.sha256(final.read_bytes()).hexdigest()}  checkpoint_16.pt\n")


# -- a full disk and a read-only folder ------------------------------------------------------
@pytest.fixture
def mount(tmp_path):
    """``mount(path, options)`` a tmpfs there; skips where this process may not mount."""
    mounted = []

    def make(path, options):
        path.mkdir(exist_ok=True)
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({result.stderr.decode().strip() or 'not root'})")
        mounted.append(path)
        return path

    yield make
    for path in reversed(mounted):
        subprocess.run(["umount", str(path)], check=True)


def test_a_disk_that_fills_during_a_checkpoint_write_is_one_line_and_loses_nothing(uninterrupted, tmp_path, mount):
    disk = mount(tmp_path / "disk", "size=4m")
    out = disk / "run"
    assert train(out, "--epochs", "1").returncode == 0
    size = (out / "checkpoints" / "checkpoint_4.pt").stat().st_size
    before = fingerprint(out / "checkpoints")
    # Leave room for the epoch's small files (grid, log, events, plots), not for a checkpoint.
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    filler = disk / "filler"
    filler.write_bytes(b"\0" * max(0, free - size // 2))
    full = train(out, "--epochs", "2", "--resume")
    assert full.returncode == 2
    assert full.stderr == (
        f"error: no space left on device while writing {out / 'checkpoints' / 'checkpoint_8.pt'}; the previous "
        f"checkpoint {out / 'checkpoints' / 'checkpoint_4.pt'} is intact; free space and resume\n")
    assert fingerprint(out / "checkpoints") == before  # no partial file, no temporary left behind
    filler.unlink()
    resumed = train(out, "--epochs", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert without_times(read_log(out)) == without_times(read_log(uninterrupted))[:2]


def test_a_run_folder_that_cannot_be_written_is_refused_when_the_run_starts(tmp_path, mount):
    out = tmp_path / "run"
    assert train(out, "--epochs", "1").returncode == 0
    log = (out / "log.jsonl").read_text()
    mount(out / "plots", "ro,size=1m")  # hides the plots, and takes no file
    before = fingerprint(out)
    refused = train(out, "--epochs", "2", "--resume")
    assert (refused.returncode, refused.stderr) == (
        2, f"error: {out / 'plots'} is not writable (Read-only file system); make it writable (chmod u+w "
           f"{out / 'plots'}) and resume\n")
    assert fingerprint(out) == before and (out / "log.jsonl").read_text() == log


# -- what a resumed run may change -----------------------------------------------------------
def test_an_average_switched_on_at_resume_starts_from_the_current_weights(small_run, tmp_path, capsys):
    run = copy_run(small_run, tmp_path / "run")
    argv = [*SMALL, "--out", str(run), "--resume", "--epochs", "2", "--ema-decay", "0.999"]
    trainer = gan_mnist.build(gan_mnist.Config(limit=64, batch_size=16, image_size=16, feature_maps=8, z_dim=8,
                                               n_samples=4, out=str(run), device="cpu", epochs=2, ema_decay=0.999))
    load_snapshot(trainer, run / "checkpoints" / "checkpoint_4.pt")
    ema = trainer.get_extension("ema")
    ema.initialize(trainer)
    for name, tensor in trainer.updater.gen.state_dict().items():
        torch.testing.assert_close(ema.ema_model.state_dict()[name], tensor, rtol=0, atol=0)
    assert capsys.readouterr().err == ("note: the generator's moving average starts at iteration 4 from the "
                                       "current weights (the checkpoint holds no average)\n")
    gan_mnist.main(argv)
    assert "note: the generator's moving average starts at iteration 4" in capsys.readouterr().err
    gan_mnist.main([*argv[:-4], "--epochs", "3", "--ema-decay", "0.999"])  # the average is in the checkpoint now
    assert "note:" not in capsys.readouterr().err


def test_learning_rates_given_at_resume_are_the_ones_trained_with(small_run, tmp_path):
    run = copy_run(small_run, tmp_path / "run")
    config = gan_mnist.Config(limit=64, batch_size=16, image_size=16, feature_maps=8, z_dim=8, n_samples=4,
                              out=str(run), device="cpu", epochs=2, lr=1e-4)
    checkpoint = run / "checkpoints" / "checkpoint_4.pt"
    saved = torch.load(checkpoint, weights_only=True)["opt_gen"]["param_groups"][0]["lr"]
    assert saved == gan_mnist.Config().lr != 1e-4
    for keep, expected in ((True, 1e-4), (False, saved)):
        trainer = gan_mnist.build(config)
        load_snapshot(trainer, checkpoint, keep_hyperparameters=keep)
        opt_gen, opt_dis = trainer.updater.to_save["opt_gen"], trainer.updater.to_save["opt_dis"]
        assert [g["lr"] for g in opt_gen.param_groups + opt_dis.param_groups] == [expected, expected]
        assert opt_gen.state  # the moments still come from the checkpoint


# -- the marker --------------------------------------------------------------------------------
def test_the_marker_names_the_experiment_and_a_new_id_per_run(tmp_path):
    first, second = write_marker(tmp_path, "gan_mnist"), write_marker(tmp_path, "gan_mnist")
    assert read_marker(tmp_path) == second and first.run_id != second.run_id
    assert len(second.run_id) == 32 and int(second.run_id, 16) >= 0
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["format"] == 1 and saved["experiment"] == "gan_mnist"
    assert saved["entries"] == ["run.json", "run.lock", "config.json", "log.jsonl", "images", "checkpoints", "tb",
                                "plots"]


@pytest.mark.parametrize("content, problem", [
    ("{not json", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ('{"format": 2, "experiment": "gan_mnist", "run_id": "x", "created": "t", "entries": []}', "unexpected content"),
    ('{"format": 1, "experiment": "gan_mnist", "run_id": "x", "created": "t", "entries": ["../home"]}',
     "unexpected content"),
    ('{"format": 1, "experiment": "gan_mnist", "run_id": "x", "created": "t", "entries": ["notes.txt"]}',
     "unexpected content"),
    ('["run.json"]', "unexpected content"),
])
def test_a_marker_that_is_not_ours_is_refused(tmp_path, content, problem):
    from gan_ignite.errors import UsageError

    (tmp_path / "run.json").write_text(content)
    with pytest.raises(UsageError) as info:
        read_marker(tmp_path)
    assert str(info.value) == (f"{tmp_path / 'run.json'} is not a gan_ignite run marker ({problem}); this "
                               f"directory is not a run that can be resumed or replaced: choose another --out")


def test_a_marker_that_is_a_link_or_a_folder_is_refused(tmp_path):
    from gan_ignite.errors import UsageError

    write_marker(tmp_path / "real", "gan_mnist")
    for kind in ("link", "folder"):
        run = tmp_path / kind
        run.mkdir()
        if kind == "link":
            (run / "run.json").symlink_to(tmp_path / "real" / "run.json")
        else:
            (run / "run.json").mkdir()
        with pytest.raises(UsageError, match=r"run.json is not a gan_ignite run marker \(it is not a regular file\)"):
            read_marker(run)


def test_force_replaces_a_run_and_nothing_beside_it(small_run, tmp_path, capsys):
    run = copy_run(small_run, tmp_path / "parent" / "run")
    (tmp_path / "parent" / "mine.txt").write_text("mine")
    old = read_marker(run)
    gan_mnist.main([*SMALL, "--epochs", "1", "--out", str(run), "--force"])
    assert read_marker(run).run_id != old.run_id
    assert (tmp_path / "parent" / "mine.txt").read_text() == "mine"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "config.json", "images", "log.jsonl", "plots",
                                                     "run.json", "run.lock", "tb"]
    assert len(list((run / "tb").iterdir())) == 1  # the old run's event file is gone
