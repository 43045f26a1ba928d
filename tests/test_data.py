"""Tests for gan_ignite.data: the embedded digits, image folders, MNIST and CIFAR-10 layouts,
and the errors users see for bad input."""

import gzip
import re
import tarfile

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader

from gan_ignite.data import DATASETS, dataset_channels, load_dataset
from gan_ignite.errors import UsageError

UNKNOWN_NAME = (
    "Argument `dataset` should be one of digits, mnist, fashion-mnist, cifar10 "
    "or a folder of images, but given 'foo'"
)
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"
]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def sklearn_digits():
    return load_digits()


# --- digits ---------------------------------------------------------------------------


def test_digits_shapes_range_and_labels(digits, sklearn_digits):
    assert len(digits) == 1797
    image, label = digits[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert isinstance(label, int)
    assert digits.images.min() == -1.0  # the background, 0 in sklearn's 0..16 scale
    assert 0.9 < digits.images.max() <= 1.0
    counts = np.bincount([digits[i][1] for i in range(len(digits))], minlength=10)
    np.testing.assert_array_equal(counts, np.bincount(sklearn_digits.target))
    assert len(counts) == 10 and counts.min() > 0


def test_digits_at_native_size_are_the_sklearn_pixels_rescaled(sklearn_digits):
    dataset = load_dataset("digits", image_size=8)
    expected = torch.from_numpy(sklearn_digits.images).float() / 8.0 - 1.0  # 0..16 -> -1..1
    torch.testing.assert_close(dataset.images[:, 0], expected)


def test_digits_upsampling_keeps_the_picture(sklearn_digits):
    """Bilinear 8 -> 32 keeps each 4x4 block's center near the source pixel."""
    dataset = load_dataset("digits", image_size=32)
    blocks = dataset.images[:, 0].unfold(1, 4, 4).unfold(2, 4, 4).mean((-1, -2))
    expected = torch.from_numpy(sklearn_digits.images).float() / 8.0 - 1.0
    assert (blocks - expected).abs().mean() < 0.15
    assert dataset.images.abs().max() <= 1.0


def test_digits_as_rgb_repeats_the_grey_channel(digits):
    rgb = load_dataset("digits", channels=3)
    image, _ = rgb[5]
    assert image.shape == (3, 28, 28)
    for c in range(3):
        torch.testing.assert_close(image[c], digits[5][0][0])


def test_digits_through_a_dataloader(digits):
    images, labels = next(iter(DataLoader(digits, batch_size=16, shuffle=False, num_workers=0)))
    assert images.shape == (16, 1, 28, 28)
    assert labels.dtype == torch.int64 and labels.shape == (16,)


@pytest.mark.parametrize("classes", [[7], [1, 7]])
def test_classes_keeps_only_those_labels(classes, sklearn_digits):
    dataset = load_dataset("digits", classes=classes)
    labels = [dataset[i][1] for i in range(len(dataset))]
    assert set(labels) == set(classes)
    assert len(dataset) == np.isin(sklearn_digits.target, classes).sum()


@pytest.mark.parametrize("classes", [[10], [7, 11], []])
def test_classes_must_exist(classes):
    message = re.escape(
        "Argument `classes` should hold some of the labels of digits (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)"
        f", but given {classes}"
    )
    with pytest.raises(UsageError, match=message):
        load_dataset("digits", classes=classes)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"classes": 7}, "Argument `classes` should be a sequence of labels, but given 7"),
        ({"image_size": 0}, "Argument `image_size` should be a positive integer, but given 0"),
        ({"image_size": 2.5}, "Argument `image_size` should be a positive integer, but given 2.5"),
        ({"channels": 2}, "Argument `channels` should be one of 1, 3, but given 2"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        load_dataset("digits", **kwargs)


# --- names and image folders ----------------------------------------------------------


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(UsageError, match=re.escape(UNKNOWN_NAME)):
        load_dataset("foo")
    with pytest.raises(UsageError, match=re.escape(UNKNOWN_NAME)):
        dataset_channels("foo")


def test_missing_folder(tmp_path):
    missing = tmp_path / "nope"
    message = f"but the folder '{re.escape(str(missing))}' does not exist"
    with pytest.raises(UsageError, match=message):
        load_dataset(str(missing))


def test_empty_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(UsageError, match=f"No images .* found under {re.escape(str(tmp_path))}"):
        load_dataset(str(tmp_path))


def test_file_is_not_a_folder(tmp_path):
    path = tmp_path / "one.png"
    Image.new("RGB", (8, 8)).save(path)
    with pytest.raises(UsageError, match="should be a folder of images, but given the file"):
        load_dataset(str(path))


@pytest.fixture
def image_folder(tmp_path):
    """Six images of mixed modes and formats, nested, plus a file that is no image."""
    Image.new("RGB", (20, 20), (255, 0, 0)).save(tmp_path / "red.png")
    (tmp_path / "b" / "sub").mkdir(parents=True)
    rgba = Image.new("RGBA", (20, 20), (0, 0, 0, 0))  # left half fully transparent black
    rgba.paste((0, 0, 255, 255), (10, 0, 20, 20))  # right half opaque blue
    rgba.save(tmp_path / "b" / "sub" / "alpha.png")
    palette = Image.new("P", (20, 20), 1)
    palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)  # index 0 black, 1 green
    palette.paste(0, (0, 0, 20, 10))  # top half index 0, declared transparent below
    palette.save(tmp_path / "palette.png", transparency=0)
    Image.new("LA", (20, 20), (0, 0)).save(tmp_path / "grey_alpha.png")
    wide = Image.new("RGB", (40, 20), (0, 0, 255))  # blue | green | red quarters
    wide.paste((0, 255, 0), (10, 0, 30, 20))
    wide.paste((255, 0, 0), (30, 0, 40, 20))
    wide.save(tmp_path / "b" / "wide.jpg", quality=95)
    Image.new("RGB", (8, 8), (255, 255, 255)).save(tmp_path / "UPPER.PNG")
    (tmp_path / "readme.txt").write_text("ignored")
    return tmp_path


