"""Where a trainer iteration's time goes, operator by operator, without disturbing it.

``torch.profiler`` is the usual tool, but on the CPU it changes what it measures: its
event records are allocated between the step's own tensors, and glibc then hands the
step fresh pages. Measured on 2 cores (the 28x28 DCGAN, float32, torch 2.14): 5,000 to
14,000 minor page faults per profiled iteration against none without it, iterations 2-3
times slower, and elementwise backward ops over (64, 64, 14, 14) at 2.5-4.5 ms instead of
0.07-0.2 ms, so a profile blamed "memory-bound" layers for time the profiler itself made.

This script times every ATen operator the iteration dispatches instead, in a
``TorchDispatchMode`` (below autograd and autocast, so it sees the ops that run, in the
dtype they run in) with ``time.perf_counter`` around each call, and counts each op's FLOPs
with ``torch.utils.flop_counter``'s formulas. Why by hand: no profiler in torch or Ignite
times ops without allocating per event. The mode adds Python between the ops, so the
iteration is timed without it (``wall``: the mean of a window before and one after), and
the ops with it in between; ``wall minus ops`` is what the ops' sum leaves of the wall
time: the engine, the extensions, autograd and Python between the ops, and the
machine's drift between windows (1.7-2.9 ms an iteration for the trainer and the plain
loop alike, 28x28 and 32x32x3 on 2 cores). An epoch's last iteration is left out. The trainer is the one ``benchmarks/throughput.py`` times as (a),
or (d) with ``--fast``; ``--loop plain`` profiles its plain loop (b), or (e). Operators
are grouped into the convolutions (by layer and direction), matrix products, batch norm,
activations, copies, the optimizer's step and the rest; the rates are against the
same-run matrix-product peak of the step's dtype. The last line is one JSON object::

    python benchmarks/step_profile.py                # 28x28 float32, about 15 s on 2 cores
    python benchmarks/step_profile.py --fast --config 32x32x3
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from collections.abc import Callable
from typing import Any

import torch
from ignite.engine import Events
from ignite.utils import manual_seed
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput as T  # noqa: E402

from gan_ignite.host_memory import keep_freed_memory  # noqa: E402

aten = torch.ops.aten
MATMULS = {aten.mm, aten.addmm, aten.bmm, aten.baddbmm}
BATCH_NORM = {aten.native_batch_norm, aten.native_batch_norm_backward, aten._native_batch_norm_legit,
              aten._native_batch_norm_legit_no_training, aten._batch_norm_with_update,
              aten.batch_norm_backward}
COPIES = {aten.clone, aten.copy_, aten._to_copy, aten.contiguous}
ACTIVATIONS = {aten.leaky_relu, aten.leaky_relu_, aten.leaky_relu_backward, aten.relu, aten.relu_, aten.threshold_backward,
               aten.tanh, aten.tanh_backward, aten.sigmoid, aten.sigmoid_backward}


def conv_group(func: Any, args: tuple) -> str:
    """``conv 64->128 4x4 forward`` and the like: the layer (channels from its weight) and the direction."""
    backward = func._overloadpacket is aten.convolution_backward
    weight, transposed = (args[2], args[7]) if backward else (args[1], args[6])
    c_out, c_in = (weight.shape[1], weight.shape[0]) if transposed else (weight.shape[0], weight.shape[1])
    kind = "transposed conv" if transposed else "conv"
    size = "x".join(str(k) for k in weight.shape[2:])
    return f"{kind} {c_in}->{c_out} {size} {'backward' if backward else 'forward'}"


def group(func: Any, args: tuple) -> str:
    packet = func._overloadpacket
    if packet in (aten.convolution, aten.convolution_backward):
        return conv_group(func, args)
    if packet in MATMULS:
        return "matrix products (linear layers)"
    if packet in BATCH_NORM:
        return "batch norm"
    if packet in COPIES:
        return "copies (layout, dtype)"
    if packet in ACTIVATIONS:
        return "activations"
    return "other (losses, noise, batch slicing, views)"


class OpTimer(TorchDispatchMode):
    """Seconds, calls and FLOPs of every operator dispatched inside it, by :func:`group`.

    Every operator of an optimizer's ``step`` (fused, foreach or per tensor) is counted as
    ``optimizer``, told by torch's global optimizer step hooks.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.flops: dict[str, int] = defaultdict(int)
        self.in_step = False
        self._hooks: list[Any] = []

    def _stepping(self, on: bool) -> Callable[..., None]:
        def hook(*_: Any) -> None:
            self.in_step = on
        return hook

    def __enter__(self) -> OpTimer:
        self._hooks = [register_optimizer_step_pre_hook(self._stepping(True)),
                       register_optimizer_step_post_hook(self._stepping(False))]
        return super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        for handle in self._hooks:
            handle.remove()

    def snapshot(self) -> tuple[dict, dict, dict]:
        return dict(self.seconds), dict(self.calls), dict(self.flops)

    def restore(self, state: tuple[dict, dict, dict]) -> None:
        """Back to a :meth:`snapshot`: forgets what was counted since."""
        for mine, saved in zip((self.seconds, self.calls, self.flops), state):
            mine.clear()
            mine.update(saved)

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        start = time.perf_counter()
        out = func(*args, **kwargs)
        elapsed = time.perf_counter() - start
        name = "optimizer" if self.in_step else group(func, args)
        self.seconds[name] += elapsed
        self.calls[name] += 1
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.flops[name] += formula(*args, **kwargs, out_val=out)
        return out


