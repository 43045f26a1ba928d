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

``--suite cifar10`` measures ``dcgan_cifar10`` with the CIFAR-10 domain extractor (the
real test split as the floor; blurred test images, noise and one class as bad
references); ``--suite logos`` measures ``dcgan_folder`` with its small-data defaults on
the logo folder, with the folder's own SimCLR features (:mod:`gan_ignite.self_supervised`):
a seeded half of the logos is the reference, the other half the real-vs-real floor, and
the bad references (blurred, noise, one logo repeated, colour-jittered copies of one
logo) are made from that other half, as ``benchmarks/folder_features.py`` makes them. ``--reuse`` measures runs already in ``--out``
instead of training them again::

    python benchmarks/quality.py --suite logos --data-root ../shared/data
    python benchmarks/quality.py --suite cifar10 --data-root DIR_WITH_cifar10_jpg --epochs 3
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

from gan_ignite.config import OneLineParser  # noqa: E402
from gan_ignite.data import load_dataset  # noqa: E402
from gan_ignite.evaluate import evaluate_run  # noqa: E402
from gan_ignite.extractors import extractor_path, load_extractor  # noqa: E402
from gan_ignite.metrics import QUALITY_KEYS, measure, reference_for  # noqa: E402
from gan_ignite.train_extractor import train_extractor  # noqa: E402

VARIANTS = {"gan": "gan_mnist", "lsgan": "lsgan_mnist", "ebgan": "ebgan_mnist"}
LABELS = {"gan": "gan (DCGAN)"}  # the table's name where it differs from the option's
# The variants whose discriminator is the DCGAN one, which --dcgan-options shape (EBGAN's
# is an autoencoder, with no place for them).
DCGAN_DISCRIMINATOR = {"gan_mnist", "lsgan_mnist"}
COLUMNS = ("variant", "epochs", "wall_s", *QUALITY_KEYS)


def extractor(data_root: str):
    """The cached MNIST extractor, trained (a few minutes) if there is none."""
    net = suite_extractor("mnist", data_root)
    print(f"extractor: {net.info.architecture}, test accuracy {net.info.test_accuracy:.4f}", file=sys.stderr)
    return net


LOGOS = Path("logos") / "color128"


def suite_extractor(dataset: str, data_root: str):
    """The cached domain extractor of a labelled dataset, trained (minutes) if there is none."""
    if not extractor_path(dataset).is_file():
        print(f"training the {dataset} feature extractor (cached for later runs)...", file=sys.stderr)
        train_extractor(dataset, data_root, log=lambda line: print(line, file=sys.stderr)).save(
            extractor_path(dataset)
        )
    return load_extractor(dataset)


def logos_rows(args: argparse.Namespace, out: Path) -> list[dict]:
    """The logo folder's rows: dcgan_folder's samples and the anchors, against a seeded half of the logos."""
    from folder_features import anchor_sets, simclr_extractor  # the anchors of the folder-features benchmark

    from gan_ignite.evaluate import load_run_generator
    from gan_ignite.extensions.images import sample_batches
    from gan_ignite.metrics import Reference, real_features

    folder = Path(args.data_root).resolve() / LOGOS
    net = simclr_extractor(folder)
    images = torch.stack([image for image, _ in load_dataset(folder, image_size=64, channels=3)])
    half, sets = anchor_sets(images, seed=0)
    reference = Reference.from_features(real_features(net, half.split(500)))
    rows = []
    if not args.no_train:
        wall = train_or_reuse("dcgan_folder", ["--dataset", str(folder)], args, out / "dcgan_folder")
        gen, z_dim, _ = load_run_generator(out / "dcgan_folder")
        n = len(images) - len(half)
        quality = measure(sample_batches(gen, z_dim, n, 500, 0, "cpu"), net, reference)
        rows.append({"variant": "dcgan_folder (defaults)", "epochs": args.epochs, "wall_s": wall, **quality,
                     "options": " ".join(args.train_options.split())})
    return rows + [{"variant": name, **measure(x.split(500), net, reference)} for name, x in sets.items()]


