"""The run directory (DESIGN.md, "A run directory"): one writer, what --force deletes, the marker,
paths, nothing imported from a run directory, a full disk, integrity fallback, and resume settings.

Every refusal is checked three ways: exit status 2, the exact one line on stderr, and a
fingerprint (the SHA-256 of every file, the list of folders and links) of every directory
involved, taken before and after. In-process runs use one torch thread, as
tests/test_resume.py does, so that runs compared with each other are bitwise deterministic;
subprocesses get benchmarks/kill_resume.environment() for the same reason.
"""

import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmarks.kill_resume import checkpoint_iterations, environment, final_weights, identical
from experiments import gan_mnist
from gan_ignite import evaluate
from gan_ignite import extensions as E
from gan_ignite import run_dir
from gan_ignite.config import parse_config
from gan_ignite.errors import UsageError
from gan_ignite.extensions.snapshot import latest_checkpoint, load_snapshot, verify_checkpoint
from gan_ignite.registry import EXPERIMENTS_DIR, experiment_names
from gan_ignite.run_dir import ENTRIES, RunLock, read_marker, write_marker
from gan_ignite.trainer import Trainer
from tests.conftest import PROJECT_ROOT

# The small configuration: 64 digits in batches of 16, 4 iterations an epoch.
SMALL = ["--limit", "64", "--batch-size", "16", "--image-size", "16", "--feature-maps", "8", "--z-dim", "8",
         "--n-samples", "4", "--no-progress"]
NAMES = ", ".join(experiment_names())
ALREADY_HOLDS = (r"error: --out {out} already holds a run of gan_mnist \(started [^)]+\); pass --resume to continue "
                 r"it, --force to replace it, or choose another --out\n")

pytestmark = pytest.mark.usefixtures("one_thread")  # runs compared bitwise


def in_use(out: Path, pid: int | None) -> str:
    holder = f" (PID {pid})" if pid is not None else ""
    return (f"error: --out {out} is in use by another process{holder}; wait for it to finish or stop it, "
            f"or choose another --out\n")


# -- helpers ----------------------------------------------------------------------------
def fingerprint(root: Path) -> dict[str, str] | None:
    """Everything under ``root``, links not followed: a file's SHA-256, ``folder``, or a link's target."""
    if not os.path.lexists(root):
        return None
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = f"link to {os.readlink(path)}"
            elif path.is_dir():
                found[rel] = "folder"
            else:
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def train(out: Path, *options: str) -> None:
    """Run the small gan_mnist in this process (about 1 s an epoch)."""
    gan_mnist.main([*SMALL, "--out", str(out), *options])


