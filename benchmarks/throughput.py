"""Training throughput of the experiments' trainer, beside same-run hand-written loops.

For each configuration (batch 64, one process, same device) four contenders train the
same networks for ``--iterations`` timed iterations after ``--warmup`` untimed ones, in
``--rounds`` rounds that alternate them (the order rotates each round, after one
untimed warm-up round of each), and images/s are reported as median, min and max:

- **trainer**: the trainer exactly as the experiment builds it (``build(config)``, or
  ``recipes.gan_trainer`` when random data stands in for CIFAR-10), every default
  extension on, run directory in a temporary folder, ``progress=False``. A fresh run per
  round; a handler after the extensions stops it with ``engine.terminate()``. Epoch-end
  extensions (log, sample grid, plots, snapshot) are timed only when the window crosses
  an epoch end: see the ``epoch ends`` column.
- **plain**: a hand-written loop of the identical networks and loss (non-saturating BCE
  with logits, Adam 2e-4 (0.5, 0.999)) over the same in-memory data tensor, in the
  trainer's default memory layout (channels_last, as ``--channels-last`` is on by default,
  so that a/b is the framework's cost alone); one fake batch per iteration, detached for
  D; no host sync inside the window.
- **tutorial**: the PyTorch DCGAN tutorial's loop: ``nn.Sigmoid`` + ``nn.BCELoss``, a
  dataset of PIL images (the same data) with Resize/ToTensor/Normalize per sample, a
  shuffling DataLoader with 2 workers (restarted each epoch), ``.item()`` each iteration,
  in the ordinary NCHW layout the tutorial uses.
- **trainer, fast switches**: the same trainer with the fastest switches that keep
  training healthy: ``--channels-last`` (the default), and ``--amp bf16`` only where the same-run
  bf16 matrix-product peak beats float32's (a CPU without bf16 units runs bf16 far slower, so
  there it is channels_last only; the output says which). Fused Adam is on in both
  trainer contenders (the default); ``--compile`` is left out (minutes of compiling
  per fresh run).
- **plain, fast switches**: the plain loop with the same switches and fused Adam, the
  reference the trainer's fast switches are held to.

Each window runs from the end of the last warm-up iteration to the end of the last timed
one (``time.perf_counter``, the device synchronised at both ends), so it includes every
timed batch fetch. Read the ratios: ``vs_plain`` = trainer / plain (1.0: the framework
costs nothing beyond the work it saves by freezing D in the generator step),
``vs_tutorial`` = trainer / tutorial, ``fast_vs_tutorial`` = fast trainer / tutorial,
``fast_vs_plain_fast`` = fast trainer / fast plain. ``flops_per_step`` is counted with
``FlopCounterMode`` over one iteration of the trainer's own update function (forward and
backward of both networks; no gradients of D's parameters in the generator step, so
fewer than the plain loop's ``plain_flops_per_step``); the trainer's GFLOP/s are that
count times its iterations/s, and ``peak_fraction`` divides them by the float32
matrix-product peak measured in the same run: the faster of ``torch.mm`` and a 3x3
convolution (oneDNN on the CPU, where MKL's ``torch.mm`` can read at under half the
machine's rate); ``peak_fraction_torch_mm`` divides them by the ``torch.mm`` route alone,
the peak issue 13's figures were measured against. Peak memory: ``torch.cuda.max_memory_allocated`` per contender on
CUDA; on the CPU only the process's ``ru_maxrss``, which never goes
down, so it is one process-wide figure. Every contender runs with freed host memory kept for reuse, as
the trainer's process does by default (``--keep-freed-memory``, set before the first
contender; ``benchmarks/host_memory.py`` measures it against glibc's defaults). The last
line is one JSON object::

    python benchmarks/throughput.py --quick        # under 3 minutes on 2 CPU cores
    python benchmarks/throughput.py --rounds 5 --iterations 60
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ignite.engine import Events  # noqa: E402
from ignite.utils import manual_seed  # noqa: E402

from experiments import dcgan_cifar10, dcgan_folder, gan_mnist  # noqa: E402
from gan_ignite.data import TensorImageDataset, load_dataset  # noqa: E402
from gan_ignite.errors import UsageError  # noqa: E402
from gan_ignite.host_memory import keep_freed_memory  # noqa: E402
from gan_ignite.losses import NonSaturatingLoss  # noqa: E402
from gan_ignite.recipes import dcgan_models, gan_trainer  # noqa: E402
from gan_ignite.trainer import Trainer  # noqa: E402

SEED = 0
BATCH = 64
LR, BETAS = 2e-4, (0.5, 0.999)
RANDOM_CIFAR_SIZE = 10000  # images of the random stand-in for CIFAR-10
CONTENDERS = ("trainer", "plain", "tutorial", "trainer_fast", "plain_fast")
LABELS = {"trainer": "(a) trainer (experiment build)", "plain": "(b) plain loop", "tutorial": "(c) tutorial loop",
          "trainer_fast": "(d) trainer, fast switches", "plain_fast": "(e) plain loop, fast switches"}


@dataclass
class Setup:
    """One configuration: the experiment, its config, and the data every contender trains on."""

    name: str
    module: Any  # the experiment module (its Config and build)
    config: Any  # the experiment's Config, ``out`` set per round
    images: Tensor  # (N, C, S, S) in [-1, 1], on the CPU
    data: str  # where the images come from, in words
    random_data: bool  # whether the trainer gets the random tensors instead of build()'s dataset


# -- configurations --------------------------------------------------------------------------


def digits_setup(name: str, **options: Any) -> Setup:
    config = gan_mnist.Config(batch_size=BATCH, epochs=10**6, progress=False, seed=SEED, **options)
    images = load_dataset("digits", image_size=config.image_size).images
    return Setup(name, gan_mnist, config, images, "digits (embedded, 1,797 images)", False)


def cifar_setup(name: str, data_root: str) -> Setup:
    """CIFAR-10 from torchvision's batches under ``data_root``, else random tensors of its shape."""
    # The article's network without batch norm: the configuration issue 13 measured.
    config = dcgan_cifar10.Config(batch_size=BATCH, epochs=10**6, progress=False, seed=SEED, data_root=data_root,
                                  batch_norm=False)
    if (Path(data_root) / "cifar-10-batches-py").is_dir():
        try:
            images = load_dataset("cifar10", root=data_root, image_size=32, download=False).images
            return Setup(name, dcgan_cifar10, config, images, f"CIFAR-10 from {data_root}", False)
        except UsageError as exc:
            print(f"CIFAR-10 not usable ({exc}); random data instead", file=sys.stderr)
    generator = torch.Generator().manual_seed(SEED)
    images = torch.rand(RANDOM_CIFAR_SIZE, 3, 32, 32, generator=generator) * 2 - 1
    note = f"RANDOM tensors in [-1, 1] ({RANDOM_CIFAR_SIZE} images; no cifar-10-batches-py under {data_root})"
    return Setup(name, dcgan_cifar10, config, images, note, True)


