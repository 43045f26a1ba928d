"""Datasets for GAN training, all yielding ``(image, label)`` pairs.

``image`` is a float tensor (C, image_size, image_size) scaled to [-1, 1], the range of
the generators' ``tanh``; ``label`` is an ``int``. :func:`load_dataset` knows:

- ``digits``: scikit-learn's bundled 8x8 handwritten digits (1,797 images), upsampled.
  Needs no network and no files: the default, and what tests and demos train on.
- ``mnist``, ``fashion-mnist``: the idx files under ``root/MNIST/raw`` or
  ``root/FashionMNIST/raw`` (gzipped or not), torchvision's layout.
- ``cifar10``: torchvision's ``root/cifar-10-batches-py``, or the JPEG export
  ``root/cifar10_jpg/{train,test}/<class>/*.jpg`` read as an image folder.
- any other name that is a directory: every image under it, label 0.

Array datasets are converted and resized once, up front, and served from one tensor
(:class:`TensorImageDataset`): per-item PIL transforms would dominate a CPU run. Image
folders are decoded per item (:class:`ImageFileDataset`), so large folders start quickly:
up front, each file's header and structure are only checked, so that a file PIL cannot
read is named before training starts.
Nothing is ever written under ``root`` except by an explicit torchvision download, which
is tried only when the files are absent and ``download=True``.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import socket
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from gan_ignite.errors import UsageError
from gan_ignite.run_dir import looks_like_path

__all__ = [
    "DATASETS",
    "DEFAULT_DATA_ROOT",
    "IMAGE_EXTENSIONS",
    "ImageFileDataset",
    "TensorImageDataset",
    "dataset_channels",
    "load_dataset",
]

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")
DEFAULT_DATA_ROOT = "data"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")

_NATIVE_CHANNELS = {"digits": 1, "mnist": 1, "fashion-mnist": 1, "cifar10": 3}
# torchvision's folder name and the name users know, per idx-format dataset.
_IDX_DATASETS = {"mnist": ("MNIST", "MNIST"), "fashion-mnist": ("FashionMNIST", "Fashion-MNIST")}
# A download attempt must fail, not hang, where the network silently drops packets.
_DOWNLOAD_TIMEOUT_S = 10.0  # per socket operation; a live connection never waits this long
_RESIZE_CHUNK = 4096  # images resized per call: bounds the temporary float memory
# What PIL raises for a bad file: UnidentifiedImageError and truncation (OSError), broken
# PNG chunks (SyntaxError), bad header fields (ValueError, struct.error), a cut-off
# header (EOFError) and a decompression bomb.
_IMAGE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError)


class TensorImageDataset(Dataset):
    """Images and labels held in two tensors.

    Args:
        images: (N, C, S, S) float images in [-1, 1].
        targets: (N,) integer labels.
    """

    def __init__(self, images: torch.Tensor, targets: torch.Tensor) -> None:
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} labels")
        self.images = images
        self.targets = targets.long()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.targets[index])


class ImageFileDataset(Dataset):
    """Image files decoded on access: composited on white, resized, center-cropped.

    Args:
        files: image paths.
        targets: one label per file.
        image_size: side of the square output.
        channels: 3 for RGB, 1 for greyscale (ITU-R 601 luma, as PIL's ``convert("L")``).
    """

    def __init__(
        self, files: Sequence[Path], targets: Sequence[int], image_size: int, channels: int
    ) -> None:
        self.files = list(files)
        self.targets = list(targets)
        self.image_size = image_size
        self.channels = channels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path = self.files[index]
        try:
            with Image.open(path) as img:
                rgb = _to_rgb(img)
        except _IMAGE_ERRORS as exc:  # a file that passed the header check but not decoding
            raise _unreadable(path, exc) from exc
        img = _resize_center_crop(rgb, self.image_size)
        if self.channels == 1:
            img = img.convert("L")
        pixels = torch.from_numpy(np.array(img, dtype=np.uint8)).reshape(
            self.image_size, self.image_size, self.channels
        )
        return pixels.permute(2, 0, 1).float() / 127.5 - 1.0, self.targets[index]


def dataset_channels(name: str | os.PathLike) -> int:
    """The native channel count of dataset ``name``: 1 for the digit sets, 3 otherwise.

    A folder of images counts as RGB (3). Raises :class:`UsageError` for a name that is
    neither a known dataset nor a directory.
    """
    if isinstance(name, str) and name in _NATIVE_CHANNELS:
        return _NATIVE_CHANNELS[name]
    _image_files(_folder_path(name))
    return 3


def load_dataset(
    name: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    image_size: int = 28,
    channels: int | None = None,
    classes: Sequence[int] | None = None,
    train: bool = True,
    download: bool = True,
) -> Dataset:
    """Load dataset ``name`` as ``(image, label)`` pairs, images (C, S, S) in [-1, 1].

    Args:
        name: one of :data:`DATASETS`, or a directory of images (searched recursively).
            A folder named like a dataset is reached with a path such as ``./mnist``.
        root: the folder that holds the dataset files (``root/MNIST/raw/...``); defaults
            to :data:`DEFAULT_DATA_ROOT`. Ignored by ``digits`` and image folders.
        image_size: side S of the square images; any positive size (bilinear resize).
        channels: None keeps the native count; 1 converts to grey, 3 repeats grey to RGB.
        classes: keep only these labels (unchanged, e.g. ``[7]`` yields label 7).
        train: the training split, else the test split. ``digits`` has no test split and
            returns the same 1,797 images either way; a folder has only one split.
        download: whether torchvision may download a missing dataset.

    Raises:
        UsageError: unknown name, missing or empty folder, missing files, bad argument.
    """
    _check_positive("image_size", image_size)
    if channels is not None and channels not in (1, 3):
        raise UsageError(f"Argument `channels` should be one of 1, 3, but given {channels!r}")
    key = name if isinstance(name, str) else None  # a Path is always a folder
    options = dict(image_size=image_size, channels=channels, classes=classes)
    if key == "digits":
        images, targets = _load_digits()
        return _tensor_dataset(images, targets, max_value=16, name=key, **options)
    data_root = Path(DEFAULT_DATA_ROOT if root is None else root).expanduser()
    if key in _IDX_DATASETS:
        images, targets = _load_idx_dataset(key, data_root, train=train, download=download)
        return _tensor_dataset(images, targets, max_value=255, name=key, **options)
    if key == "cifar10":
        return _load_cifar10(data_root, train=train, download=download, **options)
    folder = _folder_path(name)
    return _file_dataset(_image_files(folder), None, folder, **options)


# --- digits, MNIST, Fashion-MNIST, CIFAR-10 -------------------------------------------


def _load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's digits: (1797, 1, 8, 8) float values 0..16 and (1797,) labels."""
    from sklearn.datasets import load_digits  # heavy import, only when asked for

    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32)).unsqueeze(1)
    return images, torch.from_numpy(bunch.target).long()


