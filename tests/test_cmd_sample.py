"""``gan-ignite sample`` and ``gan-ignite interpolate``, through the real command line.

The run is the shared tiny ``finished_run`` (16x16 images, z_dim 8, ``--ema-decay``,
``gen_best.pt`` kept), read only; a test that damages a run damages a copy.
"""

import copy
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_ignite.commands import main
from gan_ignite.commands.interpolate import slerp
from gan_ignite.evaluate import load_run_generator
from gan_ignite.run_dir import cannot_write_in

SIZE, Z_DIM, PAD = 16, 8, 2  # the fixture's image size and noise size; make_grid's padding


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def image_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def as_pixels(images: torch.Tensor) -> np.ndarray:
    """(N, 1, H, W) generator output in [-1, 1] -> (N, H, W) uint8, as save_image rounds them."""
    unit = (images.clamp(-1, 1) + 1) / 2
    return unit.mul(255).add(0.5).clamp(0, 255).to(torch.uint8)[:, 0].numpy()


def tile(grid: np.ndarray, row: int, column: int) -> np.ndarray:
    """The image at (row, column) of a make_grid grid of SIZE x SIZE images (one channel of it)."""
    top, left = PAD + row * (SIZE + PAD), PAD + column * (SIZE + PAD)
    return grid[top:top + SIZE, left:left + SIZE, 0]


def checkpoint_state(run: Path, name: str) -> dict:
    return torch.load(run / "checkpoints" / name, map_location="cpu", weights_only=True)


def by_hand(state: dict, noise: torch.Tensor, run: Path) -> np.ndarray:
    """The run's generator network with the weights ``state``, applied to ``noise`` in eval mode."""
    gen, _, _ = load_run_generator(run)
    gen = copy.deepcopy(gen)
    gen.load_state_dict(state)
    with torch.no_grad():
        return as_pixels(gen.eval()(noise))


def noise(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, Z_DIM, generator=torch.Generator().manual_seed(seed))


def sample(run: Path, out: Path, *options: str) -> Path:
    main(["sample", str(run), "--out", str(out), *options])
    return out