def folder_setup(name: str, data_root: str) -> Setup:
    """The 64x64 DCGAN on the logo folder (decoded into memory once, as it fits), else random tensors."""
    folder = Path(data_root) / "logos" / "color128"
    config = dcgan_folder.Config(batch_size=BATCH, epochs=10**6, progress=False, seed=SEED, dataset=str(folder))
    if folder.is_dir():
        dataset = load_dataset(str(folder), image_size=64)
        images = torch.stack([dataset[i][0] for i in range(len(dataset))])
        return Setup(name, dcgan_folder, config, images, f"{len(images)} logos from {folder}", False)
    generator = torch.Generator().manual_seed(SEED)
    images = torch.rand(512, 3, 64, 64, generator=generator) * 2 - 1
    return Setup(name, dcgan_folder, config, images, f"RANDOM tensors in [-1, 1] (512 images; no {folder})", True)


def setups(args: argparse.Namespace) -> list[Setup]:
    made = [digits_setup("28x28x1"), cifar_setup("32x32x3 no-bn", args.data_root),
            digits_setup("28x28x1 fc1024", fc_units=1024), folder_setup("64x64x3 folder", args.data_root)]
    return made[:2] if args.quick else made


# -- timing helpers --------------------------------------------------------------------------


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed_loop(step: Callable[[], Any], warmup: int, iterations: int, device: str) -> float:
    """Seconds of ``iterations`` calls of ``step`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    sync(device)
    return time.perf_counter() - start


class WindowTimer:
    """Times a trainer's iterations ``warmup + 1 .. warmup + iterations``, then terminates it.

    Attached after the trainer's own handler, so each iteration's extensions are inside.
    """

    def __init__(self, trainer: Trainer, warmup: int, iterations: int, device: str) -> None:
        self.warmup, self.last, self.device = warmup, warmup + iterations, device
        self.start = self.seconds = 0.0
        trainer.engine.add_event_handler(Events.ITERATION_COMPLETED, self._completed)

    def _completed(self, engine: Any) -> None:
        iteration = engine.state.iteration
        if iteration == self.warmup:
            sync(self.device)
            self.start = time.perf_counter()
        elif iteration == self.last:
            sync(self.device)
            self.seconds = time.perf_counter() - self.start
            engine.terminate()


# -- the contenders --------------------------------------------------------------------------


def build_trainer(setup: Setup, config: Any) -> Trainer:
    """The experiment's trainer; with random data, the same recipe ``build`` calls, on that data."""
    if not setup.random_data:
        return setup.module.build(config)
    dataset = TensorImageDataset(setup.images, torch.zeros(len(setup.images), dtype=torch.long))
    gen, dis = dcgan_models(config)
    return gan_trainer(config, dataset, gen, dis, NonSaturatingLoss())


