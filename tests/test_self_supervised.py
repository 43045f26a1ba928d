"""SimCLR extractors for image folders: the loss against the paper's formula, the views, seeded
training, the saved file's round trip, K = 0 metrics, cache names and bad input."""

import hashlib
import math
import re

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from torch.testing import assert_close

from gan_ignite.errors import UsageError
from gan_ignite.extractors import DomainExtractor, ExtractorInfo, extractor_path, load_extractor
from gan_ignite.models.classifier import SmallResNet
from gan_ignite.self_supervised import nt_xent, simclr_views, train_simclr, view_matching_accuracy

TINY = dict(epochs=2, batch_size=8, log=lambda line: None)


def shapes_folder(folder, n=16, size=40, seed=0):
    """``n`` PNGs of a random coloured ellipse and rectangle on a random background."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = Image.new("RGB", (size, size), tuple(int(c) for c in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(img)
        for shape in (draw.ellipse, draw.rectangle):
            x0, y0 = rng.integers(0, size // 2, 2)
            x1, y1 = rng.integers(size // 2 + 4, size, 2)
            shape((int(x0), int(y0), int(x1), int(y1)), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
        img.save(folder / f"shape_{i:02d}.png")
    return folder


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return shapes_folder(tmp_path_factory.mktemp("shapes") / "shapes")


@pytest.fixture(scope="module")
def shape_images(shapes):
    from gan_ignite.data import load_dataset

    return torch.stack([image for image, _ in load_dataset(shapes, image_size=32)])


@pytest.fixture(scope="module")
def trained(shapes, one_thread):
    """The CLI's SimCLR extractor of the shapes folder (saved to the test cache) and its output."""
    import contextlib
    import io

    from gan_ignite.train_extractor import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["--dataset", str(shapes), "--epochs", "2", "--batch-size", "8"])
    return load_extractor(str(shapes)), out.getvalue()


# -- NT-Xent -----------------------------------------------------------------------------
def brute_force_nt_xent(z1, z2, t):
    """Chen et al. 2020, Algorithm 1, written out: views 2k and 2k+1 are image k's."""
    z = [v for pair in zip(z1, z2) for v in pair]
    n2 = len(z)

    def sim(u, v):
        return (u @ v) / (u.norm() * v.norm())

    def l(i, j):
        denominator = sum(torch.exp(sim(z[i], z[k]) / t) for k in range(n2) if k != i)
        return -torch.log(torch.exp(sim(z[i], z[j]) / t) / denominator)

    return sum(l(2 * k, 2 * k + 1) + l(2 * k + 1, 2 * k) for k in range(n2 // 2)) / n2


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0, 2.0])
def test_nt_xent_is_the_papers_loss_with_its_gradients(temperature):
    torch.manual_seed(0)
    z1 = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    loss = nt_xent(z1, z2, temperature)
    expected = brute_force_nt_xent(z1, z2, temperature)
    assert_close(loss, expected)
    assert_close(torch.autograd.grad(loss, (z1, z2)), torch.autograd.grad(expected, (z1, z2)))


def test_nt_xent_rewards_matching_views_and_ignores_scale():
    torch.manual_seed(0)
    z = torch.randn(8, 16)
    assert nt_xent(z, z + 0.01 * torch.randn(8, 16)) < nt_xent(z, torch.randn(8, 16))
    assert_close(nt_xent(z, 3 * z), nt_xent(z, z))  # cosine similarity: lengths do not count
    with pytest.raises(ValueError, match=r"nt_xent takes two \(N, D\) projections of one shape, but given "
                                         r"\(8, 16\) and \(7, 16\)"):
        nt_xent(z, z[:7])


# -- views -------------------------------------------------------------------------------
def test_views_are_random_per_image_in_range_and_seeded():
    x = torch.rand(1, 3, 32, 32).expand(16, -1, -1, -1) * 2 - 1  # one image, 16 times
    torch.manual_seed(3)
    views = simclr_views(x)
    assert views.shape == x.shape and views.min() >= -1 and views.max() <= 1
    distinct = {tuple(v.flatten()[:64].tolist()) for v in views}
    assert len(distinct) == 16  # every copy got its own crop, flip, jitter
    torch.manual_seed(3)
    assert torch.equal(simclr_views(x), views)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\) colour images, but given the shape \(2, 1, 8, 8\)"):
        simclr_views(torch.zeros(2, 1, 8, 8))


def test_view_matching_accuracy_is_chance_for_features_that_tell_nothing(shape_images):
    class Constant(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(1, 4))

        def forward(self, x):
            return self.weight.expand(len(x), -1)

    state = torch.get_rng_state()
    # Every similarity ties: argmax picks view 0, right for image 0 only.
    assert view_matching_accuracy(Constant(), shape_images) == 1 / len(shape_images)
    assert torch.equal(torch.get_rng_state(), state)  # measuring leaves the global RNG alone