def tiles(grid: np.ndarray, n: int, nrow: int) -> np.ndarray:
    return np.stack([tile(grid, i // nrow, i % nrow) for i in range(n)])


# --- sample ------------------------------------------------------------------------------------------------------


def test_grid_size_is_make_grids(finished_run, tmp_path):
    grid = sample(finished_run, tmp_path / "grid.png", "--n", "10", "--nrow", "4")
    # 4 columns, ceil(10 / 4) = 3 rows, 2 pixels of padding around every image.
    assert image_size(grid) == (4 * (16 + 2) + 2, 3 * (16 + 2) + 2) == (74, 56)
    assert image_size(sample(finished_run, tmp_path / "wide.png", "--n", "3", "--nrow", "8")) == (56, 20)


def test_grid_is_the_runs_own_epoch_grid(finished_run, tmp_path):
    # The run's grid: n_samples 16 of noise seeded with its seed 0, 4 a row, after the last epoch.
    grid = sample(finished_run, tmp_path / "grid.png", "--n", "16", "--nrow", "4", "--seed", "0")
    assert grid.read_bytes() == (finished_run / "images" / "epoch_0003.png").read_bytes()


def test_default_grid_is_square_as_the_runs_own(finished_run, tmp_path, capsys):
    # Without --nrow: round(sqrt(n)) a row, as SampleGrid lays out the run's epoch grids.
    grid = sample(finished_run, tmp_path / "grid.png", "--n", "16", "--seed", "0")
    assert grid.read_bytes() == (finished_run / "images" / "epoch_0003.png").read_bytes()
    assert image_size(sample(finished_run, tmp_path / "ten.png", "--n", "10")) == (3 * 18 + 2, 4 * 18 + 2)
    assert image_size(sample(finished_run, tmp_path / "all.png")) == (8 * 18 + 2,) * 2  # --n 64: 8 a row
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    assert "default: a square grid" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".tif", ".bmp", ".gif"])
def test_grid_in_other_image_formats(finished_run, tmp_path, suffix):
    grid = sample(finished_run, tmp_path / f"grid{suffix}", "--n", "4")
    assert image_size(grid) == (2 * 18 + 2,) * 2


def test_each_writes_one_png_per_sample_at_the_generators_size(finished_run, tmp_path, capsys):
    main(["sample", str(finished_run), "--n", "5", "--each", str(tmp_path / "each")])
    files = sorted(p.name for p in (tmp_path / "each").iterdir())
    assert files == [f"{i:06d}.png" for i in range(5)]
    assert {image_size(tmp_path / "each" / name) for name in files} == {(SIZE, SIZE)}
    assert "wrote 5 samples" in capsys.readouterr().out


def test_each_images_are_the_grids(finished_run, tmp_path):
    grid = sample(finished_run, tmp_path / "grid.png", "--n", "6", "--nrow", "3", "--each", str(tmp_path / "each"))
    each = np.stack([pixels(tmp_path / "each" / f"{i:06d}.png")[..., 0] for i in range(6)])
    np.testing.assert_array_equal(each, tiles(pixels(grid), 6, 3))


def test_same_seed_same_bytes_other_seed_other_images(finished_run, tmp_path):
    first = sample(finished_run, tmp_path / "a.png", "--n", "8", "--seed", "3").read_bytes()
    again = sample(finished_run, tmp_path / "b.png", "--n", "8", "--seed", "3").read_bytes()
    other = sample(finished_run, tmp_path / "c.png", "--n", "8", "--seed", "4").read_bytes()
    assert first == again and first != other


def test_latest_uses_the_moving_average(finished_run, tmp_path):
    state = checkpoint_state(finished_run, "checkpoint_12.pt")
    average, online = state["trainer"]["extensions"]["ema"]["ema_model"], state["gen"]
    grid = pixels(sample(finished_run, tmp_path / "grid.png", "--n", "8", "--nrow", "8", "--seed", "5"))
    drawn = tiles(grid, 8, 8)
    np.testing.assert_array_equal(drawn, by_hand(average, noise(8, 5), finished_run))
    assert not np.array_equal(drawn, by_hand(online, noise(8, 5), finished_run))


def test_best_is_gen_best_and_differs_from_latest(finished_run, tmp_path):
    options = ["--n", "8", "--nrow", "8", "--seed", "1"]
    best = sample(finished_run, tmp_path / "best.png", *options, "--checkpoint", "best")
    latest = sample(finished_run, tmp_path / "latest.png", *options)
    expected = by_hand(checkpoint_state(finished_run, "gen_best.pt"), noise(8, 1), finished_run)
    np.testing.assert_array_equal(tiles(pixels(best), 8, 8), expected)
    assert best.read_bytes() != latest.read_bytes()  # the online generator of the best epoch, not the average
    # The same file named as a path, or by its bare name in the run's checkpoints/, is the same generator.
    by_path = sample(finished_run, tmp_path / "path.png", *options,
                     "--checkpoint", str(finished_run / "checkpoints" / "gen_best.pt"))
    by_name = sample(finished_run, tmp_path / "name.png", *options, "--checkpoint", "gen_best.pt")
    assert by_path.read_bytes() == by_name.read_bytes() == best.read_bytes()


def test_checkpoint_path_chooses_the_snapshot(finished_run, tmp_path):
    options = ["--n", "8", "--seed", "2"]
    latest = sample(finished_run, tmp_path / "latest.png", *options).read_bytes()
    newest = sample(finished_run, tmp_path / "12.png", *options, "--checkpoint", "checkpoint_12.pt").read_bytes()
    first = sample(finished_run, tmp_path / "4.png", *options, "--checkpoint",
                   str(finished_run / "checkpoints" / "checkpoint_4.pt")).read_bytes()
    assert latest == newest and latest != first


def test_sampling_writes_nothing_into_the_run(finished_run, tmp_path):
    before = sorted((p, p.stat().st_mtime_ns) for p in finished_run.rglob("*"))
    sample(finished_run, tmp_path / "grid.png", "--n", "4", "--checkpoint", "best")
    main(["interpolate", str(finished_run), "--out", str(tmp_path / "i.png"), "--rows", "2", "--steps", "2", "--gif"])
    assert sorted((p, p.stat().st_mtime_ns) for p in finished_run.rglob("*")) == before


# --- interpolate -------------------------------------------------------------------------------------------------


def interpolate(run: Path, out: Path, *options: str) -> Path:
    main(["interpolate", str(run), "--out", str(out), *options])
    return out


def test_interpolation_grid_size_and_row_ends(finished_run, tmp_path):
    rows, steps, seed = 3, 5, 7
    grid = pixels(interpolate(finished_run, tmp_path / "i.png", "--rows", "3", "--steps", "5", "--seed", "7"))
    assert grid.shape[:2] == (rows * (SIZE + PAD) + PAD, steps * (SIZE + PAD) + PAD) == (56, 92)
    # The two ends of the walks: z0 then z1, one draw of 2 * rows vectors from the seed.
    ends = noise(2 * rows, seed)
    average = checkpoint_state(finished_run, "checkpoint_12.pt")["trainer"]["extensions"]["ema"]["ema_model"]
    start, end = by_hand(average, ends[:rows], finished_run), by_hand(average, ends[rows:], finished_run)
    for row in range(rows):
        np.testing.assert_array_equal(tile(grid, row, 0), start[row])
        np.testing.assert_array_equal(tile(grid, row, steps - 1), end[row])


def test_gif_frames_walk_there_and_back(finished_run, tmp_path, capsys):
    png = interpolate(finished_run, tmp_path / "walk.png", "--rows", "4", "--steps", "5", "--gif")
    with Image.open(tmp_path / "walk.gif") as gif:
        assert png.is_file() and gif.n_frames == 2 * 5 - 2
        assert gif.size == (2 * (SIZE + PAD) + PAD,) * 2  # each frame: the 4 rows' images, 2 a row
        frames = []
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("RGB")))
    # There and back: frame 1 and frame 7 both show step 1, and the frames differ along the walk.
    np.testing.assert_array_equal(frames[1], frames[7])
    assert not np.array_equal(frames[0], frames[4])
    assert "8 frames" in capsys.readouterr().out


