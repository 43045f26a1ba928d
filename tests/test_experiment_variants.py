"""Each variant experiment trains 2 epochs on a small slice and leaves the whole run directory."""

import json

import numpy as np
import pytest
from PIL import Image

from experiments import dcgan_cifar10, dcgan_folder, ebgan_mnist, lsgan_mnist, ssgan_mnist

pytestmark = pytest.mark.slow

SMALL = ["--limit", "96", "--batch-size", "16", "--image-size", "16", "--feature-maps", "8", "--z-dim", "16",
         "--n-samples", "16", "--no-progress", "--epochs", "2"]
RUN_FILES = ["config.json", "log.jsonl", "images/epoch_0002.png", "plots/loss.png", "plots/dis_output.png"]


def run(module, out, *extra):
    module.main([*SMALL, "--out", str(out), *extra])
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    assert any((out / "tb").iterdir()) and any((out / "checkpoints").glob("checkpoint_*.pt"))
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_lsgan(tmp_path):
    log = run(lsgan_mnist, tmp_path, "--a", "-1", "--b", "1", "--c", "0")
    assert {"dis/loss", "gen/loss", "dis/real", "dis/fake"} <= set(log[-1])
    assert json.loads((tmp_path / "config.json").read_text())["a"] == -1.0


@pytest.mark.parametrize("pt", [True, False])
def test_ebgan_logs_the_pull_away_term_and_saves_reconstructions(tmp_path, pt):
    log = run(ebgan_mnist, tmp_path, "--pt" if pt else "--no-pt")
    assert all(0 <= entry["gen/pull_away"] <= 1 for entry in log)
    assert (tmp_path / "images" / "reconstruction_0002.png").is_file()
    assert json.loads((tmp_path / "config.json").read_text())["pt"] is pt


def test_dcgan_cifar10_runs_offline_on_digits(tmp_path):
    run(dcgan_cifar10, tmp_path, "--dataset", "digits")
    assert json.loads((tmp_path / "config.json").read_text())["batch_norm"] is True  # the measured default


def test_dcgan_cifar10_keeps_the_articles_network_without_batch_norm(tmp_path):
    run(dcgan_cifar10, tmp_path, "--dataset", "digits", "--no-batch-norm")
    assert json.loads((tmp_path / "config.json").read_text())["batch_norm"] is False
    from torch import nn

    from gan_ignite.evaluate import load_run_generator

    gen, _, _ = load_run_generator(tmp_path)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in gen.modules())


def test_dcgan_folder_with_both_switches(tmp_path):
    folder = tmp_path / "images_in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        pixels = np.full((20, 20, 3), 255, np.uint8)
        pixels[4:16, 4:16] = rng.integers(0, 255, 3)  # a coloured square on white
        Image.fromarray(pixels).save(folder / f"logo_{i}.png")
    log = run(dcgan_folder, tmp_path / "run", "--dataset", str(folder), "--limit", "0", "--batch-size", "8",
              "--feature-matching", "--minibatch-discrimination")
    assert "gen/feature_matching" in log[-1]
    # The small-folder defaults are on without a flag: DiffAugment and the generator's average.
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["diff_augment"], config["ema_decay"]) == ("color,translation,cutout", 0.999)
    with Image.open(tmp_path / "run" / "images" / "epoch_0002.png") as grid:
        assert grid.mode == "RGB"


@pytest.mark.parametrize("module, argv, weight", [
    (dcgan_folder, ["--feature-matching"], 10.0),  # the logos' measured default
    (dcgan_folder, ["--feature-matching", "--fm-weight", "0.5"], 0.5),
    (ssgan_mnist, ["--dataset", "digits"], 1.0),
    (ssgan_mnist, ["--dataset", "digits", "--fm-weight", "3"], 3.0),
])
def test_the_feature_matching_weight_reaches_the_loss(tmp_path, module, argv, weight):
    from gan_ignite.config import parse_config
    from gan_ignite.losses import FeatureMatching

    if module is dcgan_folder:
        folder = tmp_path / "images_in"
        folder.mkdir()
        for i in range(8):
            Image.fromarray(np.full((8, 8, 3), 30 * i, np.uint8)).save(folder / f"{i}.png")
        argv = [*argv, "--dataset", str(folder)]
    config = parse_config(module.Config, [*SMALL, "--limit", "0", "--batch-size", "4", *argv,
                                          "--out", str(tmp_path / "run")])
    loss = module.build(config).updater.loss
    assert isinstance(loss, FeatureMatching) and (loss.weight, loss.reduction) == (weight, "mean")


def test_a_run_from_before_fm_reduction_resumes_with_the_sum_it_trained_with(tmp_path):
    from gan_ignite.config import parse_config

    run(ssgan_mnist, tmp_path, "--limit", "200", "--labelled", "2", "--fm-reduction", "sum")
    settings = json.loads((tmp_path / "config.json").read_text())
    assert settings["fm_reduction"] == "sum"
    del settings["fm_reduction"], settings["fm_weight"]  # as a run started before the options existed wrote it
    (tmp_path / "config.json").write_text(json.dumps(settings))
    resumed = parse_config(ssgan_mnist.Config, ["--out", str(tmp_path), "--resume", "--epochs", "3"])
    assert (resumed.fm_reduction, resumed.fm_weight) == ("sum", 1.0)
    assert ssgan_mnist.build(resumed).updater.loss.reduction == "sum"


def test_ssgan_reports_held_out_accuracy(tmp_path):
    log = run(ssgan_mnist, tmp_path, "--limit", "200", "--labelled", "2")
    assert all(0 <= entry["validation/dis/accuracy"] <= 1 for entry in log)
    assert all(0 <= entry["dis/accuracy"] <= 1 for entry in log)
    assert "dis/supervised" in log[-1]