def _load_idx_dataset(
    key: str, root: Path, *, train: bool, download: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST-format files: (N, 1, 28, 28) uint8 images and (N,) labels.

    The files are read directly, gzipped or not, rather than through torchvision, which
    insists on decompressing ``*.gz`` next to them (a read-only data folder breaks that).
    """
    folder, title = _IDX_DATASETS[key]
    raw = root / folder / "raw"
    split = "train" if train else "t10k"
    names = (f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte")
    paths = [_find_idx_file(raw, n) for n in names]
    if None in paths:
        failure = _download_failure(key, root, download)
        paths = [_find_idx_file(raw, n) for n in names]
        if None in paths:
            raise UsageError(
                f"{title} not found under {root}{failure}: expected {raw / names[0]}.gz and "
                f"{names[1]}.gz (gzipped or not); pass --data-root pointing at the folder "
                f"that holds {folder}/, or run once with network access to download it"
            )
    images, labels = (_read_idx(p) for p in paths)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise UsageError(f"{paths[0]} and {paths[1]} do not match; replace them with the originals")
    return images.unsqueeze(1), labels.long()


def _find_idx_file(raw: Path, name: str) -> Path | None:
    """``raw/name`` or ``raw/name.gz``, whichever exists."""
    for candidate in (raw / name, raw / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_idx(path: Path) -> torch.Tensor:
    """An idx file of unsigned bytes (magic 0x00 0x00 0x08 ndim, big endian) as uint8."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
        magic, = struct.unpack(">I", data[:4])
        ndim = magic & 0xFF
        shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
        if magic >> 8 != 0x08:
            raise ValueError(f"magic number {magic:#x} is not an idx file of bytes")
        array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)
    except (OSError, EOFError, ValueError, struct.error) as exc:
        raise UsageError(
            f"{path} is not a readable idx file ({exc}); delete it and load again"
        ) from exc
    return torch.from_numpy(array.copy())