def _by_name(dataset, name):
    return next(dataset[i][0] for i, f in enumerate(dataset.files) if f.name == name)


def test_folder_dataset(image_folder):
    dataset = load_dataset(str(image_folder), image_size=16)
    assert sorted(f.name for f in dataset.files) == sorted(
        ["red.png", "alpha.png", "palette.png", "grey_alpha.png", "wide.jpg", "UPPER.PNG"]
    )
    for i in range(len(dataset)):
        image, label = dataset[i]
        assert image.shape == (3, 16, 16) and label == 0
        assert image.min() >= -1.0 and image.max() <= 1.0
    torch.testing.assert_close(_by_name(dataset, "red.png")[:, 8, 8], torch.tensor([1.0, -1, -1]))
    torch.testing.assert_close(_by_name(dataset, "UPPER.PNG"), torch.ones(3, 16, 16))


def test_folder_composites_transparency_on_white(image_folder):
    dataset = load_dataset(str(image_folder), image_size=20)  # native size: no resampling
    alpha = _by_name(dataset, "alpha.png")
    torch.testing.assert_close(alpha[:, :, :10], torch.ones(3, 20, 10))  # transparent -> white
    torch.testing.assert_close(alpha[:, 5, 15], torch.tensor([-1.0, -1, 1]))  # opaque blue
    palette = _by_name(dataset, "palette.png")
    torch.testing.assert_close(palette[:, :10], torch.ones(3, 10, 20))
    torch.testing.assert_close(palette[:, 15, 5], torch.tensor([-1.0, 1, -1]))
    torch.testing.assert_close(_by_name(dataset, "grey_alpha.png"), torch.ones(3, 20, 20))


