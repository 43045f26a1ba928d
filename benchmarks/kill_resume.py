"""Kill/resume stress test: SIGKILL short runs at random points, resume each, compare bitwise.

Each trial starts ``python -m experiments.gan_mnist`` on a slice of the embedded digits
with a checkpoint every few iterations, kills it with SIGKILL at a random moment after
its first checkpoint, resumes it with ``--resume`` and compares the final checkpoint's
generator and discriminator weights with those of the same run never interrupted.
Write trials do the same with a large model (76 MB checkpoints, one per iteration) and
kill while a checkpoint is being written (a temporary file is on disk). Prints
``N kills, N resumed, N identical`` and exits non-zero unless all are identical::

    python benchmarks/kill_resume.py                      # 20 random kills + 5 during writes
    python benchmarks/kill_resume.py --kills 40 --num-workers 2

Every process runs with one torch thread (``OMP_NUM_THREADS=1``): the bitwise
comparison needs the same thread count everywhere, and on a shared 2-core machine one
thread is also much faster. The helpers are reused by ``tests/test_resume.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MODULE = "experiments.gan_mnist"
# A tiny DCGAN on 64 digits: 4 iterations an epoch, a checkpoint every 3 iterations, so
# snapshots fall both on and between epoch ends.
SMALL = ["--limit", "64", "--batch-size", "16", "--image-size", "16", "--feature-maps", "8", "--z-dim", "8",
         "--n-samples", "4", "--no-progress", "--epochs", "6", "--snapshot-iterations", "3"]
# A large DCGAN (64x64, 64 feature maps): each checkpoint is about 76 MB and takes a
# quarter of a second to write; 2 iterations an epoch, a checkpoint every iteration.
LARGE = ["--limit", "32", "--batch-size", "16", "--image-size", "64", "--feature-maps", "64",
         "--n-samples", "4", "--no-progress", "--epochs", "3", "--snapshot-iterations", "1"]
_TEMP_PREFIX = "tmp"  # Ignite's DiskSaver writes tempfile.NamedTemporaryFile names


def environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def command(out: Path, options: list[str], *extra: str) -> list[str]:
    return [sys.executable, "-m", MODULE, *options, "--out", str(out), *extra]


def start(out: Path, options: list[str]) -> subprocess.Popen:
    """Start a run in the background; its output goes to ``out.log``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{out}.log", "w") as log:  # the child writes to its own copy of the handle
        return subprocess.Popen(command(out, options), cwd=PROJECT_ROOT, env=environment(), stdout=log, stderr=log)


def run(out: Path, options: list[str], *extra: str) -> subprocess.CompletedProcess:
    """Run to the end (``extra`` e.g. ``--resume``); raise with its output if it fails."""
    result = subprocess.run(
        command(out, options, *extra), cwd=PROJECT_ROOT, env=environment(), capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command(out, options, *extra))} failed:\n{result.stderr[-3000:]}")
    return result


def checkpoint_iterations(out: Path) -> list[int]:
    """Iterations of the complete checkpoints in ``out`` (temporary files excluded)."""
    try:
        names = os.listdir(out / "checkpoints")
    except FileNotFoundError:
        return []
    return sorted(int(n[len("checkpoint_") : -3]) for n in names if n.startswith("checkpoint_") and n.endswith(".pt"))


def temporary_files(out: Path) -> list[str]:
    try:
        return [n for n in os.listdir(out / "checkpoints") if n.startswith(_TEMP_PREFIX)]
    except FileNotFoundError:
        return []


def kill_after_checkpoint(proc: subprocess.Popen, out: Path, iteration: int, delay: float) -> bool:
    """SIGKILL ``proc`` ``delay`` seconds after a checkpoint of ``iteration`` or later exists.

    Returns whether it was killed (False: it finished first).
    """
    while proc.poll() is None and not any(it >= iteration for it in checkpoint_iterations(out)):
        time.sleep(0.002)
    time.sleep(delay)
    return _kill(proc)


def kill_during_write(proc: subprocess.Popen, out: Path, nth: int, delay: float) -> bool:
    """SIGKILL ``proc`` ``delay`` seconds into the ``nth`` checkpoint write it starts.

    Returns whether a temporary file was left behind, i.e. the kill struck mid-write.
    """
    seen = 0
    while proc.poll() is None and seen < nth:
        while proc.poll() is None and not temporary_files(out):
            time.sleep(0.0005)
        seen += 1
        if seen < nth:
            while proc.poll() is None and temporary_files(out):
                time.sleep(0.0005)
    time.sleep(delay)
    return _kill(proc) and bool(temporary_files(out))


def _kill(proc: subprocess.Popen) -> bool:
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def final_weights(out: Path) -> dict:
    """The generator and discriminator weights in the newest checkpoint of ``out``."""
    import torch

    state = torch.load(out / "checkpoints" / f"checkpoint_{checkpoint_iterations(out)[-1]}.pt", weights_only=True)
    return {"gen": state["gen"], "dis": state["dis"], "iteration": state["trainer"]["engine"]["iteration"]}


