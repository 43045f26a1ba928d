"""Feature extractors for sample-quality metrics: a trained domain network or Inception-v3.

An extractor maps images in [-1, 1] (any size, 1 or 3 channels) to ``(features (N, F),
probabilities (N, K))``: the features feed FID and KID, the class probabilities the
Inception-style score, the confident fraction and the class coverage.

* :class:`DomainExtractor`: a small network trained on the real data of one dataset
  (``python -m gan_ignite.train_extractor``), saved with its dataset name, image size,
  normalisation and test accuracy, cached under :func:`cache_dir`, never committed.
  For a labelled dataset it is a classifier trained on the training split; for a folder
  of images without labels, a SimCLR network (:mod:`gan_ignite.self_supervised`) with
  no classes (K = 0), cached under a name derived from the folder's path
  (:func:`extractor_path`).
* :class:`InceptionExtractor`: the standard Inception-v3 (2048-d pool features, images
  resized to 299) from a weights file the user supplies, since nothing here can download.

Both load with ``torch.load(..., weights_only=True)``: a weights file is data, never code.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_ignite.errors import UsageError
from gan_ignite.models.classifier import CLASSIFIERS
from gan_ignite.run_dir import check_writable_dir, resolve_path, write_atomic
from gan_ignite.weights import load_weights

__all__ = [
    "ExtractorInfo",
    "DomainExtractor",
    "InceptionExtractor",
    "cache_dir",
    "check_cache_writable",
    "extractor_path",
    "dataset_cache_key",
    "is_folder_dataset",
    "load_extractor",
    "INCEPTION_FILE",
    "EXTRACTOR_IMAGE_SIZES",
]

# torchvision's file name for its ImageNet Inception-v3 weights (Inception_V3_Weights.IMAGENET1K_V1).
INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"
INCEPTION_URL = f"https://download.pytorch.org/models/{INCEPTION_FILE}"


# The labelled datasets a domain extractor can be trained on, and its input size for each
# (the data's native size).
EXTRACTOR_IMAGE_SIZES = {"digits": 28, "mnist": 28, "fashion-mnist": 28, "cifar10": 32}


def cache_dir() -> Path:
    """Where trained extractors and real-data statistics are cached.

    ``$GAN_IGNITE_CACHE`` if set, else ``$XDG_CACHE_HOME/gan_ignite``, else
    ``~/.cache/gan_ignite``.
    """
    if os.environ.get("GAN_IGNITE_CACHE"):
        return resolve_path(os.environ["GAN_IGNITE_CACHE"], "GAN_IGNITE_CACHE")
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return resolve_path(base, "XDG_CACHE_HOME") / "gan_ignite"


def check_cache_writable(folder: Path) -> None:
    """Refuse, before any work, a cache that cannot take a file (``$GAN_IGNITE_CACHE`` naming a file, say)."""
    check_writable_dir(folder, "the cache folder",
                       "point GAN_IGNITE_CACHE (or XDG_CACHE_HOME) at a directory you can write to")


def is_folder_dataset(dataset: str | os.PathLike) -> bool:
    """Whether ``dataset`` names an existing folder of images rather than a labelled dataset.

    A labelled dataset's name wins, as in :func:`~gan_ignite.data.load_dataset`: a folder
    called ``mnist`` is reached as ``./mnist``.
    """
    return dataset not in EXTRACTOR_IMAGE_SIZES and Path(dataset).expanduser().is_dir()


def dataset_cache_key(dataset: str | os.PathLike) -> str:
    """The name cache files of ``dataset`` start with: its name, or one made for a folder.

    A folder gets ``folder-<folder name>-<first 8 hex digits of the SHA-256 of its
    resolved absolute path>``: readable, a valid file name whatever the path holds, the
    same for every spelling of the path (relative, ``~``, a symbolic link), and distinct
    for two folders of the same name in different places.
    """
    if not is_folder_dataset(dataset):
        return str(dataset)
    folder = Path(dataset).expanduser().resolve()
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:8]
    return f"folder-{folder.name}-{digest}"


def extractor_path(dataset: str | os.PathLike) -> Path:
    """The cached domain extractor file of ``dataset`` (a labelled dataset's name or a folder)."""
    return cache_dir() / "extractors" / f"{dataset_cache_key(dataset)}.pt"


@dataclass(frozen=True)
class ExtractorInfo:
    """What a domain extractor was trained on, saved beside its weights.

    Attributes:
        dataset: the dataset name (``mnist``, ``digits``, ...), or a folder's resolved path.
        architecture: a key of :data:`~gan_ignite.models.classifier.CLASSIFIERS`.
        image_size, channels: the input the network was trained on.
        num_classes: K; 0 for a network without classes (``method`` ``"simclr"``).
        mean, std: per-channel normalisation applied to [-1, 1] images before the network.
        test_accuracy: for a classifier, the accuracy on the held-out split, measured
            after training. For SimCLR, which has no labels to be accurate about, the
            view-matching accuracy (:func:`~gan_ignite.self_supervised.view_matching_accuracy`):
            the fraction of images whose augmented view finds the other view of the same
            image as its nearest neighbour among all images' (chance: 1 / N).
        method: how it was trained: ``"classifier"`` (supervised, on labels) or
            ``"simclr"`` (self-supervised, :mod:`gan_ignite.self_supervised`). Files from
            before this field are classifiers.
        width: the first stage's maps of a ``resnet`` when not its default (None: the
            architecture's default, as for every file from before this field).
    """

    dataset: str
    architecture: str
    image_size: int
    channels: int
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    test_accuracy: float
    method: str = "classifier"
    width: int | None = None


def _prepare(x: Tensor, size: int, channels: int) -> Tensor:
    """Resize (bilinear) and convert channels so ``x`` matches what a network was trained on."""
    if x.shape[1] != channels:
        x = x.mean(1, keepdim=True) if channels == 1 else x.expand(-1, channels, -1, -1)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x


class _Frozen(nn.Module):
    """A network used only for inference: always in eval mode, never trained."""

    def train(self, mode: bool = True) -> _Frozen:
        return super().train(False)

    @property
    def fingerprint(self) -> str:
        """A hash of the weights: cached statistics are valid only for the same weights."""
        digest = hashlib.sha256()
        for name, tensor in self.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]