class Window:
    """Times ``n`` iterations plainly, ``n`` inside an :class:`OpTimer`, then ``n`` plainly again.

    Each iteration is timed from the previous one's end to its own, its extensions
    included. An epoch's last iteration, which carries the epoch-end extensions (the
    sample grid, the log, the snapshot: a fifth of a second or more), is left out of the
    times and of the op counts alike, since the windows do not cross the same number of
    epoch ends. ``wall`` is the mean
    over both plain windows, so that a drift of the machine's speed during the run weighs
    on both sides of the profiled one alike.
    """

    def __init__(self, warmup: int, iterations: int) -> None:
        self.warmup, self.n = warmup, iterations
        self.timer = OpTimer()
        self.plain: dict[str, list[float]] = {"before": [], "after": []}  # seconds of their kept iterations
        self.profiled = 0  # the profiled window's kept iterations
        self._end = 0.0
        self._before: tuple[dict, dict, dict] | None = None

    @property
    def last(self) -> int:
        return self.warmup + 3 * self.n

    @property
    def wall(self) -> float:
        """Mean seconds of a plain iteration."""
        kept = self.plain["before"] + self.plain["after"]
        return sum(kept) / len(kept)

    def completed(self, engine: Any) -> None:
        i = engine.state.iteration - self.warmup
        length = getattr(engine.state, "epoch_length", None)
        # The trainer's extensions run in the iteration's ITERATION_COMPLETED, before this
        # handler: an epoch's last iteration carries its epoch-end work.
        ends_epoch = bool(length) and engine.state.iteration % length == 0
        if 1 <= i <= self.n or 2 * self.n < i:
            if not ends_epoch:
                self.plain["before" if i <= self.n else "after"].append(time.perf_counter() - self._end)
        elif self.n < i:
            if ends_epoch:
                self.timer.restore(self._before)
            else:
                self.profiled += 1
        if i == self.n:
            self.timer.__enter__()
        elif i == 2 * self.n:
            self.timer.__exit__(None, None, None)
        elif i == 3 * self.n:
            engine.terminate()
        self._before = self.timer.snapshot()
        self._end = time.perf_counter()


def profile_step(setup: T.Setup, fast: bool, warmup: int, iterations: int) -> Window:
    window = Window(warmup, iterations)
    with tempfile.TemporaryDirectory() as tmp:
        config = dataclasses.replace(setup.config, out=str(Path(tmp) / "run"), **(T.fast_switches() if fast else {}))
        manual_seed(T.SEED)
        trainer = T.build_trainer(setup, config)
        trainer.engine.add_event_handler(Events.ITERATION_COMPLETED, window.completed)
        with contextlib.redirect_stdout(sys.stderr):
            trainer.run()
    return window


def profile_plain(setup: T.Setup, fast: bool, warmup: int, iterations: int, device: str) -> Window:
    """The same two windows over ``throughput.py``'s plain loop (b), or (e) with ``fast``."""
    window = Window(warmup, iterations)
    gen, dis, opt_gen, opt_dis = T.networks(setup, device, fast=fast)
    images = setup.images.to(device)
    if T.channels_last(setup, fast):
        images = images.contiguous(memory_format=torch.channels_last)
    data = T.batches(images)
    state = SimpleNamespace(state=SimpleNamespace(iteration=0), terminate=lambda: None)
    for state.state.iteration in range(1, window.last + 1):
        with torch.autocast(device, dtype=torch.bfloat16, enabled=fast):
            T.plain_step(gen, dis, opt_gen, opt_dis, next(data), setup.config.z_dim)
        window.completed(state)
    return window