def fast_switches() -> dict[str, Any]:
    """The trainer's fastest healthy switches on this machine (see :data:`BF16`)."""
    return {"channels_last": True, "amp": "bf16" if BF16["on"] else "off"}


def run_trainer(setup: Setup, warmup: int, iterations: int, device: str, fast: bool = False) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        config = dataclasses.replace(setup.config, out=str(Path(tmp) / "run"), **(fast_switches() if fast else {}))
        manual_seed(SEED)
        trainer = build_trainer(setup, config)
        timer = WindowTimer(trainer, warmup, iterations, device)
        with contextlib.redirect_stdout(sys.stderr):  # its console report, kept out of this table
            trainer.run()
        return timer.seconds


def run_trainer_fast(setup: Setup, warmup: int, iterations: int, device: str) -> float:
    return run_trainer(setup, warmup, iterations, device, fast=True)


def channels_last(setup: Setup, fast: bool) -> bool:
    """Whether a plain loop runs channels_last: with the fast switches, or where the trainer does by default."""
    return fast or setup.config.channels_last


def networks(setup: Setup, device: str, fast: bool = False,
             layout: bool | None = None) -> tuple[nn.Module, nn.Module, Any, Any]:
    """Fresh seeded networks of the configuration and their Adam optimizers (``fast``: fused Adam).

    ``layout``: channels_last or not; by default as :func:`channels_last` says.
    """
    manual_seed(SEED)
    gen, dis = (m.to(device) for m in dcgan_models(setup.config))
    if channels_last(setup, fast) if layout is None else layout:
        gen, dis = gen.to(memory_format=torch.channels_last), dis.to(memory_format=torch.channels_last)
    fused = True if fast else None
    opt_gen, opt_dis = (torch.optim.Adam(m.parameters(), LR, betas=BETAS, fused=fused) for m in (gen, dis))
    return gen, dis, opt_gen, opt_dis


def plain_step(gen: nn.Module, dis: nn.Module, opt_gen: Any, opt_dis: Any, real: Tensor, z_dim: int) -> None:
    """One plain iteration: D on real and detached fake, then G through D (BCE with logits)."""
    fake = gen(torch.randn(len(real), z_dim, device=real.device))
    real_out, fake_out = dis(real), dis(fake.detach())
    dis_loss = (F.binary_cross_entropy_with_logits(real_out, torch.ones_like(real_out))
                + F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out)))
    opt_dis.zero_grad(set_to_none=True)
    dis_loss.backward()
    opt_dis.step()
    gen_out = dis(fake)
    gen_loss = F.binary_cross_entropy_with_logits(gen_out, torch.ones_like(gen_out))
    opt_gen.zero_grad(set_to_none=True)
    gen_loss.backward()
    opt_gen.step()