def test_slerp_follows_the_great_circle():
    e1, e2 = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]])
    t = torch.tensor([0.0, 0.25, 0.5, 1.0])
    # A quarter circle: at t the point is at angle t * pi / 2 from e1.
    expected = torch.stack([torch.cos(t * math.pi / 2), torch.sin(t * math.pi / 2), torch.zeros(4)], dim=1)
    torch.testing.assert_close(slerp(e1, e2, t), expected[None])


def test_slerp_keeps_the_norm_and_the_ends():
    z0 = torch.randn(5, 16, generator=torch.Generator().manual_seed(0))
    z1 = torch.randn(5, 16, generator=torch.Generator().manual_seed(1))
    z1 = z1 / z1.norm(dim=1, keepdim=True) * z0.norm(dim=1, keepdim=True)  # one norm per pair
    t = torch.linspace(0, 1, 7)
    path = slerp(z0, z1, t)
    assert path.shape == (5, 7, 16)
    assert torch.equal(path[:, 0], z0) and torch.equal(path[:, -1], z1)
    torch.testing.assert_close(path.norm(dim=2), z0.norm(dim=1, keepdim=True).expand(5, 7))
    # Constant angular speed: the angle from z0 grows as t times the whole angle.
    cos = torch.nn.functional.cosine_similarity(path, z0[:, None], dim=2).clamp(-1, 1)
    whole = torch.acos(torch.nn.functional.cosine_similarity(z0, z1, dim=1))
    torch.testing.assert_close(torch.acos(cos), t[None] * whole[:, None], atol=1e-3, rtol=0)
    # Linear interpolation, for comparison, cuts inside the sphere.
    assert ((0.5 * (z0 + z1)).norm(dim=1) < 0.99 * z0.norm(dim=1)).all()


