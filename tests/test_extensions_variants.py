"""Tests for PlotReport, ReconstructionGrid and ClassifierAccuracy, driven by a real Trainer."""

import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from gan_ignite.errors import UsageError
from gan_ignite.extensions import LogReport
from gan_ignite.extensions.accuracy import ClassifierAccuracy, classifier_accuracy
from gan_ignite.extensions.plot import PlotReport
from gan_ignite.extensions.reconstructions import ReconstructionGrid
from gan_ignite.trainer import Trainer

# -- PlotReport --------------------------------------------------------------------------


def gan_like_update(engine, batch):
    # "gen/loss" only from iteration 3 on, "dis/real" only on odd iterations.
    it = engine.state.iteration
    observation = {"dis/loss": float(batch), "dis/fake": 0.1 * it}
    if it >= 3:
        observation["gen/loss"] = 2.0 * it
    if it % 2:
        observation["dis/real"] = 1.0
    return observation


def plot_trainer(tmp_path, n_epochs=2):
    trainer = Trainer(gan_like_update, [1, 2, 3, 4], stop_trigger=(n_epochs, "epoch"), out=tmp_path)
    trainer.extend(LogReport(trigger=(2, "iteration")))
    return trainer


def test_plot_report_writes_a_png_of_the_log(tmp_path):
    trainer = plot_trainer(tmp_path)
    trainer.extend(PlotReport(["dis/loss", "gen/loss"], filename="loss.png"))
    trainer.extend(PlotReport(["dis/real", "dis/fake"], filename="dis_output.png"))  # no name clash
    trainer.run()
    for name in ("loss.png", "dis_output.png"):
        with Image.open(tmp_path / "plots" / name) as image:
            assert image.format == "PNG" and image.size == (640, 480) and image.mode == "RGBA"
            colours = np.asarray(image.convert("RGB")).reshape(-1, 3)
            assert len(np.unique(colours, axis=0)) > 20  # axes, lines, labels: not a blank canvas
    assert not list((tmp_path / "plots").glob(".*.tmp"))  # atomic writes leave no temporaries


def test_plot_report_skips_entries_missing_a_key(tmp_path):
    trainer = plot_trainer(tmp_path)
    report = PlotReport(["dis/loss", "gen/loss", "never/logged"])
    trainer.extend(report)
    trainer.run()
    log = trainer.get_extension("LogReport").log
    assert "gen/loss" not in log[0]  # the interval of iterations 1-2 never saw it
    axes = report.draw(log).axes[0]
    lines = {line.get_label(): line for line in axes.lines}
    assert set(lines) == {"dis/loss", "gen/loss"}
    assert list(lines["dis/loss"].get_xdata()) == [2, 4, 6, 8]
    assert list(lines["gen/loss"].get_xdata()) == [4, 6, 8]
    # Entry means of 2 * it over iterations (3, 4), (5, 6), (7, 8).
    assert list(lines["gen/loss"].get_ydata()) == pytest.approx([7.0, 11.0, 15.0])


def test_plot_report_of_an_empty_log_draws_empty_axes():
    figure = PlotReport(["dis/loss"]).draw([])
    assert len(figure.axes[0].lines) == 0


def test_plot_report_names_a_log_report_that_is_not_registered(tmp_path):
    trainer = Trainer(gan_like_update, [1], out=tmp_path)
    trainer.extend(PlotReport(["dis/loss"], log_report="Log"))
    with pytest.raises(ValueError, match=r"^No extension named 'Log'; registered: PlotReport:loss.png$"):
        trainer.run()


def test_plot_report_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, module, None)  # import of a None entry raises ImportError
    trainer = plot_trainer(tmp_path)
    trainer.extend(PlotReport(["dis/loss"]))
    with pytest.raises(UsageError, match="PlotReport draws with matplotlib, which is not installed; pip install"):
        trainer.run()