def test_folder_resizes_the_short_side_and_crops_the_center(image_folder):
    wide = _by_name(load_dataset(str(image_folder), image_size=16), "wide.jpg")
    # 40x20 -> 32x16, crop columns 8..24 = the green middle half of the original.
    red, green, blue = wide[:, 2:14, 3:13].mean((1, 2))
    assert green > 0.8 and red < -0.8 and blue < -0.8


def test_folder_as_grey(image_folder):
    red = _by_name(load_dataset(str(image_folder), image_size=16, channels=1), "red.png")
    assert red.shape == (1, 16, 16)
    expected = round(0.299 * 255) / 127.5 - 1.0  # ITU-R 601 luma of pure red
    torch.testing.assert_close(red, torch.full((1, 16, 16), expected))


def test_folder_with_an_unreadable_image(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    # Named when the dataset is made (headers are checked), not at the first batch.
    with pytest.raises(UsageError, match="Cannot read image .*broken.png"):
        load_dataset(str(tmp_path))


def test_folder_classes_are_label_zero(image_folder):
    assert len(load_dataset(str(image_folder), classes=[0])) == 6
    with pytest.raises(UsageError, match=r"labels of .* \(0\), but given \[1\]"):
        load_dataset(str(image_folder), classes=[1])


def test_dataset_channels(image_folder):
    assert DATASETS == ("digits", "mnist", "fashion-mnist", "cifar10")
    assert [dataset_channels(n) for n in DATASETS] == [1, 1, 1, 3]
    assert dataset_channels(str(image_folder)) == 3


# --- MNIST-format files ---------------------------------------------------------------


def _mnist_message(root, folder="MNIST", title="MNIST"):
    return (
        f"{title} not found under {root}.*: expected {root}/{folder}/raw/"
        "train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz \\(gzipped or not\\); "
        f"pass --data-root pointing at the folder that holds {folder}/, "
        "or run once with network access to download it"
    )


@pytest.mark.parametrize(
    "name, folder, title",
    [("mnist", "MNIST", "MNIST"), ("fashion-mnist", "FashionMNIST", "Fashion-MNIST")],
)
def test_missing_idx_files_without_download(tmp_path, name, folder, title):
    with pytest.raises(UsageError, match=_mnist_message(tmp_path, folder, title)):
        load_dataset(name, root=tmp_path, download=False)
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_failed_download_is_one_clear_line(tmp_path, monkeypatch):
    """Offline, torchvision raises a multi-line RuntimeError; users get one line."""

    def offline_download(self):
        (tmp_path / "MNIST" / "raw").mkdir(parents=True)  # as torchvision does first
        raise RuntimeError(
            "Error downloading train-images-idx3-ubyte.gz:\nTried https://x/, got:\n"
            "<urlopen error [Errno -2] Name or service not known>\n"
        )

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline_download)
    with pytest.raises(UsageError, match=_mnist_message(tmp_path)) as info:
        load_dataset("mnist", root=tmp_path)
    assert "\n" not in str(info.value)
    reason = "(download failed: <urlopen error [Errno -2] Name or service not known>)"
    assert reason in str(info.value)
    assert list(tmp_path.iterdir()) == []  # the empty folders of the attempt are gone