def test_slerp_of_parallel_vectors_is_the_straight_line():
    z = torch.tensor([[1.0, 2.0]])
    path = slerp(z, 3 * z, torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(path, torch.tensor([[[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]]]))


# --- bad input ---------------------------------------------------------------------------------------------------


def copy_of(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "copy"))


def no_checkpoints(run: Path) -> None:
    for path in (run / "checkpoints").glob("checkpoint_*"):
        path.unlink()


def no_best(run: Path) -> None:
    for path in (run / "checkpoints").glob("gen_best.pt*"):
        path.unlink()


def corrupt(run: Path, pattern: str = "checkpoint_*.pt") -> None:
    for path in (run / "checkpoints").glob(pattern):
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))


def corrupt_config(run: Path) -> None:
    (run / "config.json").write_text('{"epochs": 3,')


# (damage to a copy of the run or None, the command's options after RUN_DIR, words the one line holds)
BAD_INPUTS = {
    "no such run": ("missing", [], ["RUN_DIR", "does not exist"]),
    "not a run": ("empty", [], ["is not a run directory (it is empty)", "--out of a training run"]),
    "no run files": ("stray", [], ["is not a run directory (it has neither run.json nor config.json)"]),
    "no checkpoints": (no_checkpoints, [], ["has no checkpoint"]),
    "best without gen_best.pt": (no_best, ["--checkpoint", "best"], ["gen_best.pt", "--early-stopping"]),
    "every checkpoint corrupt": (corrupt, [], ["fails its integrity check"]),
    "chosen checkpoint corrupt": (corrupt, ["--checkpoint", "checkpoint_4.pt"], ["checkpoint_4.pt", "integrity"]),
    "best corrupt": (lambda run: corrupt(run, "gen_best.pt"), ["--checkpoint", "best"], ["gen_best.pt", "integrity"]),
    "no such checkpoint": (None, ["--checkpoint", "checkpoint_99.pt"], ["--checkpoint checkpoint_99.pt", "not a file"]),
    "corrupt config.json": (corrupt_config, [], ["config.json", "cannot read"]),
    "n below 1": (None, ["--n", "0"], ["--n should be at least 1, but given 0"]),
    "nrow below 1": (None, ["--nrow", "0"], ["--nrow should be at least 1"]),
    "out folder missing": (None, ["--out", "{tmp}/nowhere/grid.png"], ["--out", "nowhere", "does not exist"]),
    "out is a folder": (None, ["--out", "{tmp}"], ["--out", "image format"]),
    "out not an image": (None, ["--out", "{tmp}/grid.txt"], ["--out", "image format"]),
    "out in a format of no RGB image": (None, ["--out", "{tmp}/out/grid.pdf"],
                                        ["--out", "(.png .jpg .jpeg .webp .bmp .tif .tiff .gif), e.g. grid.png"]),
    "out inside the run": (None, ["--out", "{run}/grid.png"], ["inside the run directory"]),
    "neither out nor each": (None, ["--no-out"], ["--out FILE", "--each DIR"]),
    "each holds files": (None, ["--each", "{tmp}"], ["--each", "already holds files"]),
    "out inside each": (None, ["--each", "{tmp}/out", "--out", "{tmp}/out/grid.png"], ["inside --each"]),
}


def run_bad(command: str, case: tuple, finished_run: Path, tmp_path: Path, capsys) -> tuple[str, Path]:
    damage, options, _ = case
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (tmp_path / "stray.txt").write_text("not a sample")  # makes {tmp} a folder that holds files
    if damage == "missing":
        run = tmp_path / "no-such-run"
    elif damage in ("empty", "stray"):
        run = tmp_path / damage
        run.mkdir()
        if damage == "stray":
            (run / "notes.txt").write_text("no run")
    else:
        run = copy_of(finished_run, tmp_path) if damage is not None else finished_run
        if damage is not None:
            damage(run)
    options = [o.replace("{tmp}", str(tmp_path)).replace("{run}", str(run)) for o in options]
    if "--out" not in options and "--no-out" not in options:
        options += ["--out", str(out_dir / "image.png")]
    options = [o for o in options if o != "--no-out"]
    with pytest.raises(SystemExit) as exit_info:
        main([command, str(run), *options])
    assert exit_info.value.code == 2
    assert not any(out_dir.iterdir()), "a bad input wrote something"
    return capsys.readouterr().err, run


