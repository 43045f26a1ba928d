"""What DistributedDataParallel costs the GAN step: one process against two, and the generator step's route.

Four contenders train ``gan_mnist``'s DCGAN (with batch norm) on digits (28x28) with the
experiment's trainer and every default extension, for ``--iterations`` timed iterations
after ``--warmup``, inside the first epoch, alternating over ``--rounds`` rounds (median,
min, max of images/s over the global batch):

- **one process**: batch ``2B``, all of the machine's torch threads;
- **two processes**: ``--nproc-per-node 2`` of batch ``B`` each over gloo (the same global
  batch), each with half the threads: the shipped route, where the generator step runs
  D's own module around its ``DistributedDataParallel`` wrapper (D's parameters are
  frozen there, so the wrapper has nothing to reduce);
- **two, G step through D's wrapper**: the same, but the generator step calls D's
  wrapper as ``auto_model`` builds it (each forward broadcasts D's batch-norm buffers
  and prepares the reducer);
- **two, through D's wrapper, find_unused_parameters**: the same with
  ``find_unused_parameters=True``, which walks the autograd graph after every forward.

Each process times the window between its iteration ``warmup`` and ``warmup +
iterations``; a run's time is the slowest process's. On 2 CPU cores two processes cannot
be faster than one (they split the same cores and add the all-reduce); the number that
matters is what each route costs over the one-process step. The last line is one JSON
object::

    python benchmarks/distributed.py --quick     # about 3 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import torch
from ignite.engine import Events
from ignite.utils import manual_seed

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import gan_mnist  # noqa: E402
from gan_ignite import recipes, updaters  # noqa: E402
from gan_ignite.distributed import quiet_ignite  # noqa: E402

SEED = 0


def config(batch_size: int, out: str, iterations: int) -> gan_mnist.Config:
    return gan_mnist.Config(batch_size=batch_size, out=out, progress=False, epochs=max(1, iterations // 10 + 2),
                            lr=2e-4, device="cpu")


def timed_run(batch_size: int, warmup: int, iterations: int, route: str = "around") -> float:
    """Train in this process (one of the run's, when several), return the window's seconds."""
    if route != "around":
        _route_generator_step_through_ddp(find_unused=route == "find_unused")
    with tempfile.TemporaryDirectory() as tmp:
        out = idist.broadcast(tmp, src=0) if idist.get_world_size() > 1 else tmp
        manual_seed(SEED)
        trainer = gan_mnist.build(config(batch_size, str(Path(out) / "run"), warmup + iterations))
        marks: dict[str, float] = {}

        def mark(engine: Any) -> None:
            if engine.state.iteration == warmup:
                marks["start"] = time.perf_counter()
            elif engine.state.iteration == warmup + iterations:
                marks["end"] = time.perf_counter()
                engine.terminate()

        trainer.engine.add_event_handler(Events.ITERATION_COMPLETED, mark)
        with contextlib.redirect_stdout(sys.stderr):  # its console report, kept out of this table
            trainer.run()
        seconds = marks["end"] - marks["start"]
        if idist.get_world_size() > 1:
            seconds = float(idist.all_reduce(torch.tensor(seconds, dtype=torch.float64), op="MAX"))
            idist.barrier()  # rank 0 removes the folder only when every process is done with it
        return seconds


def _route_generator_step_through_ddp(find_unused: bool) -> None:
    """The other routes: D's wrapper in the generator step, optionally with ``find_unused_parameters``."""
    plain = recipes.distributed_models

    def wrapped(cfg: Any, gen: torch.nn.Module, dis: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
        gen_step, dis_step = plain(cfg, gen, dis)
        if not find_unused:
            return gen_step, dis_step
        with quiet_ignite():
            return gen_step, idist.auto_model(dis, find_unused_parameters=True)

    recipes.distributed_models = wrapped
    updaters.unwrap = lambda module: module  # update_gen then calls D's wrapper


def _process(local_rank: int, batch_size: int, warmup: int, iterations: int, route: str, result: str) -> None:
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))
    seconds = timed_run(batch_size, warmup, iterations, route)
    if idist.get_rank() == 0:
        Path(result).write_text(str(seconds))


def two_processes(batch_size: int, warmup: int, iterations: int, route: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        result = str(Path(tmp) / "seconds")
        with quiet_ignite(), idist.Parallel(backend="gloo", nproc_per_node=2, start_method="spawn") as parallel:
            parallel.run(_process, batch_size, warmup, iterations, route, result)
        return float(Path(result).read_text())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16,
                        help="per process; one process takes twice this (digits: 56 iterations an epoch at 16)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 25 iterations")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.iterations = 3, 25
    os.environ.setdefault("MASTER_PORT", "29517")
    contenders = {
        "one process": lambda: timed_run(2 * args.batch_size, args.warmup, args.iterations),
        "two processes": lambda: two_processes(args.batch_size, args.warmup, args.iterations, "around"),
        "two, G through D's DDP": lambda: two_processes(args.batch_size, args.warmup, args.iterations, "through"),
        "two, + find_unused": lambda: two_processes(args.batch_size, args.warmup, args.iterations, "find_unused"),
    }
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    images = 2 * args.batch_size * args.iterations
    for round_ in range(args.rounds):
        names = list(contenders)
        names = names[round_ % len(names) :] + names[: round_ % len(names)]  # rotate the order
        for name in names:
            rates[name].append(images / contenders[name]())
            print(f"round {round_ + 1}: {name}: {rates[name][-1]:.0f} images/s", file=sys.stderr)
    medians = {name: statistics.median(r) for name, r in rates.items()}
    print(f"{'contender':<26} {'images/s median':>16} {'min':>8} {'max':>8}")
    for name, r in rates.items():
        print(f"{name:<26} {medians[name]:>16.0f} {min(r):>8.0f} {max(r):>8.0f}")
    summary = {
        "images_per_s": medians,
        "two_vs_one": medians["two processes"] / medians["one process"],
        "around_vs_through_ddp": medians["two processes"] / medians["two, G through D's DDP"],
        "around_vs_find_unused": medians["two processes"] / medians["two, + find_unused"],
        "global_batch": 2 * args.batch_size, "rounds": args.rounds, "iterations": args.iterations,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