def cifar10_rows(args: argparse.Namespace, out: Path) -> list[dict]:
    """CIFAR-10's rows: dcgan_cifar10's samples and the anchors, against the training statistics."""
    from torchvision.transforms.functional import gaussian_blur

    net = suite_extractor("cifar10", args.data_root)
    rows = []
    if not args.no_train:
        wall = train_or_reuse("dcgan_cifar10", ["--data-root", args.data_root], args, out / "dcgan_cifar10")
        quality = evaluate_run(out / "dcgan_cifar10", args.n)
        rows.append({"variant": "dcgan_cifar10", "epochs": args.epochs, "wall_s": wall, **quality,
                     "options": " ".join(args.train_options.split())})
    reference = reference_for(net, "cifar10", args.data_root)
    test = load_dataset("cifar10", root=args.data_root, image_size=32, train=False)
    # A seeded sample: the JPEG export is sorted by class, so its first n would hold a few classes only.
    chosen = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[: args.n]
    pairs = [test[int(i)] for i in chosen]  # each JPEG decoded once
    images, targets = torch.stack([x for x, _ in pairs]), torch.as_tensor([y for _, y in pairs])
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    sets = {
        "real test (floor)": images,
        "one class (test aeroplanes)": images[targets == 0],
        "blurred real (sigma 1.5)": gaussian_blur(images, kernel_size=5, sigma=1.5),
        "gaussian noise": noise,
    }
    return rows + [{"variant": name, **measure(x.split(500), net, reference)} for name, x in sets.items()]


def train_or_reuse(module: str, dataset_args: list[str], args: argparse.Namespace, out: Path) -> float | None:
    """Train ``experiments.MODULE`` into ``out``, or with ``--reuse`` measure what is there; its wall time."""
    if args.reuse and (out / "checkpoints").is_dir():
        return None
    argv = [sys.executable, "-m", f"experiments.{module}", *dataset_args, "--out", str(out), "--quiet",
            *(["--epochs", str(args.epochs)] if args.epochs else []), *args.train_options.split()]
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, stdout=sys.stderr)
    return time.perf_counter() - start


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
    if not names:
        return {}
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
    parser = OneLineParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--suite", choices=("mnist", "cifar10", "logos"), default="mnist",
                        help="the dataset and its experiments")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs of each variant (mnist: 2; the others: the experiment's default)")
    parser.add_argument("--reuse", action="store_true", help="measure the runs already in --out, training only those missing")
    parser.add_argument("--no-train", action="store_true", help="the anchors only (cifar10, logos)")
    parser.add_argument("--n", type=int, default=10000, help="samples measured per row")
    parser.add_argument("--out", help="keep the run directories here (default: a temporary folder)")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS),
                        help=f"which to train: {', '.join(LABELS.get(v, v) for v in VARIANTS)} (default: all)")
    parser.add_argument("--train-options", default=None,
                        help="options given to every experiment (mnist: --batch-size 64 --lr 2e-4 --eval-interval 1 "
                             "--ema-decay 0.999; "
                             "the others: none, the experiment's defaults)")
    parser.add_argument("--dcgan-options", default="--fc-units 1024",
                        help="options added for the variants with a DCGAN discriminator (gan, lsgan)")
    parser.add_argument("--jobs", type=int, default=1, help="variants trained at the same time")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f"--jobs should be a positive integer, but given {args.jobs}")
    if args.suite != "mnist":
        args.train_options = args.train_options or ""
        rows_of = logos_rows if args.suite == "logos" else cifar10_rows
        with tempfile.TemporaryDirectory() as tmp:
            rows = rows_of(args, Path(args.out or tmp))
        print(table(rows))
        print(json.dumps(rows))
        return
    args.epochs = args.epochs or 2
    if args.train_options is None:
        args.train_options = "--batch-size 64 --lr 2e-4 --eval-interval 1 --ema-decay 0.999"

    net = extractor(args.data_root)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        # --reuse measures a variant's run where one is there (its wall time unknown).
        trained = [n for n in args.variants if not (args.reuse and (out / VARIANTS[n] / "checkpoints").is_dir())]
        walls = train_all(trained, args, out)
        for name in args.variants:
            quality = evaluate_run(out / VARIANTS[name], args.n)
            row = {"variant": LABELS.get(name, name), "epochs": args.epochs, "wall_s": walls.get(name), **quality}
            rows.append({**row, "options": " ".join(options(name, args))})
    rows += anchors(net, args.data_root, args.n)
    print(table(rows))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