# -- training ----------------------------------------------------------------------------
def test_training_is_seeded_and_leaves_the_global_rng_alone(shape_images, one_thread):
    state = torch.get_rng_state()
    first = train_simclr(shape_images, seed=1, **TINY)
    assert torch.equal(torch.get_rng_state(), state)
    again = train_simclr(shape_images, seed=1, **TINY)
    other = train_simclr(shape_images, seed=2, **TINY)
    for name, tensor in first.network.state_dict().items():
        assert torch.equal(tensor, again.network.state_dict()[name]), name
    assert first.fingerprint == again.fingerprint != other.fingerprint
    assert first.info == again.info
    assert first.info.method == "simclr" and first.info.num_classes == 0 and first.info.width == 16
    assert 0 <= first.info.test_accuracy <= 1


def test_training_needs_two_colour_images():
    with pytest.raises(UsageError, match=r"SimCLR trains on 2 or more colour images \(N, 3, H, W\), but given "
                                         r"the shape \(1, 3, 32, 32\)"):
        train_simclr(torch.zeros(1, 3, 32, 32), **TINY)


def test_the_command_saves_an_extractor_that_loads_for_the_folder(shapes, trained):
    extractor, output = trained
    path = extractor_path(str(shapes))
    lines = output.splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == ["epoch 1/2", "epoch 2/2"]
    assert lines[2:] == [f"SimCLR extractor of {shapes.resolve()}: view-matching accuracy "
                         f"{extractor.info.test_accuracy:.4f}; saved to {path}"]
    assert path.is_file() and DomainExtractor.load(path).info == extractor.info
    assert extractor.info.method == "simclr" and extractor.info.dataset == str(shapes.resolve())
    features, probs = extractor.features_and_probs(torch.rand(3, 3, 40, 40) * 2 - 1)  # resized to 32
    assert features.shape == (3, 64) and probs.shape == (3, 0)
    assert not extractor.training


def test_quality_scores_without_classes_give_nan_class_metrics(shapes, trained):
    from gan_ignite.metrics import measure, quality_scores, reference_for

    extractor, _ = trained
    reference = reference_for(extractor, str(shapes))
    images = torch.stack([simclr_views(torch.rand(1, 3, 32, 32) * 2 - 1)[0] for _ in range(12)])
    with torch.no_grad():
        features, probs = extractor.features_and_probs(images)
    scores = quality_scores(features, probs, reference)
    for key in ("is", "confident", "classes", "max_class_share"):
        assert math.isnan(scores[key]), key
    for key in ("fid", "kid", "precision", "recall", "density", "coverage"):
        assert math.isfinite(scores[key]), key
    real = measure([images], extractor, reference)  # the Ignite metric path, too
    assert math.isnan(real["is"]) and real["fid"] == pytest.approx(scores["fid"])


def test_evaluate_prints_null_class_metrics_for_a_folder(shapes, trained, capsys):
    import json

    from gan_ignite.evaluate import main

    main(["--images", str(shapes), "--dataset", str(shapes)])
    result = json.loads(capsys.readouterr().out)
    assert [result[k] for k in ("is", "confident", "classes", "max_class_share")] == [None] * 4
    assert abs(result["fid"]) < 1e-6 and result["coverage"] == 1.0  # the folder against itself


def test_a_folder_run_reports_feature_space_diversity_not_nan(shapes, trained, tmp_path, capsys):
    # The console shows recall and coverage where the extractor has no classes, and the
    # final summary leaves out the NaN class metrics (the Inception Score) instead of printing "nan".
    import json

    from experiments import dcgan_folder

    dcgan_folder.main(["--dataset", str(shapes), "--image-size", "16", "--feature-maps", "8", "--z-dim", "8",
                       "--batch-size", "8", "--epochs", "1", "--eval-interval", "1", "--eval-samples", "16",
                       "--n-samples", "4", "--no-progress", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("epoch"))
    assert header.split()[6:9] == ["eval/fid", "eval/recall", "eval/coverage"]
    assert "nan" not in out and "eval/is" not in out
    last = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[-1])
    assert 0 <= last["eval/recall"] <= 1 and math.isnan(last["eval/is"])  # the log keeps every key


def test_reference_cache_names_folders_apart(shapes, trained, private_cache, tmp_path):
    import shutil

    from gan_ignite.metrics import reference_for

    extractor, _ = trained
    twin = tmp_path / "elsewhere" / shapes.name  # the same name in another place
    shutil.copytree(shapes, twin)
    (twin / "shape_00.png").unlink()
    reference_for(extractor, str(shapes))
    assert reference_for(extractor, str(twin)).n == 15
    names = sorted(p.name for p in (private_cache / "references").glob(f"folder-{shapes.name}-*"))
    assert len(names) == 2 and names[0].split("_")[0] != names[1].split("_")[0]