def _load_cifar10(
    root: Path,
    *,
    train: bool,
    download: bool,
    image_size: int,
    channels: int | None,
    classes: Sequence[int] | None,
) -> Dataset:
    """torchvision's pickled batches if present, else the JPEG export as an image folder."""
    options = dict(image_size=image_size, channels=channels, classes=classes)
    batches = root / "cifar-10-batches-py"
    jpg = root / "cifar10_jpg" / ("train" if train else "test")
    if not batches.is_dir() and jpg.is_dir():
        return _class_folder_dataset(jpg, **options)
    failure = "" if batches.is_dir() else _download_failure("cifar10", root, download)
    if not batches.is_dir():
        raise UsageError(
            f"CIFAR-10 not found under {root}{failure}: expected {batches} "
            f"or {root / 'cifar10_jpg'}/{{train,test}}/<class>/*.jpg; pass --data-root pointing "
            "at the folder that holds one of them, or run once with network access to download it"
        )
    from torchvision.datasets import CIFAR10

    try:
        ds = CIFAR10(str(root), train=train, download=False)
    except RuntimeError as exc:  # torchvision checks every file's MD5
        message = f"{batches} is incomplete or corrupted; delete it and download again"
        raise UsageError(message) from exc
    images = torch.from_numpy(np.asarray(ds.data)).permute(0, 3, 1, 2)  # NHWC -> NCHW
    targets = torch.tensor(ds.targets)
    return _tensor_dataset(images, targets, max_value=255, name="cifar10", **options)


def _download_failure(key: str, root: Path, download: bool) -> str:
    """Try torchvision's download of ``key`` into ``root``.

    Returns:
        "" on success or when ``download`` is False, else " (download failed: <reason>)"
        for the caller's not-found message. Folders the failed attempt created are removed
        again if empty, so a mistyped ``root`` leaves no trace.
    """
    if not download:
        return ""
    from torchvision import datasets

    kinds = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST}
    cls = kinds.get(key, datasets.CIFAR10)
    new_top = _topmost_missing(root / cls.__name__)
    try:
        with _socket_timeout(_DOWNLOAD_TIMEOUT_S):
            cls(str(root), train=True, download=True)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError; torchvision wraps some
        if new_top is not None:
            _remove_empty_dirs(new_top)
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        return f" (download failed: {lines[-1] if lines else type(exc).__name__})"
    return ""


def _topmost_missing(path: Path) -> Path | None:
    """The highest ancestor of ``path`` (or itself) that does not exist yet, if any."""
    missing = None
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing


