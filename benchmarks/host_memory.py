"""What keeping freed host memory buys: glibc's defaults against ``--keep-freed-memory``.

``gan_ignite.host_memory.keep_freed_memory`` is process-wide and cannot be undone inside
a process, so each measurement is its own process (``--worker``), and the two settings
alternate over ``--rounds`` (the order swapping each round) for each configuration:

- **trainer**: the experiment's trainer as ``benchmarks/throughput.py`` builds it, with
  ``keep_freed_memory`` on (the default) or off;
- **plain**: the same plain loop as there, after :func:`keep_freed_memory` or not.

Each in float32 and, where the machine has bf16 units, with the fast switches
(channels_last + bf16 autocast). Reported: images/s (median over rounds), the ratio
kept / defaults, and the minor page faults per timed iteration (``ru_minflt``), the cost
the setting removes. The last line is one JSON object::

    python benchmarks/host_memory.py --quick   # about 2 minutes on 2 CPU cores
    python benchmarks/host_memory.py --rounds 5
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Events
from ignite.utils import manual_seed

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput as T  # noqa: E402

from gan_ignite.host_memory import keep_freed_memory  # noqa: E402

SETUPS = {"28x28x1": lambda root: T.digits_setup("28x28x1"), "32x32x3 no-bn": lambda root: T.cifar_setup("32x32x3 no-bn", root)}
MODES = ("defaults", "kept")


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


class Window:
    """Seconds and page faults of a trainer's iterations ``warmup + 1 .. warmup + iterations``."""

    def __init__(self, warmup: int, iterations: int) -> None:
        self.warmup, self.last = warmup, warmup + iterations
        self.start = (0.0, 0)
        self.measured = (0.0, 0)

    def completed(self, engine: Any) -> None:
        if engine.state.iteration == self.warmup:
            self.start = (time.perf_counter(), faults())
        elif engine.state.iteration == self.last:
            self.measured = (time.perf_counter() - self.start[0], faults() - self.start[1])
            engine.terminate()


def run_trainer(setup: T.Setup, kept: bool, fast: bool, warmup: int, iterations: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        switches = T.fast_switches() if fast else {}
        config = dataclasses.replace(setup.config, out=str(Path(tmp) / "run"), keep_freed_memory=kept, **switches)
        manual_seed(T.SEED)
        trainer = T.build_trainer(setup, config)  # gan_trainer applies keep_freed_memory from the config
        window = Window(warmup, iterations)
        trainer.engine.add_event_handler(Events.ITERATION_COMPLETED, window.completed)
        with contextlib.redirect_stdout(sys.stderr):
            trainer.run()
        return window.measured


def run_plain(setup: T.Setup, kept: bool, fast: bool, warmup: int, iterations: int) -> tuple[float, int]:
    if kept:
        keep_freed_memory()
    gen, dis, opt_gen, opt_dis = T.networks(setup, "cpu", fast=fast)
    images = setup.images.contiguous(memory_format=torch.channels_last)
    data = T.batches(images)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast):
            T.plain_step(gen, dis, opt_gen, opt_dis, next(data), setup.config.z_dim)

    for _ in range(warmup):
        step()
    start, before = time.perf_counter(), faults()
    for _ in range(iterations):
        step()
    return time.perf_counter() - start, faults() - before


def worker(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    T.BF16["on"] = args.fast
    setup = SETUPS[args.config](args.data_root)
    run = run_trainer if args.contender == "trainer" else run_plain
    seconds, count = run(setup, args.mode == "kept", args.fast, args.warmup, args.iterations)
    print(json.dumps({"images_per_s": args.iterations * T.BATCH / seconds, "faults_per_iteration": count / args.iterations}))


def measure(args: argparse.Namespace, config: str, contender: str, fast: bool, mode: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--worker", "--config", config, "--contender", contender, "--mode", mode,
               "--warmup", str(args.warmup), "--iterations", str(args.iterations), "--threads", str(args.threads),
               "--data-root", args.data_root] + (["--fast"] if fast else [])
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bf16_units() -> bool:
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 20 iterations")
    parser.add_argument("--rounds", type=int, help="rounds of each setting (default 4; quick 2)")
    parser.add_argument("--iterations", type=int, help="timed iterations per process (default 40; quick 20)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed iterations first in every process")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads per process")
    parser.add_argument("--data-root", default=str(T.ROOT.parent / "shared" / "data"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", choices=tuple(SETUPS), help=argparse.SUPPRESS)
    parser.add_argument("--contender", choices=("trainer", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--fast", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 4)
    args.iterations = args.iterations or (20 if args.quick else 40)
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return {}
    cases = [(config, contender, fast) for config in SETUPS for fast in ((False, True) if bf16_units() else (False,))
             for contender in ("trainer", "plain")]
    results: dict[tuple, dict[str, list[float]]] = {case: {m: [] for m in MODES} for case in cases}
    faults_seen: dict[tuple, dict[str, list[float]]] = {case: {m: [] for m in MODES} for case in cases}
    for round_ in range(args.rounds):
        for case in cases:
            for mode in MODES if round_ % 2 == 0 else MODES[::-1]:
                measured = measure(args, *case, mode)
                results[case][mode].append(measured["images_per_s"])
                faults_seen[case][mode].append(measured["faults_per_iteration"])
        print(f"round {round_ + 1} of {args.rounds} done", file=sys.stderr, flush=True)
    rows = []
    print("| config | precision | contender | images/s, glibc defaults | kept | kept / defaults | faults/iteration, defaults | kept |")
    print("|---|---|---|---|---|---|---|---|")
    for case in cases:
        config, contender, fast = case
        rate = {m: statistics.median(results[case][m]) for m in MODES}
        fault = {m: statistics.median(faults_seen[case][m]) for m in MODES}
        precision = "bf16 + channels_last" if fast else "float32"
        print(f"| {config} | {precision} | {contender} | {rate['defaults']:.0f} | {rate['kept']:.0f} | "
              f"{rate['kept'] / rate['defaults']:.3f} | {fault['defaults']:.0f} | {fault['kept']:.0f} |")
        rows.append({"config": config, "precision": precision, "contender": contender, "images_per_s": results[case],
                     "faults_per_iteration": faults_seen[case], "kept_over_defaults": rate["kept"] / rate["defaults"]})
    report = {"rounds": args.rounds, "iterations": args.iterations, "threads": args.threads, "rows": rows}
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