def identical(a: dict, b: dict) -> bool:
    """Bitwise equality of two :func:`final_weights`."""
    import torch

    return a["iteration"] == b["iteration"] and all(
        a[net].keys() == b[net].keys() and all(torch.equal(a[net][k], b[net][k]) for k in a[net])
        for net in ("gen", "dis")
    )


@dataclass
class Trial:
    name: str
    options: list[str]
    during_write: bool
    point: int  # the checkpoint iteration (random kills) or the write (write kills) to kill after
    delay: float
    killed: bool = False
    mid_write: bool = False
    resumed: bool = False
    identical: bool = False
    leftovers: bool = False  # temporary files still there after the resumed run
    error: str = ""  # why the resumed run failed
    resumed_from: int = 0  # the newest complete checkpoint the kill left


def run_trial(trial: Trial, root: Path, reference: dict) -> Trial:
    out = root / trial.name
    proc = start(out, trial.options)
    if trial.during_write:
        trial.mid_write = kill_during_write(proc, out, trial.point, trial.delay)
        trial.killed = proc.returncode == -signal.SIGKILL
    else:
        trial.killed = kill_after_checkpoint(proc, out, trial.point, trial.delay)
    if trial.killed:
        trial.resumed_from = max(checkpoint_iterations(out), default=0)
        try:
            run(out, trial.options, "--resume")
        except RuntimeError as exc:
            trial.error = str(exc).strip().splitlines()[-1]
            return trial
        trial.resumed = True
        trial.identical = identical(final_weights(out), reference)
        trial.leftovers = bool(temporary_files(out))  # resuming should have removed them
    if trial.identical and not trial.leftovers or not trial.killed:
        shutil.rmtree(out)  # keep the evidence of a failure only
    return trial


def make_trials(kills: int, write_kills: int, rng: random.Random, workers: list[str], seconds: float) -> list[Trial]:
    """Random kill points: after a random checkpoint, then up to 3 iterations' time more."""
    trials = []
    for i in range(kills):
        # After one of the checkpoints at 3, 6, ..., 18 (of 24 iterations), and then at most
        # 3 iterations' time more: the kill falls anywhere from iteration 3 to about 21.
        point = rng.choice(range(3, 19, 3))
        trials.append(Trial(f"kill{i:02d}", SMALL + workers, False, point, rng.uniform(0, 3 * seconds)))
    for i in range(write_kills):
        # The large run writes 6 checkpoints; kill in one of writes 2 to 5 (a kill in the
        # first leaves nothing to resume), at most 0.15 s in.
        trials.append(Trial(f"write{i:02d}", LARGE + workers, True, rng.randint(2, 5), rng.uniform(0, 0.15)))
    return trials


def describe(t: Trial) -> str:
    where = f"during write {t.point} (+{t.delay:.3f} s)" if t.during_write else (
        f"{t.delay:.2f} s after checkpoint {t.point}")
    outcome = "identical" if t.identical else ("DIFFERENT" if t.resumed else (
        f"RESUME FAILED: {t.error}" if t.killed else "finished before the kill"))
    resumed = f", resumed from {t.resumed_from}" if t.killed else ""
    return f"{t.name}: kill {where}{', mid-write' if t.mid_write else ''}{resumed}: {outcome}"


def seconds_per_iteration(out: Path) -> float:
    entries = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return entries[-1]["elapsed_time"] / entries[-1]["iteration"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="random SIGKILLs of the small run (default 20)")
    parser.add_argument("--write-kills", type=int, default=5, help="SIGKILLs during large checkpoint writes")
    parser.add_argument("--num-workers", type=int, default=0, help="data loader workers of every run")
    parser.add_argument("--seed", type=int, default=None, help="seed of the kill points (default: random)")
    parser.add_argument("--jobs", type=int, default=2, help="trials run side by side")
    parser.add_argument("--workdir", help="a new folder for the runs; failed ones stay (default: a temporary one)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    workers = ["--num-workers", str(args.num_workers)] if args.num_workers else []

    with tempfile.TemporaryDirectory(prefix="kill_resume_") as tmp:
        root = Path(args.workdir or tmp)
        references = {}
        for name, options in (("small", SMALL + workers), ("large", LARGE + workers)):
            if name == "small" or args.write_kills:
                run(root / f"reference_{name}", options)
                references[name] = final_weights(root / f"reference_{name}")
        pace = seconds_per_iteration(root / "reference_small")
        trials = make_trials(args.kills, args.write_kills, random.Random(seed), workers, pace)
        done = []
        with ThreadPoolExecutor(args.jobs) as pool:
            for t in pool.map(lambda t: run_trial(t, root, references["large" if t.during_write else "small"]), trials):
                print(describe(t), flush=True)
                done.append(t)
    killed = [t for t in done if t.killed]
    print(f"kill points seed {seed}; {sum(t.mid_write for t in done)} kills left a checkpoint half-written, "
          f"{sum(t.leftovers for t in done)} resumed runs kept temporary files")
    resumed, same = sum(t.resumed for t in killed), sum(t.identical for t in killed)
    print(f"{len(killed)} kills, {resumed} resumed, {same} identical")
    return 0 if killed and all(t.identical and not t.leftovers for t in killed) else 1


if __name__ == "__main__":
    sys.exit(main())