def batches(images: Tensor) -> Iterator[Tensor]:
    """Endless shuffled batches of an in-memory tensor (last incomplete batch dropped)."""
    generator = torch.Generator(device=images.device).manual_seed(SEED)
    while True:
        order = torch.randperm(len(images), device=images.device, generator=generator)
        for i in range(0, len(images) - BATCH + 1, BATCH):
            yield images[order[i : i + BATCH]]


def run_plain(setup: Setup, warmup: int, iterations: int, device: str, fast: bool = False) -> float:
    """The plain loop; ``fast``: fused Adam and bf16 autocast where :data:`BF16` says, channels_last in both."""
    gen, dis, opt_gen, opt_dis = networks(setup, device, fast=fast)
    images = setup.images.to(device)
    if channels_last(setup, fast):
        images = images.contiguous(memory_format=torch.channels_last)
    data = batches(images)
    autocast = fast and BF16["on"]

    def step() -> None:
        with torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
            plain_step(gen, dis, opt_gen, opt_dis, next(data), setup.config.z_dim)

    return timed_loop(step, warmup, iterations, device)


def run_plain_fast(setup: Setup, warmup: int, iterations: int, device: str) -> float:
    return run_plain(setup, warmup, iterations, device, fast=True)


class PILImages(torch.utils.data.Dataset):
    """A torchvision-style dataset: uint8 images made into PIL images, transformed per sample."""

    def __init__(self, images: Tensor) -> None:
        from torchvision import transforms

        self.arrays = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        channels, size = images.shape[1], images.shape[-1]
        self.mode = "L" if channels == 1 else "RGB"
        self.transform = transforms.Compose([
            transforms.Resize(size), transforms.ToTensor(), transforms.Normalize((0.5,) * channels, (0.5,) * channels),
        ])

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        from PIL import Image

        array = self.arrays[index]
        image = Image.fromarray(array[..., 0] if self.mode == "L" else array, mode=self.mode)
        return self.transform(image), 0


def endless(loader: torch.utils.data.DataLoader) -> Iterator[Tensor]:
    while True:  # a new epoch restarts the workers, as the tutorial's loop does
        for real, _ in loader:
            yield real


def run_tutorial(setup: Setup, warmup: int, iterations: int, device: str) -> float:
    """The DCGAN tutorial's iteration: sigmoid + BCELoss, three backward passes, .item() each time, NCHW."""
    gen, dis, opt_gen, opt_dis = networks(setup, device, layout=False)
    dis_prob, criterion = nn.Sequential(dis, nn.Sigmoid()), nn.BCELoss()
    loader = torch.utils.data.DataLoader(PILImages(setup.images), batch_size=BATCH, shuffle=True, num_workers=2,
                                         drop_last=True, generator=torch.Generator().manual_seed(SEED))
    data = endless(loader)
    real_label = torch.ones(BATCH, device=device)
    fake_label = torch.zeros(BATCH, device=device)

    def step() -> None:
        real = next(data).to(device)
        dis.zero_grad()
        err_real = criterion(dis_prob(real).view(-1), real_label)
        err_real.backward()
        fake = gen(torch.randn(BATCH, setup.config.z_dim, 1, 1, device=device))
        err_fake = criterion(dis_prob(fake.detach()).view(-1), fake_label)
        err_fake.backward()
        opt_dis.step()
        gen.zero_grad()
        err_gen = criterion(dis_prob(fake).view(-1), real_label)
        err_gen.backward()
        opt_gen.step()
        (err_real + err_fake).item(), err_gen.item()

    try:
        return timed_loop(step, warmup, iterations, device)
    finally:
        data.close()  # frees the loader's iterator: its workers shut down now, not at exit


# Whether the fast switches include bf16 autocast: only where the same-run bf16 matrix-product peak
# beats float32 (a CPU without bf16 units runs it ~100x slower: no switch for speed there).
BF16 = {"on": True}

RUNNERS: dict[str, Callable[[Setup, int, int, str], float]] = {
    "trainer": run_trainer, "plain": run_plain, "tutorial": run_tutorial, "trainer_fast": run_trainer_fast,
    "plain_fast": run_plain_fast,
}