def refused(capsys, out: Path, *options: str) -> str:
    """Run in this process, expecting exit status 2; its stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        train(out, *options)
    captured = capsys.readouterr()
    assert exit_info.value.code == 2, captured.err
    return captured.err


def command(out: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "experiments.gan_mnist", *SMALL, "--out", str(out), *options]


def popen(out: Path, *options: str) -> subprocess.Popen:
    return subprocess.Popen(command(out, *options), cwd=PROJECT_ROOT, env=environment(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def cli(out: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(command(out, *options), cwd=PROJECT_ROOT, env=environment(), capture_output=True,
                          text=True, timeout=300)


def log_entries(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def without_time(entries: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k != "elapsed_time"} for e in entries]


def lock_pid(out: Path) -> int | None:
    try:
        text = (out / "run.lock").read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def wait_for(condition, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """One epoch of the small run (checkpoint_4.pt), to copy from."""
    out = tmp_path_factory.mktemp("base") / "run"
    train(out, "--epochs", "1")
    return out


def copy_run(base: Path, dst: Path) -> Path:
    shutil.copytree(base, dst, symlinks=True)
    return dst


# -- 1. one writer at a time -------------------------------------------------------------
@pytest.mark.slow
def test_a_second_writer_is_refused_while_a_run_trains_and_a_killed_run_resumes_at_once(tmp_path):
    out = (tmp_path / "run").resolve()
    a = popen(out, "--epochs", "200")
    try:
        # A holds the lock (its PID recorded) and has a checkpoint, so --resume gets as far as the lock.
        wait_for(lambda: (out / "run.json").is_file() and lock_pid(out) == a.pid and latest_checkpoint(out), a)
        attempts = {
            "new": popen(out, "--epochs", "200"),
            "resume": popen(out, "--resume"),
            "force": popen(out, "--force", "--epochs", "200"),
        }
        results = {name: (p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for name, p in attempts.items()}
        for p in attempts.values():
            p.stdout.close()
            p.stderr.close()
        assert results == {name: (2, "", in_use(out, a.pid)) for name in attempts}
        assert a.poll() is None  # A goes on training
        trained = len(log_entries(out))
        wait_for(lambda: len(log_entries(out)) >= trained + 2, a)
        assert lock_pid(out) == a.pid
    finally:
        a.kill()
        a.wait()
        a.stdout.close()
        a.stderr.close()
    assert a.returncode == -signal.SIGKILL
    epochs = [e["epoch"] for e in log_entries(out)]
    assert epochs == list(range(1, len(epochs) + 1))  # one writer: no entry twice, none interleaved

    # The kernel released A's lock: the resume starts at once, from A's newest checkpoint.
    last = checkpoint_iterations(out)[-1] // 4
    result = cli(out, "--resume", "--epochs", str(last + 2))
    assert result.returncode == 0, result.stderr
    assert "in use" not in result.stderr
    entries = log_entries(out)
    assert [e["epoch"] for e in entries] == list(range(1, last + 3))
    assert [e["iteration"] for e in entries] == [4 * e for e in range(1, last + 3)]
    assert checkpoint_iterations(out)[-1] == 4 * (last + 2)


def test_data_loader_workers_of_a_killed_run_do_not_keep_its_lock(tmp_path):
    # Forked workers inherit the lock's descriptor; they outlive a SIGKILLed main process by
    # seconds (until their parent watchdog notices). They must not hold the lock meanwhile.
    # An image folder decoded per item (--preload-mb 0): data in memory is batched without workers.
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    for i in range(64):
        Image.new("RGB", (16, 16), (4 * i, 0, 255 - 4 * i)).save(images / f"{i}.png")
    out = (tmp_path / "run").resolve()
    a = popen(out, "--dataset", str(images), "--epochs", "200", "--num-workers", "2", "--preload-mb", "0")

    def workers():
        children = Path(f"/proc/{a.pid}/task/{a.pid}/children")  # Linux's list of a process's children
        return children.read_text().split() if children.exists() else []

    try:
        wait_for(lambda: lock_pid(out) == a.pid and len(workers()) == 2, a)
        children = workers()
    finally:
        a.kill()
        a.wait()
        a.stdout.close()
        a.stderr.close()
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists()]
    with RunLock(out):  # at once: raises "in use" while a worker keeps an inherited descriptor open
        pass
    assert alive, "no worker outlived the killed run: nothing was tested"


@pytest.mark.slow
def test_two_new_runs_started_at_once_one_trains_the_other_is_refused(tmp_path):
    out = (tmp_path / "run").resolve()
    procs = [popen(out, "--epochs", "2") for _ in range(2)]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert sorted(rc for rc, _, _ in results) == [0, 2], results
    (winner,) = [p for p, (rc, _, _) in zip(procs, results) if rc == 0]
    (loser_err,) = [err for rc, _, err in results if rc == 2]
    assert (re.fullmatch(ALREADY_HOLDS.format(out=re.escape(str(out))), loser_err)
            or loser_err in (in_use(out, winner.pid), in_use(out, None))), loser_err
    assert [e["iteration"] for e in log_entries(out)] == [4, 8]  # one run's entries, once each
    assert checkpoint_iterations(out) == [4, 8]
    assert read_marker(out).experiment == "gan_mnist"


@pytest.mark.parametrize("options", [["--resume", "--epochs", "2"], ["--force", "--epochs", "1"]])
def test_a_run_directory_locked_by_another_writer_is_left_alone(base_run, tmp_path, options, capsys):
    out = copy_run(base_run, tmp_path / "run")
    with RunLock(out) as lock:  # flock is per open file: this process's second open conflicts with it
        lock.record_holder()
        before = fingerprint(tmp_path)
        err = refused(capsys, out, *options)
        assert err == in_use(out, os.getpid())
        assert fingerprint(tmp_path) == before


def test_a_new_run_into_a_directory_in_use_says_it_is_in_use(base_run, tmp_path, capsys):
    # Not "already holds a run ... pass --resume or --force": both would be refused too.
    out = copy_run(base_run, tmp_path / "run")
    with RunLock(out) as lock:
        lock.record_holder()
        before = fingerprint(tmp_path)
        err = refused(capsys, out, "--epochs", "1")
        assert fingerprint(tmp_path) == before
    assert err == in_use(out, os.getpid())


def test_a_holder_that_has_not_recorded_its_pid_yet_is_not_named_by_a_dead_ones(base_run, tmp_path, capsys):
    out = copy_run(base_run, tmp_path / "run")
    gone = subprocess.Popen(["true"])
    gone.wait()
    (out / "run.lock").write_text(f"{gone.pid}\n")  # as a killed run leaves it
    with RunLock(out):  # a new holder, still loading its checkpoint: it has recorded no PID yet
        err = refused(capsys, out, "--resume", "--epochs", "2")
    assert err == in_use(out, None)


# -- 2. --force deletes only what the run wrote --------------------------------------------
def _holiday(out: Path, elsewhere: Path) -> None:
    (out / "images" / "holiday.png").write_bytes(b"\x89PNG a user's photo")


def _images_linked(out: Path, elsewhere: Path) -> None:
    elsewhere.mkdir()
    shutil.move(out / "images", elsewhere / "images")  # the real grids now live elsewhere
    (out / "images").symlink_to(elsewhere / "images", target_is_directory=True)


def _subfolder(out: Path, elsewhere: Path) -> None:
    (out / "checkpoints" / "old").mkdir()
    (out / "checkpoints" / "old" / "checkpoint_1.pt").write_bytes(b"kept by the user")


def _linked_checkpoint(out: Path, elsewhere: Path) -> None:
    elsewhere.mkdir()
    (elsewhere / "precious.pt").write_bytes(b"not the run's")
    (out / "checkpoints" / "checkpoint_99.pt").symlink_to(elsewhere / "precious.pt")


def _notes(out: Path, elsewhere: Path) -> None:
    (out / "notes.txt").write_text("my notes\n")


@pytest.mark.parametrize("arrange, what, why", [
    (_holiday, "images/holiday.png", "which no run writes"),
    (_images_linked, "images", "a symbolic link, which a run never makes"),
    (_subfolder, "checkpoints/old", "not a file a run writes"),
    (_linked_checkpoint, "checkpoints/checkpoint_99.pt", "not a file a run writes"),
    (_notes, "notes.txt", "which no run writes"),
])
def test_force_refuses_a_run_directory_holding_anything_the_run_did_not_write(
    base_run, tmp_path, capsys, arrange, what, why
):
    out = copy_run(base_run, tmp_path / "run")
    arrange(out, tmp_path / "elsewhere")
    before = fingerprint(tmp_path)  # the run directory and the folder elsewhere
    err = refused(capsys, out, "--force", "--epochs", "1")
    assert err == (f"error: --force replaces only what a run wrote, but {out} holds {what} ({why}); move it out "
                   f"of the run directory first, or choose another --out; nothing was deleted\n")
    assert fingerprint(tmp_path) == before


def test_force_replaces_a_run_with_only_the_new_runs_files(base_run, tmp_path, capsys):
    out = copy_run(base_run, tmp_path / "run")
    # Files of the names a run writes, as a longer run and killed writes leave them: all go.
    shutil.copy(out / "images" / "epoch_0001.png", out / "images" / "epoch_0007.png")
    shutil.copy(out / "checkpoints" / "checkpoint_4.pt", out / "checkpoints" / "checkpoint_400.pt")
    shutil.copy(out / "checkpoints" / "checkpoint_4.pt.sha256", out / "checkpoints" / "checkpoint_400.pt.sha256")
    (out / "checkpoints" / "tmpab12cd34").write_bytes(b"half a checkpoint")
    (out / ".log.jsonl.ab12cd34.tmp").write_text("half a log")
    (tmp_path / "beside.txt").write_text("the parent's file\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.png").write_bytes(b"png")
    old_id = read_marker(out).run_id
    parent_before = {k: v for k, v in fingerprint(tmp_path).items() if k != "run" and not k.startswith("run/")}

    train(out, "--force", "--epochs", "1")

    files = fingerprint(out)
    (tb,) = [name for name in files if name.startswith("tb/")]
    assert set(files) == {
        "run.json", "run.lock", "config.json", "log.jsonl", "images", "images/epoch_0001.png", "checkpoints",
        "checkpoints/checkpoint_4.pt", "checkpoints/checkpoint_4.pt.sha256", "plots", "plots/loss.png",
        "plots/dis_output.png", "tb", tb,
    }
    marker = read_marker(out)
    assert re.fullmatch("[0-9a-f]{32}", marker.run_id) and marker.run_id != old_id
    assert [e["iteration"] for e in log_entries(out)] == [4]
    assert verify_checkpoint(out / "checkpoints" / "checkpoint_4.pt") is None
    assert {k: v for k, v in fingerprint(tmp_path).items() if k != "run" and not k.startswith("run/")} == parent_before


@pytest.mark.parametrize("options, message", [
    (["--epochs", "1"], "error: --out {out} is not empty (images) and holds no run; choose a new or empty directory\n"),
    (["--force", "--epochs", "1"], "error: --out {out} is not empty (images) and holds no run; --force replaces "
                                   "only a gan_ignite run; choose a new or empty directory\n"),
    (["--resume", "--epochs", "1"], "error: --resume: {out} holds no run (no run.json); pass the --out of a "
                                    "gan_ignite run\n"),
])
def test_a_folder_that_is_no_run_is_never_written(tmp_path, capsys, options, message):
    out = tmp_path / "photos"
    (out / "images").mkdir(parents=True)
    (out / "images" / "x.png").write_bytes(b"png")
    before = fingerprint(tmp_path)
    err = refused(capsys, out, *options)
    assert err == message.format(out=out)
    if "--force" not in options:
        assert "--force" not in err  # not an invitation to delete someone's folder
    assert fingerprint(tmp_path) == before


# -- 3. the marker ------------------------------------------------------------------------
def test_write_marker_writes_format_1_the_experiment_a_run_id_and_the_layout(tmp_path):
    marker = write_marker(tmp_path, "gan_mnist")
    data = json.loads((tmp_path / "run.json").read_text())
    assert set(data) == {"format", "experiment", "run_id", "created", "entries"}
    assert data["format"] == 1 == run_dir.FORMAT
    assert data["experiment"] == "gan_mnist"
    assert re.fullmatch("[0-9a-f]{32}", data["run_id"])
    assert data["entries"] == list(ENTRIES) == ["run.json", "run.lock", "config.json", "log.jsonl", "report.html",
                                                "images", "checkpoints", "tb", "plots"]
    assert read_marker(tmp_path) == marker
    assert marker.entries == tuple(ENTRIES) and marker.run_id == data["run_id"]
    assert write_marker(tmp_path, "gan_mnist").run_id != marker.run_id  # new for every run
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # written atomically: no temporary file left


def test_read_marker_of_a_directory_without_one_is_none(tmp_path):
    assert read_marker(tmp_path) is None


def _marker_json(**changes) -> str:
    data = {"format": 1, "experiment": "gan_mnist", "run_id": "0" * 32, "created": "2024-01-01T00:00:00+00:00",
            "entries": list(ENTRIES)}
    return json.dumps({**data, **changes})


def _write(text):
    return lambda path: path.write_text(text)


def _directory(path):
    path.mkdir()


def _symlink(path):
    (path.parent / "elsewhere.json").write_text(_marker_json())
    path.symlink_to(path.parent / "elsewhere.json")


@pytest.mark.parametrize("make, problem", [
    (_write("not json"), "Expecting value: line 1 column 1 (char 0)"),
    (_write(_marker_json(format=2)), "unexpected content"),
    (_write(_marker_json(entries=["run.json", "../x"])), "unexpected content"),
    (_write(_marker_json(entries=["run.json", "notes.txt"])), "unexpected content"),
    (_write(_marker_json(run_id=7)), "unexpected content"),
    (_write("[1, 2]"), "unexpected content"),
    (_directory, "it is not a regular file"),
    (_symlink, "it is not a regular file"),
])
def test_read_marker_refuses_anything_but_a_marker_of_this_format(tmp_path, make, problem):
    make(tmp_path / "run.json")
    message = (f"{tmp_path / 'run.json'} is not a gan_ignite run marker ({problem}); this directory is not a run "
               f"that can be resumed or replaced: choose another --out")
    with pytest.raises(UsageError, match=f"^{re.escape(message)}$"):
        read_marker(tmp_path)


@pytest.mark.parametrize("options", [["--force", "--epochs", "1"], ["--resume", "--epochs", "2"],
                                     ["--epochs", "1"]])
def test_a_run_directory_with_a_foreign_marker_is_neither_replaced_nor_resumed(base_run, tmp_path, capsys, options):
    out = copy_run(base_run, tmp_path / "run")
    (out / "run.json").write_text(_marker_json(entries=["run.json", "../x"]))
    before = fingerprint(tmp_path)
    err = refused(capsys, out, *options)
    assert err == (f"error: {out / 'run.json'} is not a gan_ignite run marker (unexpected content); this "
                   f"directory is not a run that can be resumed or replaced: choose another --out\n")
    assert fingerprint(tmp_path) == before


# -- 4. paths -----------------------------------------------------------------------------
def test_out_with_a_tilde_puts_every_file_under_home_and_resume_finds_them(tmp_path, monkeypatch):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    train(Path("~/run"), "--epochs", "1")
    run = home / "run"
    assert (run / "config.json").is_file() and (run / "log.jsonl").is_file()
    assert checkpoint_iterations(run) == [4]
    assert json.loads((run / "config.json").read_text())["out"] == str(run)
    assert list(cwd.iterdir()) == []  # no "cwd/~"
    train(Path("~/run"), "--resume", "--epochs", "2")
    assert checkpoint_iterations(run) == [4, 8]
    assert [e["iteration"] for e in log_entries(run)] == [4, 8]
    assert list(cwd.iterdir()) == [] and sorted(p.name for p in home.iterdir()) == ["run"]


def test_out_a_dangling_symlink_is_one_line_and_creates_nothing(tmp_path, capsys):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "missing" / "run")
    before = fingerprint(tmp_path)
    err = refused(capsys, link, "--epochs", "1")
    assert err == (f"error: --out {link} is a symbolic link to {tmp_path / 'missing' / 'run'}, which does not "
                   f"exist; create the target or pass another path\n")
    assert fingerprint(tmp_path) == before


def test_out_with_a_name_too_long_is_one_line_and_creates_nothing(tmp_path, capsys):
    before = fingerprint(tmp_path)
    err = refused(capsys, tmp_path / ("a" * 300), "--epochs", "1")
    assert err == ("error: --out has a name of 300 bytes (aaaaaaaaaaaaaaaaaaaa...), longer than the 255 this "
                   "file system allows; pass a shorter path\n")
    assert fingerprint(tmp_path) == before


def test_evaluate_of_a_dangling_symlink_names_the_run_dir_argument(tmp_path, capsys):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "missing")
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([str(link), "--n", "8"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (f"error: RUN_DIR {link} is a symbolic link to {tmp_path / 'missing'}, "
                                       f"which does not exist; create the target or pass another path\n")


# -- 5. nothing executes from a run directory --------------------------------------------
def payload(flag: Path) -> str:
    return (f"import pathlib\npathlib.Path({str(flag)!r}).write_text('pwned')\n"
            f"pathlib.Path('PWNED').write_text('pwned')\nprint('PAYLOAD RAN')\n")


def evaluate_here(run: Path) -> subprocess.CompletedProcess:
    """``python -m gan_ignite.evaluate .`` from inside ``run``: the run directory is first on sys.path."""
    return subprocess.run([sys.executable, "-m", "gan_ignite.evaluate", ".", "--n", "8"], cwd=run,
                          env=environment(), capture_output=True, text=True, timeout=120)


def pwned(root: Path) -> list[Path]:
    return [*root.rglob("PWNED"), *PROJECT_ROOT.glob("PWNED")]


def name_experiment(run: Path, name: str) -> None:
    """Name ``name`` as the run's experiment, in its marker and its settings, as a crafted run would."""
    for file in ("run.json", "config.json"):
        settings = json.loads((run / file).read_text())
        (run / file).write_text(json.dumps({**settings, "experiment": name}))


