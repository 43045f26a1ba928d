"""Tests for how gan_ignite.data decodes image files of every PIL mode to [-1, 1].

Each image is written as a real file, loaded at its native size (no resampling) and
compared with hand-computed grey levels, ``level / 127.5 - 1``. Plain RGB, RGBA and
single-index palette transparency are covered in tests/test_data.py.
"""

import numpy as np
import pytest
import torch
from PIL import Image

from gan_ignite.data import _to_rgb, load_dataset

RAMP = np.arange(256, dtype=np.uint8).reshape(16, 16)  # every 8-bit grey level once


def _levels(values):
    """8-bit grey levels as the dataset returns them: [0, 255] -> [-1, 1]."""
    return torch.as_tensor(np.asarray(values), dtype=torch.float32) / 127.5 - 1.0


def _load(tmp_path, image, name, channels=3, **save_options):
    """Save ``image`` alone in a folder, load it at its native size: (C, H, W)."""
    folder = tmp_path / name.split(".")[0]
    folder.mkdir()
    image.save(folder / name, **save_options)
    dataset = load_dataset(folder, image_size=min(image.size), channels=channels)
    return dataset[0][0]


def _saved_mode(tmp_path, image, name):
    """The mode PIL opens ``image`` in once saved as ``name``."""
    image.save(tmp_path / name)
    with Image.open(tmp_path / name) as img:
        return img.mode


# --- 16-bit greyscale PNG -------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_16bit_grey_png_equals_its_8bit_version(tmp_path, channels):
    """Each 16-bit value v*257 + d, |d| <= 128, rounds to the 8-bit level v."""
    offsets = np.random.default_rng(0).integers(-128, 129, size=RAMP.shape)
    deep = np.clip(RAMP.astype(np.int64) * 257 + offsets, 0, 65535).astype(np.uint16)
    assert _saved_mode(tmp_path, Image.fromarray(deep), "probe.png") in ("I;16", "I")
    expected = _load(tmp_path, Image.fromarray(RAMP), "ref.png", channels)
    torch.testing.assert_close(expected, _levels(RAMP).expand(channels, -1, -1))
    loaded = _load(tmp_path, Image.fromarray(deep), "deep.png", channels)
    torch.testing.assert_close(loaded, expected, rtol=0, atol=0)


def test_16bit_mid_grey_is_zero(tmp_path):
    """32768 of 65535 is mid grey: about 0.0, not the near-white of clipping to 255."""
    image = Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16))
    loaded = _load(tmp_path, image, "mid.png", channels=1)
    torch.testing.assert_close(loaded, torch.zeros(1, 8, 8), rtol=0, atol=1 / 127.5)


def test_16bit_grey_png_transparency_is_white(tmp_path):
    """tRNS names one 16-bit value; only that value is see-through, not its 8-bit level."""
    deep = np.array([[0, 1, 32768, 65535]] * 4, dtype=np.uint16)
    loaded = _load(tmp_path, Image.fromarray(deep), "trns.png", channels=1, transparency=0)
    torch.testing.assert_close(loaded, _levels([[[255, 0, 128, 255]] * 4]))


@pytest.mark.parametrize(
    "mode, values, levels",
    [
        # I;16 variants: the byte orders PIL names; none of them is clipped at 255.
        ("I;16", np.uint16, [0, 1, 128, 255]),
        ("I;16B", ">u2", [0, 1, 128, 255]),
        ("I;16L", "<u2", [0, 1, 128, 255]),
        ("I;16N", "=u2", [0, 1, 128, 255]),
        # Pillow before 10.3 opens 16-bit greyscale PNGs as 32-bit "I".
        ("I", "=i4", [0, 1, 128, 255]),
    ],
)
def test_16bit_modes_scale_to_8bit(mode, values, levels):
    """No format we read opens in these modes under every Pillow: built in memory."""
    deep = np.array([[0, 257, 32768, 65535]], dtype=values)
    image = Image.frombytes(mode, (4, 1), deep.tobytes())
    np.testing.assert_array_equal(np.asarray(_to_rgb(image))[0, :, 0], levels)