@pytest.mark.parametrize("case", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_sample_bad_input_is_one_line(case, finished_run, tmp_path, capsys):
    err, run = run_bad("sample", case, finished_run, tmp_path, capsys)
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for words in case[2]:
        assert words in err, err
    assert not (run / "grid.png").exists()


INTERPOLATE_BAD = {
    name: BAD_INPUTS[name] for name in
    ("no such run", "not a run", "no run files", "no checkpoints", "best without gen_best.pt",
     "every checkpoint corrupt", "corrupt config.json", "out folder missing", "out inside the run",
     "out in a format of no RGB image")
} | {
    "rows below 1": (None, ["--rows", "0"], ["--rows should be at least 1, but given 0"]),
    "steps below 2": (None, ["--steps", "1"], ["--steps should be at least 2, but given 1"]),
    "batch size below 1": (None, ["--batch-size", "0"], ["--batch-size should be at least 1, but given 0"]),
    "too many images": (None, ["--rows", "101", "--steps", "100"],
                        ["--rows 101 times --steps 100 is 10100 images, more than 10000", "lower --rows or --steps"]),
    "gif onto the grid": (None, ["--gif", "--out", "{tmp}/out/walk.gif"], ["--gif", "beside"]),
}


@pytest.mark.parametrize("case", INTERPOLATE_BAD.values(), ids=INTERPOLATE_BAD.keys())
def test_interpolate_bad_input_is_one_line(case, finished_run, tmp_path, capsys):
    err, _ = run_bad("interpolate", case, finished_run, tmp_path, capsys)
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for words in case[2]:
        assert words in err, err


def unwritable_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o555)
    if cannot_write_in(folder) is None:  # root writes anywhere: find a folder even root cannot write in
        folder = next((p for p in (Path("/sys"), Path("/proc/sys")) if p.is_dir() and cannot_write_in(p)), None)
        if folder is None:
            pytest.skip("no folder here refuses this user's writes")
    return folder