class DomainExtractor(_Frozen):
    """A trained classifier used as the feature space of FID/KID on one dataset.

    Args:
        network: a :data:`~gan_ignite.models.classifier.CLASSIFIERS` network with
            ``features(x)`` and ``forward(x)``.
        info: what it was trained on (input size, normalisation, accuracy).

    ``forward(x)`` returns the (N, F) features of images in [-1, 1];
    :meth:`features_and_probs` also returns the (N, K) class probabilities.
    """

    def __init__(self, network: nn.Module, info: ExtractorInfo) -> None:
        super().__init__()
        self.network = network
        self.info = info
        self.num_features: int = network.num_features
        self.register_buffer("mean", torch.tensor(info.mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(info.std).view(1, -1, 1, 1), persistent=False)
        self.train(False)

    def normalise(self, x: Tensor) -> Tensor:
        """Images in [-1, 1] (any size, 1 or 3 channels) -> the network's input."""
        return (_prepare(x, self.info.image_size, self.info.channels) - self.mean) / self.std

    def forward(self, x: Tensor) -> Tensor:
        return self.network.features(self.normalise(x))

    def features_and_probs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(N, F) features and (N, K) class probabilities of images in [-1, 1].

        A network without classes (K = 0, e.g. SimCLR's) gives (N, 0) probabilities,
        for which the class-based metrics are NaN (:func:`~gan_ignite.metrics.quality_scores`).
        """
        features = self(x)
        if self.info.num_classes == 0:
            return features, features.new_zeros(features.shape[0], 0)
        return features, torch.softmax(self.network.head(features), dim=1)

    def save(self, path: str | os.PathLike) -> None:
        """Write weights and info atomically; :meth:`load` reads them back safely."""
        state = {"info": asdict(self.info), "state_dict": self.network.state_dict()}
        write_atomic(path, lambda f: torch.save(state, f))

    @classmethod
    def load(cls, path: str | os.PathLike) -> DomainExtractor:
        """Read an extractor file with ``weights_only=True``; bad files raise :class:`UsageError`."""
        state = load_weights(path, "feature extractor")
        try:
            info = ExtractorInfo(**{**state["info"], "mean": tuple(state["info"]["mean"]),
                                    "std": tuple(state["info"]["std"])})
            options = {} if info.width is None else {"width": info.width}
            network = CLASSIFIERS[info.architecture](info.channels, info.image_size, info.num_classes, **options)
            network.load_state_dict(state["state_dict"])
        except (KeyError, TypeError, RuntimeError) as exc:
            raise UsageError(
                f"{path} is not a gan_ignite feature extractor ({type(exc).__name__}: {exc}); "
                f"train one with: gan-ignite train-extractor --dataset NAME --data-root DIR"
            ) from None
        return cls(network, info)


def load_extractor(dataset: str, path: str | os.PathLike | None = None) -> DomainExtractor:
    """The domain extractor of ``dataset``: from ``path``, else from the cache.

    Args:
        dataset: a labelled dataset's name (:data:`EXTRACTOR_IMAGE_SIZES`) or an existing
            folder of images, whose cached extractor is a SimCLR one (:func:`extractor_path`).
        path: an extractor file to read instead of the cached one.

    Raises:
        UsageError: no extractor there (with the command that trains one), or a bad file.
    """
    folder = is_folder_dataset(dataset)
    if path is None and dataset not in EXTRACTOR_IMAGE_SIZES and not folder:
        raise UsageError(
            f"Domain features exist for the labelled datasets {', '.join(EXTRACTOR_IMAGE_SIZES)} and for folders "
            f"of images, not {dataset!r}; compare with one of them or use Inception features (--features inception)"
        )
    path = Path(path) if path is not None else extractor_path(dataset)
    if not path.is_file():
        what, data_root = (f"the folder {dataset}", "") if folder else (repr(dataset), " --data-root DIR")
        raise UsageError(
            f"No feature extractor for {what} at {path}; train one with: "
            f"gan-ignite train-extractor --dataset {shlex.quote(str(dataset))}{data_root}"
        )
    return DomainExtractor.load(path)


class InceptionExtractor(_Frozen):
    """Inception-v3 as in the standard FID: 2048-d pool features of images resized to 299.

    Uses torchvision's architecture with ImageNet weights read from a local file (Google's
    original weights expect inputs in [-1, 1], which is what GAN samples are, so the
    input transform is off). FIDs from torchvision's weights are close to, not equal
    to, those of the TensorFlow-ported weights of the original FID code.

    Args:
        weights: the ``.pth`` file; defaults to ``cache_dir() / INCEPTION_FILE``.
    """

    num_features = 2048

    def __init__(self, weights: str | os.PathLike | None = None) -> None:
        super().__init__()
        from torchvision.models import inception_v3

        path = Path(weights) if weights is not None else cache_dir() / INCEPTION_FILE
        if not path.is_file():
            raise UsageError(
                f"Inception-v3 weights not found at {path}; download {INCEPTION_URL} on a machine "
                f"with internet access and put the file there, or pass --inception-weights FILE"
            )
        net = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
        try:
            net.load_state_dict(load_weights(path, "Inception-v3 weights"))
        except RuntimeError as exc:
            raise UsageError(f"{path} does not hold Inception-v3 weights ({str(exc).splitlines()[0]})") from None
        self.head, net.fc = net.fc, nn.Identity()
        self.network = net
        self.train(False)

    def forward(self, x: Tensor) -> Tensor:
        return self.network(_prepare(x, 299, 3))

    def features_and_probs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(N, 2048) pool features and (N, 1000) ImageNet class probabilities."""
        features = self(x)
        return features, torch.softmax(self.head(features), dim=1)