def rows(window: Window, peak: float) -> list[dict[str, Any]]:
    n, timer = window.profiled, window.timer
    made = [{"group": name, "ms_per_iteration": seconds / n * 1e3, "calls_per_iteration": timer.calls[name] / n,
             "gflops_per_s": timer.flops[name] / seconds / 1e9 if seconds else 0.0}
            for name, seconds in timer.seconds.items()]
    for row in made:
        row["of_peak"] = row["gflops_per_s"] / peak
    made.sort(key=lambda row: -row["ms_per_iteration"])
    outside = window.wall * 1e3 - sum(row["ms_per_iteration"] for row in made)
    made.append({"group": "wall minus ops (engine, extensions, Python; noise)", "ms_per_iteration": outside,
                 "calls_per_iteration": 0.0, "gflops_per_s": 0.0, "of_peak": 0.0})
    return made


def table(made: list[dict[str, Any]], wall_ms: float) -> str:
    lines = ["| operators | ms/iteration | share | calls/iteration | GFLOP/s | of peak |", "|---|---|---|---|---|---|"]
    for row in made:
        rate = f"{row['gflops_per_s']:.0f} | {row['of_peak']:.2f}" if row["gflops_per_s"] else "- | -"
        lines.append(f"| {row['group']} | {row['ms_per_iteration']:.2f} | {row['ms_per_iteration'] / wall_ms:.1%} "
                     f"| {row['calls_per_iteration']:.1f} | {rate} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", choices=("28x28x1", "32x32x3"), default="28x28x1",
                        help="gan_mnist on digits, or dcgan_cifar10 without batch norm (as throughput.py)")
    parser.add_argument("--loop", choices=("trainer", "plain"), default="trainer",
                        help="the trainer as the experiment builds it, or throughput.py's plain loop")
    parser.add_argument("--fast", action="store_true", help="the fast switches: channels_last + bf16 autocast")
    parser.add_argument("--warmup", type=int, default=5, help="untimed iterations first")
    parser.add_argument("--iterations", type=int, default=20, help="iterations in each window: timed plainly, op by op, plainly again")
    parser.add_argument("--data-root", default=str(T.ROOT.parent / "shared" / "data"),
                        help="where cifar-10-batches-py is looked for (random tensors of its shape otherwise)")
    args = parser.parse_args(argv)
    for name in ("warmup", "iterations"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} should be a positive integer, but given {getattr(args, name)}")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    keep_freed_memory()  # as the trainer's process has it (gan_trainer sets it too)
    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if args.fast else torch.float32
    peak = T.matmul_peak(device, dtype)
    T.BF16["on"] = args.fast
    setup = T.digits_setup("28x28x1") if args.config == "28x28x1" else T.cifar_setup("32x32x3 no-bn", args.data_root)
    if args.loop == "trainer":
        window = profile_step(setup, args.fast, args.warmup, args.iterations)
    else:
        window = profile_plain(setup, args.fast, args.warmup, args.iterations, device)
    made = rows(window, peak["gflops"])
    wall_ms = window.wall * 1e3
    flops = sum(window.timer.flops.values()) / window.profiled
    means = {side: sum(kept) / len(kept) * 1e3 for side, kept in window.plain.items()}
    print(f"{args.loop}, {setup.name} ({setup.data}), {'channels_last + bf16 autocast' if args.fast else 'float32 defaults'}, "
          f"batch {T.BATCH}, {device}; {dtype} peak {peak['gflops']:.1f} GFLOP/s ({peak['route']})")
    print(f"wall {wall_ms:.1f} ms per iteration (windows before and after: {means['before']:.1f}, {means['after']:.1f}; {T.BATCH / wall_ms * 1e3:.0f} images/s), "
          f"{flops / 1e9:.2f} GFLOP counted: {flops / wall_ms / 1e6:.1f} GFLOP/s, {flops / wall_ms / 1e6 / peak['gflops']:.3f} of peak")
    print(table(made, wall_ms))
    report = {"loop": args.loop, "config": setup.name, "fast": args.fast, "device": device, "peak_gflops": peak["gflops"],
              "wall_ms_per_iteration": wall_ms,
              "wall_ms_windows": means, "iterations_kept": {"profiled": window.profiled, **{side: len(kept) for side, kept in window.plain.items()}}, "gflop_per_iteration": flops / 1e9, "groups": made}
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