def test_corrupt_idx_file(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte.gz").write_bytes(b"truncated")
    (raw / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x02\x01\x02")
    with pytest.raises(UsageError, match="train-images-idx3-ubyte.gz is not a readable idx file"):
        load_dataset("mnist", root=tmp_path, download=False)


def _raw_labels(path):
    """Labels straight from an idx1 file: a 4-byte magic, a 4-byte count, then bytes."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    assert int.from_bytes(data[:4], "big") == 2049
    labels = np.frombuffer(data, dtype=np.uint8, offset=8)
    assert len(labels) == int.from_bytes(data[4:8], "big")
    return labels


@pytest.fixture(scope="module")
def mnist_train(shared_data):
    # Files present: no download may be attempted, however `download` is set.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torchvision.datasets.MNIST, "download", lambda self: pytest.fail("download"))
        return load_dataset("mnist", root=shared_data, download=True)


def test_mnist_train(mnist_train, shared_data):
    assert len(mnist_train) == 60000
    image, label = mnist_train[0]
    assert image.shape == (1, 28, 28) and isinstance(label, int)
    assert mnist_train.images.min() == -1.0 and mnist_train.images.max() == 1.0
    with gzip.open(shared_data / "MNIST" / "raw" / "train-images-idx3-ubyte.gz", "rb") as f:
        first = np.frombuffer(f.read(16 + 784), dtype=np.uint8, offset=16).reshape(28, 28)
    torch.testing.assert_close(image[0], torch.from_numpy(first.copy()).float() / 127.5 - 1.0)
    labels = _raw_labels(shared_data / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz")
    torch.testing.assert_close(mnist_train.targets, torch.from_numpy(labels.astype(np.int64)))


def test_mnist_digit_seven_alone(shared_data):
    sevens = load_dataset("mnist", root=shared_data, classes=[7])
    labels = _raw_labels(shared_data / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz")
    assert len(sevens) == int((labels == 7).sum())
    assert set(sevens.targets.tolist()) == {7}


def test_mnist_test_split_resized_to_rgb(shared_data):
    dataset = load_dataset("mnist", root=shared_data, train=False, image_size=32, channels=3)
    assert len(dataset) == 10000
    image, _ = dataset[0]
    assert image.shape == (3, 32, 32)
    assert image.min() >= -1.0 and image.max() <= 1.0


# --- CIFAR-10 -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cifar10_jpg_root(shared_data, tmp_path_factory):
    """Two test images per class from the shared JPEG export (its test/ folder comes
    first in the archive, so the scan stops early)."""
    root = tmp_path_factory.mktemp("cifar")
    with tarfile.open(shared_data / "cifar10-jpg" / "cifar10_jpg.tar.gz") as archive:
        for member in archive:
            if "/train/" in member.name:
                break
            if member.name.endswith(("/0000.jpg", "/0001.jpg")):
                archive.extract(member, root, filter="data")
    return root


def test_cifar10_from_jpeg_folders(cifar10_jpg_root):
    dataset = load_dataset("cifar10", root=cifar10_jpg_root, train=False, image_size=32)
    assert len(dataset) == 20
    assert sorted(dataset.targets) == sorted(list(range(10)) * 2)
    for i in range(len(dataset)):
        image, label = dataset[i]
        assert image.shape == (3, 32, 32)
        assert dataset.files[i].parent.name == CIFAR10_CLASSES[label]
    cats = load_dataset("cifar10", root=cifar10_jpg_root, train=False, classes=[3])
    assert cats.targets == [3, 3]


def test_cifar10_missing(cifar10_jpg_root, tmp_path):
    expected = f"CIFAR-10 not found under {cifar10_jpg_root}: expected .*cifar-10-batches-py or"
    with pytest.raises(UsageError, match=expected):  # the export has no train/ here
        load_dataset("cifar10", root=cifar10_jpg_root, train=True, download=False)
    with pytest.raises(UsageError, match="--data-root"):
        load_dataset("cifar10", root=tmp_path, download=False)


def test_cifar10_from_torchvision_batches(tmp_path, monkeypatch):
    """The pickled batches go through torchvision; check the HWC -> CHW conversion."""
    (tmp_path / "cifar-10-batches-py").mkdir()
    data = np.random.default_rng(0).integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)

    class FakeCIFAR10:
        def __init__(self, root, train, download):
            assert (root, train, download) == (str(tmp_path), True, False)
            self.data, self.targets = data, [3, 1, 4, 1]

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    dataset = load_dataset("cifar10", root=tmp_path, image_size=32)
    image, label = dataset[2]
    assert label == 4
    torch.testing.assert_close(image, torch.from_numpy(data[2]).permute(2, 0, 1) / 127.5 - 1.0)
