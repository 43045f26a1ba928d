"""Does a folder's SimCLR feature space tell real images from bad ones? Sanity anchors, against random init.

A feature space for FID and the k-NN metrics is useful when real images score far better
than obviously wrong ones. For a folder of images (by default the 483 colour logos of
``../shared/data/logos/color128``) this splits the images, with a fixed seed, into two
halves: the first half is the reference, and these sample sets are measured against it:

* ``real (floor)``: the second half, what a perfect generator would score;
* ``blurred real``: the second half, Gaussian blur (sigma 1.5) at 64 px;
* ``uniform noise``: pixels uniform in [-1, 1];
* ``one image xN``: the second half's first image, repeated (total mode collapse);
* ``jittered one image``: that image in N colour-jittered copies (collapse with a little variety).

Each set is measured in two feature spaces of one architecture: the folder's trained
SimCLR extractor (:mod:`gan_ignite.self_supervised`, from the cache, trained first if
there is none, a few minutes) and the same ``SmallResNet`` untrained (random init), the
baseline any training must beat. FID scales differ between spaces, so the comparison is
each anchor's FID divided by the floor's: the smallest such ratio over the bad anchors is
the space's *separation*. Prints one table; its last line is the results as JSON::

    python benchmarks/folder_features.py
    python benchmarks/folder_features.py --folder ../shared/data/logos/color128 --seed 0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gan_ignite.data import load_dataset  # noqa: E402
from gan_ignite.extractors import DomainExtractor, extractor_path, load_extractor  # noqa: E402
from gan_ignite.metrics import Reference, quality_scores, real_features  # noqa: E402
from gan_ignite.models.classifier import SmallResNet  # noqa: E402
from gan_ignite.self_supervised import SIMCLR_WIDTH, view_matching_accuracy  # noqa: E402
from gan_ignite.train_extractor import train_folder_extractor  # noqa: E402

DEFAULT_FOLDER = ROOT.parent / "shared" / "data" / "logos" / "color128"
KEYS = ("fid", "kid", "precision", "recall", "density", "coverage")
FLOOR = "real (floor)"
LOAD_SIZE = 64  # the anchors are made at 64 px; the extractors resize to their 32


def simclr_extractor(folder: Path) -> DomainExtractor:
    """The folder's cached SimCLR extractor, trained and cached first if there is none."""
    if not extractor_path(str(folder)).is_file():
        print(f"training the SimCLR extractor of {folder} (cached for later runs)...", file=sys.stderr)
        start = time.perf_counter()
        net = train_folder_extractor(str(folder), log=lambda line: print(line, file=sys.stderr))
        net.save(extractor_path(str(folder)))
        print(f"trained in {time.perf_counter() - start:.0f}s", file=sys.stderr)
    return load_extractor(str(folder))


def random_extractor(trained: DomainExtractor, seed: int) -> DomainExtractor:
    """The same architecture and input normalisation, untrained."""
    torch.manual_seed(seed)
    return DomainExtractor(SmallResNet(3, trained.info.image_size, num_classes=0, width=SIMCLR_WIDTH), trained.info)


def anchor_sets(images: torch.Tensor, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The reference half and the sample sets, all (N, 3, 64, 64) in [-1, 1]."""
    from torchvision.transforms import v2
    from torchvision.transforms.functional import gaussian_blur

    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(images), generator=generator)
    reference, second = images[order[: len(images) // 2]], images[order[len(images) // 2:]]
    n, one = len(second), second[:1]
    jitter = v2.ColorJitter(0.4, 0.4, 0.4, 0.1)
    torch.manual_seed(seed)  # the jitter draws from the global RNG
    jittered = torch.stack([jitter((one[0] + 1) / 2) for _ in range(n)]).clamp(0, 1) * 2 - 1
    return reference, {
        FLOOR: second,
        "blurred real": gaussian_blur(second, kernel_size=9, sigma=1.5),
        "uniform noise": torch.rand(second.shape, generator=generator) * 2 - 1,
        "one image xN": one.expand(n, -1, -1, -1),
        "jittered one image": jittered,
    }


def measure_anchors(net: DomainExtractor, reference: torch.Tensor, sets: dict[str, torch.Tensor]) -> dict:
    """Every anchor's feature-space metrics against the reference half, and its FID over the floor's."""
    real = Reference.from_features(real_features(net, reference.split(256)))
    results = {}
    for name, images in sets.items():
        features = real_features(net, images.split(256))
        scores = quality_scores(features, torch.zeros(len(features), 0), real)
        results[name] = {key: scores[key] for key in KEYS}
    floor = results[FLOOR]["fid"]
    for scores in results.values():
        scores["fid_ratio"] = scores["fid"] / floor
    return results


def table(results: dict[str, dict]) -> str:
    """One row per anchor and feature space."""
    keys = ("fid", "fid_ratio", *KEYS[1:])
    rows = [f"{'anchor':<20}{'space':<8}" + "".join(f"{key:>11}" for key in keys)]
    for name in next(iter(results.values())):
        for space, anchors in results.items():
            rows.append(f"{name:<20}{space:<8}" + "".join(f"{anchors[name][key]:>11.4g}" for key in keys))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", default=str(DEFAULT_FOLDER), help="the folder of images")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the noise, the jitter, random init")
    args = parser.parse_args(argv)
    folder = Path(args.folder).expanduser().resolve()
    trained = simclr_extractor(folder)
    spaces = {"simclr": trained, "random": random_extractor(trained, args.seed)}
    images = torch.stack([image for image, _ in load_dataset(folder, image_size=LOAD_SIZE, channels=3)])
    reference, sets = anchor_sets(images, args.seed)
    results = {name: measure_anchors(net, reference, sets) for name, net in spaces.items()}
    matching = {name: view_matching_accuracy(net, images) for name, net in spaces.items()}
    separation = {name: min(s["fid_ratio"] for anchor, s in r.items() if anchor != FLOOR)
                  for name, r in results.items()}
    print(f"{folder}: {len(reference)} reference images, {len(sets[FLOOR])} per sample set")
    print("view-matching accuracy: " + ", ".join(f"{k} {v:.4f}" for k, v in matching.items())
          + f" (chance {1 / min(len(images), 1000):.4f})")
    print(table(results))
    print("separation (smallest bad-anchor FID / floor FID): " + ", ".join(f"{k} {v:.3g}" for k, v in separation.items()))
    print(json.dumps({"folder": str(folder), "n_reference": len(reference), "n_samples": len(sets[FLOOR]),
                      "view_matching": matching, "separation": separation, "anchors": results}))


if __name__ == "__main__":
    main()