def _remove_empty_dirs(top: Path) -> None:
    """Remove ``top`` and the folders below it that hold no file, deepest first."""
    for dirpath, _, _ in sorted(os.walk(top), key=lambda entry: -len(entry[0])):
        with contextlib.suppress(OSError):  # not empty: a partial download, keep it
            os.rmdir(dirpath)


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Give sockets a timeout for the block, unless the caller already chose one."""
    previous = socket.getdefaulttimeout()
    if previous is None:
        socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


# --- turning arrays into a dataset ----------------------------------------------------


def _tensor_dataset(
    images: torch.Tensor,
    targets: torch.Tensor,
    *,
    max_value: float,
    name: str,
    image_size: int,
    channels: int | None,
    classes: Sequence[int] | None,
) -> TensorImageDataset:
    """images (N, C, H, W) with values 0..max_value -> [-1, 1], filtered, resized."""
    if classes is not None:
        keep = _class_mask(targets.tolist(), classes, name)
        images, targets = images[keep], targets[keep]
    n, c = images.shape[:2]
    out = torch.empty(n, c, image_size, image_size)
    for start in range(0, n, _RESIZE_CHUNK):
        chunk = images[start : start + _RESIZE_CHUNK].float() * (2.0 / max_value) - 1.0
        out[start : start + len(chunk)] = _resize(chunk, image_size)
    return TensorImageDataset(_convert_channels(out, channels), targets)


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, size, size), bilinear; antialiased only when shrinking."""
    if images.shape[-2:] == (size, size):
        return images
    shrink = size < min(images.shape[-2:])
    resized = F.interpolate(
        images, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink
    )
    return resized.clamp_(-1.0, 1.0)  # bilinear weights are convex; this only trims rounding


def _convert_channels(images: torch.Tensor, channels: int | None) -> torch.Tensor:
    """(N, C, S, S) -> (N, channels, S, S): luma for 3 -> 1, a repeat for 1 -> 3."""
    c = images.shape[1]
    if channels is None or channels == c:
        return images
    if channels == 1:
        luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images * luma).sum(1, keepdim=True)  # weights sum to 1: [-1, 1] is kept
    return images.expand(-1, channels, -1, -1)  # a view: no copy of the data


def _class_mask(labels: list[int], classes: Sequence[int], name: str) -> list[int]:
    """Indices of ``labels`` in ``classes``; UsageError for unknown or no classes."""
    if isinstance(classes, (int, str)):
        message = f"Argument `classes` should be a sequence of labels, but given {classes!r}"
        raise UsageError(message)
    available = sorted(set(labels))
    listed = ", ".join(map(str, available))
    wanted = set(classes)
    unknown = sorted(wanted - set(available), key=str)
    if unknown or not wanted:
        raise UsageError(
            f"Argument `classes` should hold some of the labels of {name} ({listed}), "
            f"but given {list(classes)!r}"
        )
    return [i for i, label in enumerate(labels) if label in wanted]


# --- image folders --------------------------------------------------------------------


