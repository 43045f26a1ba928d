import io
import json

import pytest
import torch
from PIL import Image
from torch import nn

from gan_ignite import extensions as E
from gan_ignite.trainer import Trainer


def update(engine, batch):
    # Observations a test can average by hand: "x" every iteration, "odd" on odd iterations.
    it = engine.state.iteration
    return {"x": float(batch), **({"odd": float(it)} if it % 2 else {})}


def make_trainer(tmp_path, data=(1, 2, 3, 4), n_epochs=2):
    return Trainer(update, list(data), stop_trigger=(n_epochs, "epoch"), out=tmp_path)


def test_log_report_writes_interval_means_of_every_key(tmp_path):
    trainer = make_trainer(tmp_path)
    trainer.extend(E.LogReport(trigger=(1, "epoch")))
    trainer.run()
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [(e["epoch"], e["iteration"]) for e in lines] == [(1, 4), (2, 8)]
    assert lines[0]["x"] == pytest.approx(2.5) and lines[1]["x"] == pytest.approx(2.5)
    # "odd" observed at iterations 1, 3 then 5, 7: the mean is over those only.
    assert lines[0]["odd"] == pytest.approx(2.0) and lines[1]["odd"] == pytest.approx(6.0)
    assert 0 < lines[0]["elapsed_time"] <= lines[1]["elapsed_time"]
    assert lines == trainer.get_extension("LogReport").log


def test_log_report_keys_filter_and_iteration_trigger(tmp_path):
    trainer = make_trainer(tmp_path, n_epochs=1)
    trainer.extend(E.LogReport(keys=["x"], trigger=(3, "iteration")))
    trainer.run()
    log = trainer.get_extension("LogReport").log
    assert [e["iteration"] for e in log] == [3]
    assert "odd" not in log[0] and log[0]["x"] == pytest.approx(2.0)


def test_print_report_prints_a_row_per_log_entry(tmp_path):
    stream = io.StringIO()
    trainer = make_trainer(tmp_path)
    trainer.extend(E.LogReport(trigger=(1, "epoch")))
    trainer.extend(E.PrintReport(["epoch", "x", "missing"], out=stream))
    trainer.run()
    rows = stream.getvalue().splitlines()
    assert rows[0].split() == ["epoch", "x", "missing"]
    assert [r.split() for r in rows[1:]] == [["1", "2.5"], ["2", "2.5"]]


class TinyGen(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.Tanh())
        self.modes = []

    def forward(self, z):
        self.modes.append(self.training)
        return self.net(z).view(-1, 1, 4, 4)


def test_sample_grid_saves_the_same_noise_each_epoch_without_disturbing_training(tmp_path):
    gen = TinyGen()
    trainer = make_trainer(tmp_path, n_epochs=2)
    grid = E.SampleGrid(gen, z_dim=4, n=9, seed=3)
    noise = grid.noise.clone()
    trainer.extend(grid)
    rng_before = torch.get_rng_state()
    trainer.run()
    assert torch.equal(torch.get_rng_state(), rng_before)  # sampling draws nothing from the global RNG
    assert torch.equal(grid.noise, noise)
    assert gen.training and gen.modes == [False, False]
    for epoch in (1, 2):
        with Image.open(tmp_path / "images" / f"epoch_{epoch:04d}.png") as image:
            # 3x3 grid of 4x4 images with 2-pixel padding.
            assert image.size == (3 * 4 + 4 * 2, 3 * 4 + 4 * 2)
    # Same noise, unchanged generator in eval mode: identical files.
    a = (tmp_path / "images" / "epoch_0001.png").read_bytes()
    assert a == (tmp_path / "images" / "epoch_0002.png").read_bytes()
    assert torch.equal(E.SampleGrid(TinyGen(), z_dim=4, n=9, seed=3).noise, noise)


def read_events(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_tensorboard_scalars_under_their_own_names_and_images(tmp_path):
    gen = TinyGen()
    trainer = make_trainer(tmp_path, n_epochs=2)
    trainer.extend(E.SampleGrid(gen, z_dim=4, n=4))
    trainer.extend(E.TensorBoardReport(trigger=(2, "iteration")))
    trainer.run()
    acc = read_events(tmp_path / "tb")
    assert set(acc.Tags()["scalars"]) == {"x", "odd"}
    xs = [(e.step, e.value) for e in acc.Scalars("x")]
    assert xs == [(2, 1.5), (4, 3.5), (6, 1.5), (8, 3.5)]
    assert [(e.step, e.value) for e in acc.Scalars("odd")] == [(2, 1.0), (4, 3.0), (6, 5.0), (8, 7.0)]
    assert [e.step for e in acc.Images("samples")] == [4, 8]


def test_snapshot_keeps_the_last_n_and_restores_state(tmp_path):
    model = nn.Linear(2, 2)

    class Step:
        to_save = {"model": model}

        def __call__(self, engine, batch):
            with torch.no_grad():
                model.weight.add_(1.0)
            return {"x": float(batch)}

    trainer = Trainer(Step(), [1, 2], stop_trigger=(4, "epoch"), out=tmp_path)
    trainer.extend(E.LogReport(trigger=(1, "epoch")))
    trainer.extend(E.snapshot(n_saved=2))
    trainer.run()
    files = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert files == ["checkpoint_6.pt", "checkpoint_6.pt.sha256", "checkpoint_8.pt", "checkpoint_8.pt.sha256"]
    assert E.latest_checkpoint(tmp_path).name == "checkpoint_8.pt"
    final_weight = model.weight.detach().clone()

    with torch.no_grad():
        model.weight.zero_()
    again = Trainer(Step(), [1, 2], stop_trigger=(6, "epoch"), out=tmp_path)
    again.extend(E.LogReport(trigger=(1, "epoch")))
    again.extend(E.snapshot(n_saved=2))
    E.load_snapshot(again, tmp_path / "checkpoints" / "checkpoint_6.pt")
    assert again.engine.state.iteration == 6 and again.engine.state.epoch == 3
    torch.testing.assert_close(model.weight.detach(), final_weight - 2)
    assert len(again.get_extension("LogReport").log) == 3