# -- measurements ----------------------------------------------------------------------------


def step_flops(setup: Setup, device: str) -> dict[str, int]:
    """FLOPs of one iteration (forward and backward of both networks), the trainer's and the plain loop's.

    They differ: the trainer freezes D's parameters in the generator step, so it skips
    their gradients, which the plain loop (as the tutorial) computes and throws away.
    """
    from torch.utils.flop_counter import FlopCounterMode

    gen, dis, opt_gen, opt_dis = networks(setup, device)
    real = setup.images[:BATCH].to(device)
    with FlopCounterMode(display=False) as plain:
        plain_step(gen, dis, opt_gen, opt_dis, real, setup.config.z_dim)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = build_trainer(setup, dataclasses.replace(setup.config, out=str(Path(tmp) / "run")))
        batch = next(iter(trainer.loader))
        with FlopCounterMode(display=False) as own:
            trainer.update_fn(trainer.engine, batch)  # iteration 0: both steps
    return {"trainer": own.get_total_flops(), "plain": plain.get_total_flops()}


def mm_route(n: int, device: str, dtype: torch.dtype) -> tuple[Callable[[], Tensor], float]:
    """An (n, n) @ (n, n) ``torch.mm`` (the BLAS: MKL on x86 CPUs, cuBLAS on CUDA) and its FLOPs."""
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    return (lambda: torch.mm(a, b)), 2.0 * n**3