def test_an_experiment_named_by_a_run_directory_module_is_not_imported(base_run, tmp_path):
    run = copy_run(base_run, tmp_path / "run")
    (run / "rundir_helpers.py").write_text(payload(tmp_path / "PWNED"))
    name_experiment(run, "rundir_helpers")
    result = evaluate_here(run)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"error: unknown experiment 'rundir_helpers'; choose one of {NAMES}\n"
    assert pwned(tmp_path) == []


def test_an_experiment_named_after_a_stdlib_module_is_not_imported(base_run, tmp_path):
    run = copy_run(base_run, tmp_path / "run")
    name_experiment(run, "this")  # importing `this` prints the Zen of Python
    result = evaluate_here(run)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"error: unknown experiment 'this'; choose one of {NAMES}\n"
    assert "Beautiful is better than ugly" not in result.stdout + result.stderr


def test_an_experiments_package_in_the_working_directory_is_refused_before_it_runs(base_run, tmp_path):
    run = copy_run(base_run, tmp_path / "run")  # its config.json names gan_mnist, genuinely
    (run / "experiments").mkdir()
    (run / "experiments" / "__init__.py").write_text(payload(tmp_path / "PWNED"))
    (run / "experiments" / "gan_mnist.py").write_text(payload(tmp_path / "PWNED"))
    result = evaluate_here(run)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (f"error: the package `experiments` found first on the module path is "
                             f"{run / 'experiments'}, not gan_ignite's own {EXPERIMENTS_DIR}; run from another "
                             f"directory\n")
    assert pwned(tmp_path) == []