@pytest.mark.parametrize("command", ["sample", "interpolate"])
def test_unwritable_out_folder_is_one_line(command, finished_run, tmp_path, capsys):
    folder = unwritable_folder(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main([command, str(finished_run), "--out", str(folder / "grid.png")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "not writable" in err, err


def test_a_file_of_another_model_is_one_line(finished_run, tmp_path, capsys):
    torch.save({"net.0.weight": torch.zeros(3, 3)}, tmp_path / "other.pt")
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", str(finished_run), "--out", str(tmp_path / "g.png"), "--checkpoint", str(tmp_path / "other.pt")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds no generator of this run" in err, err
    assert "pass one of this run's own checkpoints, e.g. --checkpoint latest" in err, err
    assert not (tmp_path / "g.png").exists()


def exit_line(argv: list[str], capsys) -> str:
    """The one error line of a command that must exit with status 2."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_a_snapshot_of_other_networks_names_a_remedy_for_sampling(finished_run, tmp_path, capsys):
    state = checkpoint_state(finished_run, "checkpoint_12.pt")
    name, weight = next(iter(state["gen"].items()))
    state["gen"][name] = torch.zeros(*weight.shape[:-1], weight.shape[-1] + 1)  # another generator's layer
    torch.save(state, tmp_path / "other.pt")
    err = exit_line(["sample", str(finished_run), "--out", str(tmp_path / "g.png"),
                     "--checkpoint", str(tmp_path / "other.pt")], capsys)
    assert "is not one of this run's" in err and name in err, err
    assert "pass one of this run's own checkpoints, e.g. --checkpoint latest" in err and "resume" not in err, err
    assert not (tmp_path / "g.png").exists()


def test_checkpoint_help_says_what_it_takes(capsys):
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "snapshot (checkpoint_<iteration>.pt) or generator file (gen_best.pt) of the run" in shown


def test_the_output_format_is_refused_before_the_generator_loads(finished_run, tmp_path, capsys, monkeypatch):
    import gan_ignite.commands._run_generator as run_generator

    monkeypatch.setattr(run_generator, "load_run_generator", lambda *a: pytest.fail("the generator was loaded"))
    for command in ("sample", "interpolate"):
        err = exit_line([command, str(finished_run), "--out", str(tmp_path / "grid.eps")], capsys)
        assert ".png .jpg .jpeg .webp .bmp .tif .tiff .gif" in err, err


@pytest.mark.parametrize("command, options", [("sample", ["--n", "64"]), ("interpolate", ["--rows", "3"])])
def test_a_grid_larger_than_pillow_opens_is_one_line(command, options, finished_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    err = exit_line([command, str(finished_run), "--out", str(tmp_path / "grid.png"), *options], capsys)
    assert "more than image viewers and Pillow open (1000 pixels)" in err, err
    assert not any(tmp_path.iterdir())


def test_interpolate_generates_in_batches(finished_run, tmp_path, monkeypatch):
    import gan_ignite.extensions.images as images

    sizes, generate = [], images.generate

    def counting(gen, noise, batch_size=256):
        sizes.append([len(chunk) for chunk in noise.split(batch_size)])
        return generate(gen, noise, batch_size)

    monkeypatch.setattr(images, "generate", counting)
    interpolate(finished_run, tmp_path / "i.png", "--rows", "3", "--steps", "5", "--batch-size", "4")
    assert sizes == [[4, 4, 4, 3]]


def test_interpolate_out_of_memory_is_one_line(finished_run, tmp_path, capsys, monkeypatch):
    import gan_ignite.commands.interpolate as command

    def oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(command, "walks", oom)
    err = exit_line(["interpolate", str(finished_run), "--out", str(tmp_path / "i.png")], capsys)
    assert "not enough memory to interpolate: it tried to allocate 2.00 GiB on the GPU; lower --rows, --steps or " \
           "--batch-size" in err, err
    assert not any(tmp_path.iterdir())


def test_gif_path_that_is_a_folder_is_refused(finished_run, tmp_path, capsys):
    (tmp_path / "walk.gif").mkdir()
    err = exit_line(["interpolate", str(finished_run), "--out", str(tmp_path / "walk.png"), "--gif"], capsys)
    assert f"--gif writes the animation to {tmp_path / 'walk.gif'} (--out with the suffix .gif), but that is a " \
           f"folder" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.gif"]


def test_gif_help_and_line_name_its_path(finished_run, tmp_path, capsys):
    interpolate(finished_run, tmp_path / "walk.png", "--rows", "2", "--steps", "3", "--gif")
    assert f"to {tmp_path / 'walk.gif'} (--out with the suffix .gif)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["interpolate", "--help"])
    assert "--out interp.png writes interp.gif beside it" in " ".join(capsys.readouterr().out.split())


# --- --each is filled at once --------------------------------------------------------------------------------------


class DiskFull(OSError):
    pass


def failing_after(monkeypatch, files: int) -> None:
    """Make the sample writer fail (a full disk) once ``files`` samples are written."""
    import gan_ignite.commands.sample as command

    written, write = [], command.write_atomic

    def write_atomic(path, save):
        if len(written) == files:
            raise DiskFull(28, "No space left on device")
        written.append(path)
        write(path, save)

    monkeypatch.setattr(command, "write_atomic", write_atomic)


@pytest.mark.parametrize("existing", [False, True], ids=["new folder", "empty folder"])
def test_each_failing_part_way_leaves_nothing_and_the_retry_works(existing, finished_run, tmp_path, monkeypatch):
    each = tmp_path / "each"
    if existing:
        each.mkdir()
    failing_after(monkeypatch, 3)
    with pytest.raises(DiskFull):
        main(["sample", str(finished_run), "--n", "6", "--batch-size", "2", "--each", str(each)])
    assert sorted(p.name for p in tmp_path.iterdir()) == (["each"] if existing else [])
    assert not existing or not any(each.iterdir())
    monkeypatch.undo()
    main(["sample", str(finished_run), "--n", "6", "--batch-size", "2", "--each", str(each)])
    assert sorted(p.name for p in each.iterdir()) == [f"{i:06d}.png" for i in range(6)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["each"]


def test_each_interrupted_leaves_nothing(finished_run, tmp_path, monkeypatch):
    import gan_ignite.commands.sample as command

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "_save_each", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(["sample", str(finished_run), "--n", "4", "--each", str(tmp_path / "each")])
    assert not any(tmp_path.iterdir())


# --- sampling needs no training data -------------------------------------------------------------------------------

SMALL_RUN = ["--batch-size", "16", "--image-size", "16", "--z-dim", "8", "--n-samples", "4", "--no-progress",
             "--log-interval", "2", "--epochs", "1", "--quiet"]
# The options of a tiny run of every experiment, on the digits or on "{folder}", a folder of a few PNGs.
EXPERIMENTS = {
    "gan_mnist": ["--limit", "32", "--feature-maps", "8"],
    "lsgan_mnist": ["--limit", "32", "--feature-maps", "8"],
    "ebgan_mnist": ["--limit", "32", "--feature-maps", "8"],
    # 1 and 7 only: its discriminator has max label + 1 = 8 classes, the stand-in's too.
    "ssgan_mnist": ["--feature-maps", "8", "--labelled", "2", "--classes", "1", "7"],
    "mlp_gan_mnist": ["--limit", "32"],
    "dcgan_cifar10": ["--feature-maps", "8", "--dataset", "{folder}"],
    "dcgan_folder": ["--feature-maps", "8", "--dataset", "{folder}"],
}


def png_folder(folder: Path, n: int = 20) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def no_data_reads(monkeypatch) -> None:
    import gan_ignite.data as data

    def forbidden(*args, **kwargs):
        pytest.fail("the training data was read")

    for name in ("load_dataset", "_load_digits", "_load_idx_dataset", "_load_cifar10", "_image_files"):
        monkeypatch.setattr(data, name, forbidden)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_samples_with_its_data_gone(experiment, tmp_path, monkeypatch, capsys):
    import importlib

    folder = png_folder(tmp_path / "pngs")
    options = [o.replace("{folder}", str(folder)) for o in EXPERIMENTS[experiment]]
    if "--dataset" not in options:
        options = ["--dataset", "digits", *options]
    importlib.import_module(f"experiments.{experiment}").main([*SMALL_RUN, *options, "--out", str(tmp_path / "run")])
    folder.rename(tmp_path / "moved")
    no_data_reads(monkeypatch)
    main(["sample", str(tmp_path / "run"), "--n", "4", "--out", str(tmp_path / "grid.png")])
    interpolate(tmp_path / "run", tmp_path / "walk.png", "--rows", "2", "--steps", "3")
    assert image_size(tmp_path / "grid.png") == (2 * 18 + 2,) * 2 and (tmp_path / "walk.png").is_file()
    assert not folder.exists()


def test_a_run_on_missing_mnist_samples_without_a_download(finished_run, tmp_path):
    run = copy_of(finished_run, tmp_path)
    config = json.loads((run / "config.json").read_text())
    gone = tmp_path / "nonexistent"
    (run / "config.json").write_text(json.dumps({**config, "dataset": "mnist", "data_root": str(gone)}))
    before = sorted(p.name for p in tmp_path.iterdir())
    grid = sample(run, tmp_path / "grid.png", "--n", "16", "--seed", "0")
    assert grid.read_bytes() == (finished_run / "images" / "epoch_0003.png").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "grid.png"])  # no download folder