def test_plot_report_bad_arguments():
    with pytest.raises(UsageError, match=r"Argument `y_keys` should name at least one log key, but given \[\]"):
        PlotReport([])
    with pytest.raises(UsageError, match="Argument `unit` should be one of epoch, iteration, but given 'epochs'"):
        PlotReport(["dis/loss"], trigger=(1, "epochs"))
    assert PlotReport("dis/loss").y_keys == ["dis/loss"]  # one key, as in Chainer


# -- ReconstructionGrid ------------------------------------------------------------------


class TinyAutoencoder(nn.Module):
    """A batch-norm autoencoder (eval and train modes differ) that records how it was called."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 16), nn.BatchNorm1d(16), nn.Tanh())
        self.calls = []

    def reconstruct(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.net(x).view_as(x)


def reconstruction_trainer(tmp_path, dis, images, n_epochs=2):
    trainer = Trainer(lambda engine, batch: {"x": float(batch)}, [1, 2], stop_trigger=(n_epochs, "epoch"),
                      out=tmp_path)
    grid = ReconstructionGrid(dis, images)
    trainer.extend(grid)
    return trainer, grid


def test_reconstruction_grid_puts_real_images_over_their_reconstructions(tmp_path):
    dis = TinyAutoencoder()
    images = torch.rand(6, 1, 4, 4) * 2 - 1
    trainer, grid = reconstruction_trainer(tmp_path, dis, images)
    rng_before = torch.get_rng_state()
    trainer.run()
    assert torch.equal(torch.get_rng_state(), rng_before)  # reconstructing draws nothing from the global RNG
    assert dis.training and dis.calls == [(False, False), (False, False)]  # eval, no_grad, mode restored
    # nrow = round(sqrt(2 * 6)) = 3: each half is 2 rows x 3 columns of 4x4 images, 2-pixel padding.
    half_height, width = 2 * 4 + 3 * 2, 3 * 4 + 4 * 2
    picture = trainer.images["reconstructions"]
    assert picture.shape == (3, 2 * half_height, width)
    with torch.no_grad():
        reconstruction = dis.eval().net(images[4:5]).view(4, 4)
    for epoch in (1, 2):
        with Image.open(tmp_path / "images" / f"reconstruction_{epoch:04d}.png") as image:
            assert image.size == (width, 2 * half_height)
            pixels = torch.from_numpy(np.asarray(image.convert("L"), dtype=np.float32)) / 255
        # Image 4 sits in row 1, column 1 of each half: real above, its reconstruction below.
        top = pixels[2 + 6 : 6 + 6, 2 + 6 : 6 + 6]
        bottom = pixels[half_height + 8 : half_height + 12, 8:12]
        torch.testing.assert_close(top, (images[4, 0] + 1) / 2, atol=1 / 255, rtol=0)
        torch.testing.assert_close(bottom, (reconstruction + 1) / 2, atol=1 / 255, rtol=0)


def test_reconstruction_grid_keeps_eval_mode_and_checkpoints_its_images(tmp_path):
    dis = TinyAutoencoder().eval()
    images = torch.rand(2, 1, 4, 4)
    trainer, grid = reconstruction_trainer(tmp_path, dis, images, n_epochs=1)
    images.zero_()  # the extension keeps its own copy
    trainer.run()
    assert not dis.training
    saved = trainer.state_dict()["extensions"]["ReconstructionGrid"]["images"]
    assert saved.abs().sum() > 0
    other = ReconstructionGrid(TinyAutoencoder(), torch.zeros(2, 1, 4, 4))
    other.load_state_dict({"images": saved})
    assert torch.equal(other.images, saved)


def test_reconstruction_grid_bad_arguments():
    with pytest.raises(UsageError, match=r"Argument `dis` should be an autoencoder .* but given Linear"):
        ReconstructionGrid(nn.Linear(2, 2), torch.zeros(1, 1, 4, 4))
    bad_images = r"Argument `images` should be a non-empty \(N, C, H, W\) tensor, but given \(4, 4\)"
    with pytest.raises(UsageError, match=bad_images):
        ReconstructionGrid(TinyAutoencoder(), torch.zeros(4, 4))


# -- ClassifierAccuracy ------------------------------------------------------------------

K = 3


class ScriptedClassifier(nn.Module):
    """Images (N, 1, 1, 1) hold the class to predict; ``shift`` moves every prediction."""

    def __init__(self):
        super().__init__()
        self.shift = 0
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        predicted = (x.view(-1).long() + self.shift) % K
        return F.one_hot(predicted, K).float()


def held_out_batches():
    """10 images in batches of 4, 4, 2; shift 0 gets 7 right, shift 1 gets 3 right.

    Per-batch accuracies (4/4, 3/4, 0/2 with shift 0) average to 0.583, not 0.7: the
    result must count images, not average batches.
    """
    predictions = [[0, 1, 2, 0], [1, 2, 0, 1], [2, 0]]
    labels = [[0, 1, 2, 0], [1, 2, 0, 2], [0, 1]]
    return [(torch.tensor(p, dtype=torch.float32).view(-1, 1, 1, 1), torch.tensor(y))
            for p, y in zip(predictions, labels)]


def test_classifier_accuracy_counts_images():
    dis = ScriptedClassifier()
    assert classifier_accuracy(dis, held_out_batches()) == pytest.approx(0.7)
    dis.shift = 1
    assert classifier_accuracy(dis, held_out_batches()) == pytest.approx(0.3)


def test_classifier_accuracy_lands_in_the_log_entry_of_its_epoch(tmp_path):
    dis = ScriptedClassifier()

    def update(engine, batch):
        dis.shift = engine.state.epoch - 1  # a "trained" classifier that changes per epoch
        return {"dis/loss": float(batch)}

    trainer = Trainer(update, [1, 2, 3], stop_trigger=(2, "epoch"), out=tmp_path)
    # Registered after LogReport: the priority, not the order, puts it first.
    trainer.extend(LogReport(trigger=(1, "epoch")))
    trainer.extend(ClassifierAccuracy(dis, held_out_batches()))
    trainer.run()
    entries = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [e["dis/accuracy"] for e in entries] == [pytest.approx(0.7), pytest.approx(0.3)]
    assert len(dis.calls) == 2 * 3  # once per epoch, three held-out batches each
    assert set(dis.calls) == {(False, False)} and dis.training  # eval, no_grad, mode restored


def test_classifier_accuracy_with_an_iteration_log(tmp_path):
    dis = ScriptedClassifier()
    trainer = Trainer(lambda engine, batch: {"x": 1.0}, [1, 2, 3], stop_trigger=(1, "epoch"), out=tmp_path)
    trainer.extend(LogReport(trigger=(1, "iteration")))
    trainer.extend(ClassifierAccuracy(dis, held_out_batches(), key="acc"))
    trainer.run()
    log = trainer.get_extension("LogReport").log
    assert ["acc" in e for e in log] == [False, False, True]


def test_classifier_accuracy_bad_input():
    class OneLogit(nn.Module):  # a discriminator built with num_classes=1
        def forward(self, x):
            return torch.zeros(len(x))

    with pytest.raises(UsageError, match=r"Argument `dis` should return \(N, K\) class logits, but given shape \(4,\)"):
        classifier_accuracy(OneLogit(), held_out_batches())
    with pytest.raises(UsageError, match="Argument `loader` should give at least one labelled image"):
        classifier_accuracy(ScriptedClassifier(), [])
    with pytest.raises(UsageError, match=r"Argument `loader` should give \(images, labels\) batches, but given Tensor"):
        classifier_accuracy(ScriptedClassifier(), [torch.zeros(2, 1, 1, 1)])
    with pytest.raises(UsageError, match="Argument `period` should be a positive number of epochs"):
        ClassifierAccuracy(ScriptedClassifier(), [], trigger=(0, "epoch"))
