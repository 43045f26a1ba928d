"""Sample quality of the MNIST experiments after a fixed CPU budget, beside sanity anchors.

Trains the GAN (DCGAN), LSGAN and EBGAN MNIST experiments for ``--epochs`` on real MNIST,
samples ``--n`` images from each final generator and measures them with the MNIST
domain extractor (trained first if the cache has none). Beside them, anchors computed
here, never assumed: the real-vs-real floor (``--n`` test images against the training
statistics) and clearly bad references (Gaussian noise, blurred test images, one digit
only). Prints one table; its last line is the same table as JSON (with each variant's
training options)::

    python benchmarks/quality.py --data-root ../shared/data --epochs 2

The GAN and LSGAN variants also get ``--dcgan-options`` (by default InfoGAN's fully
connected layer, ``--fc-units 1024``); ``--jobs 3`` trains the three variants at once,
each on its share of the CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gan_ignite.data import load_dataset  # noqa: E402
from gan_ignite.evaluate import evaluate_run  # noqa: E402
from gan_ignite.extractors import extractor_path, load_extractor  # noqa: E402
from gan_ignite.metrics import QUALITY_KEYS, measure, reference_for  # noqa: E402
from gan_ignite.train_extractor import train_extractor  # noqa: E402

VARIANTS = {"gan (DCGAN)": "gan_mnist", "lsgan": "lsgan_mnist", "ebgan": "ebgan_mnist"}
# The variants whose discriminator is the DCGAN one, which --dcgan-options shape (EBGAN's
# is an autoencoder, with no place for them).
DCGAN_DISCRIMINATOR = {"gan_mnist", "lsgan_mnist"}
COLUMNS = ("variant", "epochs", "wall_s", *QUALITY_KEYS)


def extractor(data_root: str):
    """The cached MNIST extractor, trained (a few minutes) if there is none."""
    if not extractor_path("mnist").is_file():
        print("training the MNIST feature extractor (cached for later runs)...", file=sys.stderr)
        train_extractor("mnist", data_root, log=lambda line: print(line, file=sys.stderr)).save(
            extractor_path("mnist")
        )
    net = load_extractor("mnist")
    print(f"extractor: {net.info.architecture}, test accuracy {net.info.test_accuracy:.4f}", file=sys.stderr)
    return net


def anchors(net, data_root: str, n: int) -> list[dict]:
    """The real-vs-real floor and the bad references, measured against the training statistics."""
    from torchvision.transforms.functional import gaussian_blur

    reference = reference_for(net, "mnist", data_root)
    test = load_dataset("mnist", root=data_root, image_size=28, train=False)
    images = test.images[:n]
    noise = torch.randn(len(images), 1, 28, 28, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    sets = {
        "real test (floor)": images,
        "one digit (1s)": test.images[test.targets == 1],
        "blurred real": gaussian_blur(images, kernel_size=5, sigma=1.5),
        "gaussian noise": noise,
    }
    return [{"variant": name, **measure(x.split(500), net, reference)} for name, x in sets.items()]


def options(name: str, args: argparse.Namespace) -> list[str]:
    """The training options of variant ``name``: the shared ones, plus the DCGAN ones where they apply."""
    shaped = VARIANTS[name] in DCGAN_DISCRIMINATOR
    return args.train_options.split() + (args.dcgan_options.split() if shaped else [])


def train_variant(module: str, data_root: str, epochs: int, out: Path, extra: list[str], threads: int | None) -> float:
    """Run ``python -m experiments.MODULE`` into ``out`` (on ``threads`` threads if given); its wall time in seconds."""
    argv = [sys.executable, "-m", f"experiments.{module}", "--dataset", "mnist", "--data-root", data_root,
            "--epochs", str(epochs), "--out", str(out), "--no-progress", *extra]
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, stdout=sys.stderr, env=env)
    return time.perf_counter() - start


def train_all(names: list[str], args: argparse.Namespace, out: Path) -> dict[str, float]:
    """Train the variants, ``args.jobs`` at a time, splitting the CPU cores between them; wall times by name."""
    jobs = min(args.jobs, len(names))
    # One job keeps torch's (or the user's) thread settings; several share the cores this process may use.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = max(1, cores // jobs) if jobs > 1 else None

    def train(name: str) -> float:
        module = VARIANTS[name]
        return train_variant(module, args.data_root, args.epochs, out / module, options(name, args), threads)

    # Threads only wait on the training subprocesses here, so a thread pool is enough.
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return dict(zip(names, pool.map(train, names)))


def table(rows: list[dict]) -> str:
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--epochs", type=int, default=2, help="training epochs of each variant")
    parser.add_argument("--n", type=int, default=10000, help="samples measured per row")
    parser.add_argument("--out", help="keep the run directories here (default: a temporary folder)")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), help=f"of {', '.join(VARIANTS)}")
    parser.add_argument("--train-options", default="--batch-size 64 --lr 2e-4 --eval-interval 1",
                        help="options given to every experiment")
    parser.add_argument("--dcgan-options", default="--fc-units 1024",
                        help="options added for the variants with a DCGAN discriminator (gan, lsgan)")
    parser.add_argument("--jobs", type=int, default=1, help="variants trained at the same time")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f"--jobs should be a positive integer, but given {args.jobs}")

    net = extractor(args.data_root)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        walls = train_all(args.variants, args, out)
        for name in args.variants:
            quality = evaluate_run(out / VARIANTS[name], args.n)
            row = {"variant": name, "epochs": args.epochs, "wall_s": walls[name], **quality}
            rows.append({**row, "options": " ".join(options(name, args))})
    rows += anchors(net, args.data_root, args.n)
    print(table(rows))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