def _folder_path(name: str | os.PathLike) -> Path:
    """The directory ``name`` names, or UsageError saying what is wrong with it."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise UsageError(
            f"Argument `dataset` should be a folder of images, but given the file {path}; "
            "pass the folder that holds it"
        )
    expected = f"Argument `dataset` should be one of {', '.join(DATASETS)} or a folder of images"
    if isinstance(name, str) and not looks_like_path(name):
        raise UsageError(f"{expected}, but given {name!r}")
    raise UsageError(f"{expected}, but the folder {str(name)!r} does not exist; pass one that does")


def _image_files(folder: Path) -> list[Path]:
    """Every image file under ``folder``, recursively, in a stable order."""
    files = sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )
    if not files:
        raise UsageError(
            f"No images ({', '.join(e[1:] for e in IMAGE_EXTENSIONS)}) found under {folder}; "
            "pass a folder that holds some"
        )
    return files


def _file_dataset(
    files: list[Path],
    targets: list[int] | None,
    folder: Path,
    *,
    image_size: int,
    channels: int | None,
    classes: Sequence[int] | None,
) -> ImageFileDataset:
    """An :class:`ImageFileDataset`; every label is 0 when ``targets`` is None."""
    targets = [0] * len(files) if targets is None else targets
    if classes is not None:
        keep = _class_mask(targets, classes, str(folder))
        files, targets = [files[i] for i in keep], [targets[i] for i in keep]
    _check_images(files)
    return ImageFileDataset(files, targets, image_size, 3 if channels is None else channels)


def _check_images(files: Sequence[Path]) -> None:
    """Raise :class:`UsageError` for the first file PIL cannot identify or verify.

    Reads headers and checks the file's structure (PNG chunks and their checksums)
    without decoding pixels, about 0.1 ms a file (5 s for CIFAR-10's 50,000 JPEGs), so
    a stray non-image, an empty file or a cut-off PNG is named before training starts,
    not at the first batch that holds it, after the run directory was set up.
    """
    for path in files:
        try:
            with Image.open(path) as img:
                img.verify()
        except _IMAGE_ERRORS as exc:
            raise _unreadable(path, exc) from exc


def _unreadable(path: Path, exc: BaseException) -> UsageError:
    reason = str(exc) or type(exc).__name__
    return UsageError(f"Cannot read image {path} ({reason}); remove or replace it")


def _class_folder_dataset(folder: Path, **options: object) -> ImageFileDataset:
    """``folder/<class>/*`` with labels from the sorted class names, as ImageFolder."""
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir())
    files: list[Path] = []
    targets: list[int] = []
    for label, class_dir in enumerate(class_dirs):
        found = _image_files(class_dir)
        files += found
        targets += [label] * len(found)
    if not files:
        raise UsageError(f"No class folders found under {folder}; expected {folder}/<class>/*.jpg")
    return _file_dataset(files, targets, folder, **options)


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL image as RGB; transparent parts (RGBA, LA, palette) become white.

    Deeper greyscale (16-bit, 32-bit, float) is scaled to 8 bits first, not clipped.
    """
    if img.mode in _DEEP_GREY_MODES:
        img = _deep_grey_to_8bit(img)
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


# Greyscale deeper than 8 bits, which PIL's convert() clips at 255 instead of scaling.
_DEEP_GREY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def _deep_grey_to_8bit(img: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit or float greyscale image as "L" ("LA" with transparency).

    Integer modes are read as 16-bit, 0..65535 -> 0..255 (value / 257, rounded): the "I;16"
    family is 16-bit by definition, and "I" is what Pillow before 10.3 opens 16-bit
    greyscale PNGs as. A genuinely 32-bit "I" file (a TIFF, whatever its name) has no
    range of its own to recover, so it clips above 65535 rather than being stretched to
    its own extremes, which would make each image's brightness depend on its content.
    Float ("F") images with max <= 1 are taken as 0..1, else as 0..255 (PIL's own reading),
    clipped. A tRNS value names one 16-bit grey, so it is matched before scaling.
    """
    values = np.asarray(img, dtype=np.float32)  # exact for 16-bit values, half of float64
    if img.mode != "F":
        scale = 255 / 65535
    else:
        scale = 255.0 if values.max(initial=0.0) <= 1.0 else 1.0
    grey = np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
    transparency = img.info.get("transparency")
    if not isinstance(transparency, int) or img.mode == "F":
        return Image.fromarray(grey)
    alpha = np.where(values == transparency, 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([grey, alpha], axis=-1))  # (H, W, 2) uint8 -> "LA"


def _resize_center_crop(img: Image.Image, size: int) -> Image.Image:
    """Scale the shorter side to ``size`` (bilinear, antialiased), crop the center."""
    width, height = img.size
    scale = size / min(width, height)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    if (new_w, new_h) != img.size:
        img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return img.crop((left, top, left + size, top + size))


def _check_positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UsageError(f"Argument `{name}` should be a positive integer, but given {value!r}")
    return value