def test_the_installed_command_runs_no_module_of_the_working_directory(base_run, tmp_path):
    # `python -m` puts the working directory first on sys.path, so a json.py there would run
    # before any of gan_ignite's code (Python's rule, not ours; `python -P` turns it off).
    # The installed `gan-ignite evaluate` does not: the safe way inside a downloaded run.
    run = copy_run(base_run, tmp_path / "run")
    (run / "json.py").write_text(payload(tmp_path / "PWNED"))
    command = Path(sys.executable).with_name("gan-ignite")
    result = subprocess.run([str(command), "evaluate", ".", "--n", "8", "--extractor", "missing.pt"], cwd=run,
                            env=environment(), capture_output=True, text=True, timeout=120)
    assert pwned(tmp_path) == [] and "PAYLOAD RAN" not in result.stdout
    assert (result.returncode, result.stderr) == (
        2, f"error: No feature extractor for 'digits' at {run / 'missing.pt'}; train one with: gan-ignite "
           f"train-extractor --dataset digits --data-root DIR\n")


# -- 6. a full disk ---------------------------------------------------------------------
@pytest.fixture
def tmpfs():
    """``mount(path, *options)`` a tmpfs on ``path``; every mount is unmounted afterwards."""
    mounted: list[Path] = []

    def mount(path: Path, *options: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        try:
            result = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(path)],
                                    capture_output=True, text=True)
        except FileNotFoundError:
            pytest.skip("no mount command: a tmpfs is needed to fill a disk")
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): {result.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def temporary_names(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith("tmp") or re.fullmatch(r"\..*\.tmp", p.name)]


@pytest.mark.slow
def test_a_full_disk_ends_with_one_line_and_leaves_the_checkpoint_intact(tmpfs, tmp_path):
    disk = tmpfs(tmp_path / "disk", "size=4m")
    out = disk / "run"
    train(out, "--epochs", "1")
    checkpoints = out / "checkpoints"
    size = (checkpoints / "checkpoint_4.pt").stat().st_size
    kept = fingerprint(checkpoints)
    # Leave less room than a checkpoint needs, enough for a grid, a log line, plots and events.
    room = 64 * 1024
    assert size > 1.5 * room
    stat = os.statvfs(disk)
    filler = disk / "filler"
    filler.write_bytes(b"\1" * (stat.f_bavail * stat.f_frsize - room))

    result = cli(out, "--resume", "--epochs", "2")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr == (f"error: no space left on device while writing {checkpoints / 'checkpoint_8.pt'}; "
                             f"the previous checkpoint {checkpoints / 'checkpoint_4.pt'} is intact; free space and "
                             f"resume\n")
    assert fingerprint(checkpoints) == kept  # checkpoint_4.pt and its sidecar, byte for byte, nothing else
    assert temporary_names(checkpoints) == []

    filler.unlink()
    train(out, "--resume", "--epochs", "2")
    assert checkpoint_iterations(out) == [4, 8]
    assert verify_checkpoint(checkpoints / "checkpoint_8.pt") is None
    assert [e["iteration"] for e in log_entries(out)] == [4, 8]  # epoch 2 once, though the failed run logged it
    assert temporary_names(checkpoints) == []


def test_a_read_only_checkpoints_folder_is_refused_at_start(tmpfs, base_run, tmp_path, capsys):
    out = copy_run(base_run, tmp_path / "run")
    checkpoints = out / "checkpoints"
    saved = tmp_path / "saved"
    shutil.move(checkpoints, saved)
    tmpfs(checkpoints, "size=1m")
    for path in saved.iterdir():
        shutil.copy(path, checkpoints / path.name)
    subprocess.run(["mount", "-o", "remount,ro", str(checkpoints)], check=True)
    before = fingerprint(out)
    err = refused(capsys, out, "--resume", "--epochs", "2")
    assert re.fullmatch(rf"error: {re.escape(str(checkpoints))} is not writable \(Read-only file system\); "
                        r"[^\n]+ and resume\n", err), err
    assert fingerprint(out) == before


def test_a_read_only_mount_is_not_sent_to_chmod(tmpfs, base_run, tmp_path, capsys):
    out = copy_run(base_run, tmp_path / "run")
    shutil.rmtree(out / "plots")
    tmpfs(out / "plots", "size=1m", "ro")
    err = refused(capsys, out, "--resume", "--epochs", "2")
    assert err.startswith(f"error: {out / 'plots'} is not writable (Read-only file system); "), err
    assert "chmod" not in err


# -- 7. integrity fallback --------------------------------------------------------------
@pytest.fixture(scope="module")
def three_epochs(tmp_path_factory):
    out = tmp_path_factory.mktemp("three") / "run"
    train(out, "--n-saved", "3", "--epochs", "3")
    assert checkpoint_iterations(out) == [4, 8, 12]
    return out


@pytest.fixture(scope="module")
def four_epochs(tmp_path_factory):
    out = tmp_path_factory.mktemp("four") / "run"
    train(out, "--n-saved", "3", "--epochs", "4")
    return out


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _drop_sidecar(path: Path) -> None:
    path.with_name(path.name + ".sha256").unlink()


@pytest.mark.parametrize("damage, problem", [
    (_flip_a_byte, "its bytes differ from the SHA-256 recorded when it was written"),
    (_drop_sidecar, "it has no .sha256 sidecar: its write did not finish"),
])
def test_resume_passes_over_a_checkpoint_that_fails_its_integrity_check(
    three_epochs, four_epochs, tmp_path, capsys, damage, problem
):
    out = copy_run(three_epochs, tmp_path / "run")
    damaged = out / "checkpoints" / "checkpoint_12.pt"
    damage(damaged)
    capsys.readouterr()
    train(out, "--n-saved", "3", "--resume", "--epochs", "4")
    assert capsys.readouterr().err == (f"warning: checkpoint {damaged} fails its integrity check ({problem}); "
                                       f"using checkpoint_8.pt instead\n")
    assert without_time(log_entries(out)) == without_time(log_entries(four_epochs))
    assert identical(final_weights(out), final_weights(four_epochs))
    assert checkpoint_iterations(out) == [8, 12, 16]  # checkpoint_12.pt written anew
    assert all(verify_checkpoint(out / "checkpoints" / f"checkpoint_{i}.pt") is None for i in (8, 12, 16))


# -- 8. a moving average switched on at resume -------------------------------------------
NOTE = ("note: the generator's moving average starts at iteration 4 from the current weights "
        "(the checkpoint holds no average)")


def test_an_average_switched_on_at_resume_starts_from_the_current_weights_and_says_so(base_run, tmp_path, capsys):
    out = copy_run(base_run, tmp_path / "run")
    capsys.readouterr()
    train(out, "--resume", "--ema-decay", "0.999", "--epochs", "2")
    assert capsys.readouterr().err.splitlines() == [NOTE]
    state = torch.load(out / "checkpoints" / "checkpoint_8.pt", weights_only=True)
    assert "ema" in state["trainer"]["extensions"]
    # Resumed again, from a checkpoint that holds the average: no note.
    train(out, "--resume", "--epochs", "3")
    assert "note:" not in capsys.readouterr().err
    assert checkpoint_iterations(out) == [4, 8, 12]


def _stub_trainer(tmp_path):
    gen = nn.Linear(2, 2)
    trainer = Trainer(lambda engine, batch: {}, [0], stop_trigger=(1, "epoch"), out=tmp_path)
    initial = {k: v.clone() for k, v in gen.state_dict().items()}
    return gen, trainer, initial


def _move(gen):
    with torch.no_grad():
        for p in gen.parameters():
            p.add_(1.0)


def test_ema_initialized_mid_run_without_a_saved_average_copies_the_current_weights(tmp_path):
    gen, trainer, initial = _stub_trainer(tmp_path)
    ema = E.EMA(gen, decay=0.999, out=(note := io.StringIO()))
    _move(gen)  # trained since it was built
    trainer.engine.state.iteration = 4
    ema.initialize(trainer)
    for name, tensor in ema.ema_model.state_dict().items():
        torch.testing.assert_close(tensor, gen.state_dict()[name])
        assert not torch.equal(tensor, initial[name])
    assert note.getvalue() == NOTE + "\n"


def test_ema_initialized_with_a_saved_average_keeps_it_and_says_nothing(tmp_path):
    gen, trainer, initial = _stub_trainer(tmp_path)
    ema = E.EMA(gen, decay=0.999, out=(note := io.StringIO()))
    saved = {k: torch.full_like(v, 7.0) for k, v in gen.state_dict().items()}
    ema.load_state_dict({"ema_model": saved})
    _move(gen)
    trainer.engine.state.iteration = 4
    ema.initialize(trainer)
    for name, tensor in ema.ema_model.state_dict().items():
        torch.testing.assert_close(tensor, saved[name])
    assert note.getvalue() == ""


def test_ema_initialized_at_the_start_begins_from_the_built_weights(tmp_path):
    gen, trainer, initial = _stub_trainer(tmp_path)
    ema = E.EMA(gen, decay=0.999, out=(note := io.StringIO()))
    ema.initialize(trainer)  # iteration 0: a new run
    for name, tensor in ema.ema_model.state_dict().items():
        torch.testing.assert_close(tensor, initial[name])
    assert note.getvalue() == ""


# -- 9. a learning rate changed at resume -----------------------------------------------
def test_resume_with_another_lr_trains_with_it(base_run, tmp_path):
    out = copy_run(base_run, tmp_path / "run")
    checkpoint = out / "checkpoints" / "checkpoint_4.pt"
    saved = torch.load(checkpoint, weights_only=True)
    assert [g["lr"] for g in saved["opt_gen"]["param_groups"]] == [5e-4]  # gan_mnist's default
    config = parse_config(gan_mnist.Config, [*SMALL, "--out", str(out), "--resume", "--lr", "1e-4", "--epochs", "2"])
    assert config.lr == 1e-4
    for keep, lr in ((True, 1e-4), (False, 5e-4)):
        trainer = gan_mnist.build(config)
        load_snapshot(trainer, checkpoint, keep_hyperparameters=keep)
        for name in ("opt_gen", "opt_dis"):
            optimizer = getattr(trainer.updater, name)
            assert [g["lr"] for g in optimizer.param_groups] == [lr], (name, keep)
            # The moments come from the checkpoint either way.
            moments = optimizer.state_dict()["state"]
            for index, values in saved[name]["state"].items():
                torch.testing.assert_close(moments[index]["exp_avg"], values["exp_avg"], rtol=0, atol=0)

    train(out, "--resume", "--lr", "1e-4", "--epochs", "2")
    resumed = torch.load(out / "checkpoints" / "checkpoint_8.pt", weights_only=True)
    assert [g["lr"] for g in resumed["opt_gen"]["param_groups"]] == [1e-4]
    assert [g["lr"] for g in resumed["opt_dis"]["param_groups"]] == [1e-4]
    assert json.loads((out / "config.json").read_text())["lr"] == 1e-4


def test_force_removes_the_report_page_also_of_runs_whose_marker_predates_it(tmp_path):
    from gan_ignite.run_dir import Marker, removable_files

    (tmp_path / "run.json").write_text("{}")
    (tmp_path / "log.jsonl").write_text("")
    (tmp_path / "report.html").write_text("<html></html>")
    old = Marker(1, "gan_mnist", "0" * 32, "2026-01-01T00:00:00+00:00", ("run.json", "run.lock", "log.jsonl"))
    assert sorted(p.name for p in removable_files(tmp_path, old)) == ["log.jsonl", "report.html", "run.json"]