def conv_route(n: int, device: str, dtype: torch.dtype) -> tuple[Callable[[], Tensor], float]:
    """A 3x3 convolution of n/8 channels over a (16, n/8, 32, 32) channels_last batch, and its FLOPs.

    The convolution library's own GEMM kernels (oneDNN on the CPU, cuDNN on CUDA), counted
    as ``FlopCounterMode`` counts the networks' convolutions. On CUDA it runs as the
    networks' float32 convolutions do, with torch's default
    ``torch.backends.cudnn.allow_tf32=True``: there the "float32" peak is TF32's, the rate
    the trainer's convolutions can reach, and the output says so.
    """
    channels = max(n // 8, 8)
    x = torch.randn(16, channels, 32, 32, device=device).to(dtype).contiguous(memory_format=torch.channels_last)
    w = torch.randn(channels, channels, 3, 3, device=device).to(dtype).contiguous(memory_format=torch.channels_last)
    return (lambda: F.conv2d(x, w, padding=1)), 2.0 * 16 * 32 * 32 * 9 * channels**2


# Two routes to the float32 (and bfloat16) peak. On x86 CPUs torch.mm in float32 is MKL's
# sgemm, which on AMD EPYC ran at well under half of what oneDNN's convolutions reach
# (measured 2026-12-03 on 2 cores: 185-204 GFLOP/s against 474-498 for a 3x3 convolution),
# so a torch.mm-only peak read low and convolution-heavy steps came out above "100% of
# peak". The peak is the faster route.
PEAK_ROUTES: dict[str, Callable[[int, str, torch.dtype], tuple[Callable[[], Tensor], float]]] = {
    "torch.mm": mm_route, "3x3 conv": conv_route,
}


def product_seconds(route: str, n: int, device: str, dtype: torch.dtype, reps: int) -> tuple[float, float]:
    """Seconds of the fastest of ``reps`` products of size ``n`` by ``route`` (after one untimed), and its FLOPs."""
    product, flops = PEAK_ROUTES[route](n, device, dtype)
    product()
    best = float("inf")
    for _ in range(reps):
        sync(device)
        start = time.perf_counter()
        product()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best, flops


def route_peak(route: str, device: str, dtype: torch.dtype, reps: int = 5) -> tuple[float, int]:
    """The best GFLOP/s of one route over sizes and ``reps`` repetitions, and its n.

    Sizes double from 256 while a product takes under 50 ms, then two more sizes are
    tried: a single size or few repetitions on a shared machine measure a low peak, and
    every fraction of it would read too high.
    """
    largest = 8192 if device == "cuda" else 4096
    n, best = 256, (0.0, 256)
    extra = 2
    while n <= largest and extra:
        seconds, flops = product_seconds(route, n, device, dtype, reps)
        best = max(best, (flops / seconds / 1e9, n))
        if seconds >= 0.05:
            extra -= 1
        n = n * 2 if seconds < 0.05 else n + n // 2
    return best


def matmul_peak(device: str, dtype: torch.dtype) -> dict[str, Any]:
    """The measured matrix-product peak of ``dtype``: each route's best GFLOP/s and n, and the faster."""
    routes = {route: route_peak(route, device, dtype) for route in PEAK_ROUTES}
    best = max(routes, key=lambda route: routes[route][0])
    return {"gflops": routes[best][0], "route": best, "n": routes[best][1],
            "routes": {route: gflops for route, (gflops, _) in routes.items()}}


def peak_memory_mb(device: str) -> float:
    """Peak allocated CUDA memory since the last reset, or the process's peak RSS on the CPU."""
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def reset_peak_memory(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def benchmark(setup: Setup, args: argparse.Namespace, device: str) -> dict[str, Any]:
    """Alternate the contenders over the rounds; images/s and peak memory of each."""
    rates: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    memory: dict[str, float] = dict.fromkeys(CONTENDERS, 0.0)
    for name in CONTENDERS:  # untimed warm-up round: lazy initialisation, allocator, kernel choice
        RUNNERS[name](setup, args.warmup, 1, device)
    for round_ in range(args.rounds):
        shift = round_ % len(CONTENDERS)
        for name in CONTENDERS[shift:] + CONTENDERS[:shift]:
            reset_peak_memory(device)
            seconds = RUNNERS[name](setup, args.warmup, args.iterations, device)
            rates[name].append(args.iterations * BATCH / seconds)
            memory[name] = max(memory[name], peak_memory_mb(device))
    return {"images_per_s": {name: spread(r) for name, r in rates.items()}, "peak_memory_mb": memory}


def summarize(setup: Setup, result: dict[str, Any], flops: dict[str, int], fp32_peak: dict[str, Any],
              args: argparse.Namespace) -> dict:
    """The configuration's row: rates, ratios of medians, FLOPs and achieved GFLOP/s of the trainer."""
    median = {name: s["median"] for name, s in result["images_per_s"].items()}
    trainer_gflops = flops["trainer"] * median["trainer"] / BATCH / 1e9
    per_epoch = len(setup.images) // BATCH
    window = range(args.warmup + 1, args.warmup + args.iterations + 1)
    return {
        "config": setup.name, "data": setup.data, **result,
        "vs_plain": median["trainer"] / median["plain"], "vs_tutorial": median["trainer"] / median["tutorial"],
        "fast_vs_tutorial": median["trainer_fast"] / median["tutorial"],
        "fast_vs_plain_fast": median["trainer_fast"] / median["plain_fast"], "flops_per_step": flops["trainer"],
        "plain_flops_per_step": flops["plain"],
        "trainer_gflops_per_s": trainer_gflops, "peak_fraction": trainer_gflops / fp32_peak["gflops"],
        "peak_fraction_torch_mm": trainer_gflops / fp32_peak["routes"]["torch.mm"],
        "iterations_per_epoch": per_epoch, "epoch_ends_timed": sum(i % per_epoch == 0 for i in window),
    }


# -- output ----------------------------------------------------------------------------------


def table(rows: list[dict]) -> str:
    lines = ["| config | contender | images/s median | min | max | peak MB |", "|---|---|---|---|---|---|"]
    for row in rows:
        for name in CONTENDERS:
            s = row["images_per_s"][name]
            lines.append(f"| {row['config']} | {LABELS[name]} | {s['median']:.0f} | {s['min']:.0f} | {s['max']:.0f} "
                         f"| {row['peak_memory_mb'][name]:.0f} |")
    lines += ["", "| config | a/b (vs_plain) | a/c (vs_tutorial) | d/c (fast_vs_tutorial) | d/e | GFLOP/step a (b) | "
              "trainer GFLOP/s | of fp32 peak | of torch.mm | iters/epoch | epoch ends timed |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['config']} | {row['vs_plain']:.3f} | {row['vs_tutorial']:.3f} | "
                     f"{row['fast_vs_tutorial']:.3f} | {row['fast_vs_plain_fast']:.3f} | {row['flops_per_step'] / 1e9:.2f} ({row['plain_flops_per_step'] / 1e9:.2f}) | "
                     f"{row['trainer_gflops_per_s']:.1f} | {row['peak_fraction']:.3f} | {row['peak_fraction_torch_mm']:.3f} | "
                     f"{row['iterations_per_epoch']} | {row['epoch_ends_timed']} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 10 iterations, the first two configurations")
    parser.add_argument("--rounds", type=int, help="timed rounds of each contender (default 5; quick 3)")
    parser.add_argument("--iterations", type=int, help="timed iterations per round (default 60; quick 10)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations at the start of every round")
    parser.add_argument("--threads", type=int, help="torch threads (default: the cores this process may use)")
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"),
                        help="where cifar-10-batches-py and logos/color128 are looked for")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (3 if args.quick else 5)
    args.iterations = args.iterations or (10 if args.quick else 60)
    for name in ("rounds", "iterations"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} should be a positive integer, but given {getattr(args, name)}")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    start = time.perf_counter()
    # What the trainer sets for its process when built (--keep-freed-memory, the default),
    # set first, so that every contender runs with it and the ratios compare loops, not
    # allocators (benchmarks/host_memory.py measures what it buys, in separate processes).
    kept = keep_freed_memory()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(args.threads or cores)
    name = torch.cuda.get_device_name() if device == "cuda" else f"cpu ({cores} cores)"
    print(f"device: {name}; torch {torch.__version__}; torch threads: {torch.get_num_threads()} "
          f"(interop {torch.get_num_interop_threads()}); batch {BATCH}; {args.rounds} rounds x "
          f"{args.iterations} iterations after {args.warmup} warm-up; freed host memory "
          f"{'kept (glibc thresholds raised)' if kept else 'returned as the C library does'}", flush=True)
    peak = {"float32": matmul_peak(device, torch.float32), "bfloat16": matmul_peak(device, torch.bfloat16)}
    fp32, bf16 = peak["float32"]["gflops"], peak["bfloat16"]["gflops"]
    BF16["on"] = bf16 > fp32
    switches = "channels_last + bf16 autocast" if BF16["on"] else "channels_last only (bf16 mm slower than float32 here)"
    for dtype, measured in peak.items():
        routes = ", ".join(f"{route} {gflops:.1f}" for route, gflops in measured["routes"].items())
        print(f"measured {dtype} matrix-product peak: {measured['gflops']:.1f} GFLOP/s ({measured['route']}, "
              f"n={measured['n']}; routes: {routes})", flush=True)
    tf32 = device == "cuda" and torch.backends.cudnn.allow_tf32
    if tf32:
        print("note: float32 convolutions on CUDA run in TF32 (torch.backends.cudnn.allow_tf32, torch's default), "
              "the peak's 3x3 route and the networks' alike", flush=True)
    print(f"fast switches: {switches}", flush=True)
    rows = []
    for setup in setups(args):
        print(f"{setup.name}: data {setup.data}", flush=True)
        result = benchmark(setup, args, device)
        rows.append(summarize(setup, result, step_flops(setup, device), peak["float32"], args))
    first = rows[0]
    report = {
        "vs_plain": first["vs_plain"], "vs_tutorial": first["vs_tutorial"],
        "fast_vs_tutorial": first["fast_vs_tutorial"], "fast_vs_plain_fast": first["fast_vs_plain_fast"],
        "peak_fraction": first["peak_fraction"], "peak_fraction_torch_mm": first["peak_fraction_torch_mm"],
        "bf16_over_fp32_peak": bf16 / fp32,
        "device": name, "torch_threads": torch.get_num_threads(), "batch_size": BATCH, "rounds": args.rounds,
        "iterations": args.iterations, "warmup": args.warmup, "matmul_peak_gflops": {dtype: measured["gflops"] for dtype, measured in peak.items()},
        "matmul_peak_routes": {dtype: measured["routes"] for dtype, measured in peak.items()},
        "fast_switches": switches, "float32_convolutions_in_tf32": tf32, "keep_freed_memory": kept,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "wall_s": time.perf_counter() - start, "configs": rows,
    }
    print(table(rows))
    print(f"wall time {report['wall_s']:.0f} s")
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