@pytest.mark.parametrize(
    "values, levels",
    [
        ([0.0, 0.2, 0.5, 1.0], [0, 51, 128, 255]),  # max <= 1: unit floats
        ([0.0, 2.0, 100.4, 300.0], [0, 2, 100, 255]),  # else grey levels, clipped
    ],
)
def test_float_images_scale_by_their_range(values, levels):
    image = Image.fromarray(np.array([values], dtype=np.float32))
    assert image.mode == "F"
    np.testing.assert_array_equal(np.asarray(_to_rgb(image))[0, :, 0], levels)


# --- 8-bit and fewer: palette, grey with alpha, CMYK, 1-bit ---------------------------


def test_palette_png_with_and_without_alpha(tmp_path):
    """Palette colours as they are; per-entry alpha (tRNS bytes) blends onto white."""
    indices = np.array([[0, 1, 2, 3]] * 4, dtype=np.uint8)
    image = Image.fromarray(indices).convert("P")
    image.putpalette([255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255])  # red, black, black, blue
    plain = _load(tmp_path, image, "plain.png")
    colours = [[255, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 255]]
    torch.testing.assert_close(plain[:, 0], _levels(colours).T)
    alpha = _load(tmp_path, image, "alpha.png", transparency=bytes([255, 0, 51, 255]))
    colours[1:3] = [[255] * 3, [204] * 3]  # alpha 0 -> white; 0.2 of black -> 0.8 white
    torch.testing.assert_close(alpha[:, 0], _levels(colours).T)


def test_grey_alpha_png_blends_onto_white(tmp_path):
    pixels = np.array([[[30, 0], [100, 255], [0, 51]]] * 3, dtype=np.uint8)  # (grey, alpha)
    assert _saved_mode(tmp_path, Image.fromarray(pixels), "probe.png") == "LA"
    loaded = _load(tmp_path, Image.fromarray(pixels), "la.png", channels=1)
    torch.testing.assert_close(loaded, _levels([[[255, 100, 204]] * 3]))


def test_cmyk_jpeg(tmp_path):
    """No ink is white, full black ink is black, full cyan is (0, 255, 255)."""
    image = Image.new("CMYK", (48, 48), (0, 0, 0, 0))  # square: nothing is cropped
    image.paste((0, 0, 0, 255), (16, 0, 32, 48))
    image.paste((255, 0, 0, 0), (32, 0, 48, 48))
    assert _saved_mode(tmp_path, image, "probe.jpg") == "CMYK"
    loaded = _load(tmp_path, image, "cmyk.jpg", quality=95)
    centers = loaded[:, 8, [8, 24, 40]]  # 8x8 JPEG blocks of one colour: near exact
    expected = _levels([[255, 0, 0], [255, 0, 255], [255, 0, 255]])
    torch.testing.assert_close(centers, expected, rtol=0, atol=2 / 127.5)


def test_one_bit_png_is_exactly_black_and_white(tmp_path):
    checkers = (np.indices((8, 8)).sum(0) % 2).astype(bool)
    assert _saved_mode(tmp_path, Image.fromarray(checkers), "probe.png") == "1"
    loaded = _load(tmp_path, Image.fromarray(checkers), "bits.png", channels=1)
    torch.testing.assert_close(loaded[0], torch.from_numpy(checkers).float() * 2 - 1)


@pytest.mark.parametrize(
    "mode, pixel, rgb",
    [
        ("YCbCr", (255, 128, 128), (255, 255, 255)),  # JPEG's colour space; PNG cannot hold it
        ("YCbCr", (0, 128, 128), (0, 0, 0)),
        ("PA", (0, 0), (255, 255, 255)),  # palette + alpha: only in memory
    ],
)
def test_modes_no_file_opens_in(mode, pixel, rgb):
    image = Image.new(mode, (2, 2), pixel)
    np.testing.assert_array_equal(np.asarray(_to_rgb(image))[0, 0], rgb)