@pytest.mark.parametrize("spelling", ["absolute", "relative", "symlink", "trailing slash"])
def test_extractor_path_of_a_folder_is_stable(spelling, tmp_path, monkeypatch, private_cache):
    folder = tmp_path / "my logos"
    folder.mkdir()
    digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:8]
    expected = private_cache / "extractors" / f"folder-my logos-{digest}.pt"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "link").symlink_to(folder)
    given = {"absolute": str(folder), "relative": "my logos", "symlink": "link",
             "trailing slash": f"{folder}/"}[spelling]
    assert extractor_path(given) == expected
    other = tmp_path / "b" / "my logos"
    other.mkdir(parents=True)
    assert re.fullmatch(r"folder-my logos-[0-9a-f]{8}\.pt", extractor_path(str(other)).name)
    assert extractor_path(str(other)) != expected
    assert extractor_path("mnist") == private_cache / "extractors" / "mnist.pt"  # names as before


def test_a_folder_without_an_extractor_names_the_command(tmp_path):
    folder = tmp_path / "new logos"
    folder.mkdir()
    with pytest.raises(UsageError) as info:
        load_extractor(str(folder))
    assert str(info.value) == (f"No feature extractor for the folder {folder} at {extractor_path(str(folder))}; "
                               f"train one with: gan-ignite train-extractor --dataset '{folder}'")


# -- files from before SimCLR ------------------------------------------------------------
def test_extractor_files_without_method_or_width_still_load(tmp_path):
    torch.manual_seed(0)
    network = SmallResNet(3, 32, num_classes=4)  # the default width, as every older file has
    info = {"dataset": "cifar10", "architecture": "resnet", "image_size": 32, "channels": 3, "num_classes": 4,
            "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "test_accuracy": 0.5}
    path = tmp_path / "old.pt"
    torch.save({"info": info, "state_dict": network.state_dict()}, path)
    loaded = DomainExtractor.load(path)
    assert loaded.info == ExtractorInfo(**{**info, "mean": (0.0,) * 3, "std": (1.0,) * 3})
    assert loaded.info.method == "classifier" and loaded.info.width is None
    features, probs = loaded.features_and_probs(torch.zeros(2, 3, 32, 32))
    assert features.shape == (2, 128) and probs.shape == (2, 4)
    assert "head.weight" in network.state_dict()


def test_a_resnet_without_classes_has_no_logits():
    net = SmallResNet(3, 32, num_classes=0, width=8)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 0)
    assert not [name for name in net.state_dict() if name.startswith("head")]


# -- bad input ---------------------------------------------------------------------------
def _one_image(folder):
    shapes_folder(folder, n=1)


def _broken_png(folder):
    shapes_folder(folder, n=3)
    (folder / "shape_01.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")


@pytest.mark.parametrize("make, given, message", [
    (None, "missing", "Argument `dataset` should be one of digits, mnist, fashion-mnist, cifar10 or a folder of "
                      "images, but the folder '{path}' does not exist; pass one that does"),
    (lambda p: p.write_text("x"), "a file", "Argument `dataset` should be a folder of images, but given the file "
                                            "{path}; pass the folder that holds it"),
    (lambda p: p.mkdir(), "empty", "No images (png, jpg, jpeg, bmp, gif, webp) found under {path}; "
                                   "pass a folder that holds some"),
    (_one_image, "one image", "--dataset {path} holds 1 image; SimCLR needs at least 2"),
    (_broken_png, "broken", "Cannot read image {path}/shape_01.png ("),  # then PIL's reason
])
def test_a_bad_folder_gives_one_line(make, given, message, tmp_path, capsys, private_cache):
    from gan_ignite.train_extractor import main

    path = tmp_path / given
    if make is not None:
        make(path)
    before = sorted(private_cache.rglob("*"))
    with pytest.raises(SystemExit) as exit_info:
        main(["--dataset", str(path), "--epochs", "1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message.format(path=path)}") and err.count("\n") == 1 and err.endswith("\n"), err
    if given != "broken":
        assert err == f"error: {message.format(path=path)}\n"
    assert sorted(private_cache.rglob("*")) == before  # nothing trained, nothing saved


def test_an_unknown_name_is_refused(capsys):
    from gan_ignite.train_extractor import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--dataset", "logos"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == ("error: Argument `dataset` should be one of digits, mnist, fashion-mnist, "
                                       "cifar10 (a labelled dataset) or a folder of images, but given 'logos'\n")


# -- the real logos ----------------------------------------------------------------------
def test_a_few_real_logos_train(shared_data, one_thread):
    from gan_ignite.train_extractor import train_folder_extractor

    folder = shared_data / "logos" / "color128"
    extractor = train_folder_extractor(str(folder), epochs=1, batch_size=16, limit=32, log=lambda line: None)
    assert extractor.info.dataset == str(folder.resolve()) and extractor.info.num_classes == 0
    # Even one epoch tells many of 32 logos apart: several times chance (1/32).
    assert extractor.info.test_accuracy > 0.1
