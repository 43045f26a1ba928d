"""ProgressBar: Ignite's bar, its numbers read from the observation only at the extension's trigger."""

import io

import torch

from gan_ignite.extensions import ProgressBar
from gan_ignite.trainer import Trainer


def test_the_bar_shows_the_numbers_of_its_last_trigger_and_reads_tensors_only_then(tmp_path, monkeypatch):
    reads = []

    def update(engine, batch):
        return {"dis/loss": torch.tensor(float(engine.state.iteration)), "gen/lr": 0.5, "flag": True}

    out = io.StringIO()
    bar = ProgressBar(file=out)
    trainer = Trainer(update, list(range(5)), stop_trigger=(1, "epoch"), out=tmp_path)
    trainer.extend(bar, trigger=(2, "iteration"))
    original = torch.Tensor.tolist

    def tolist(self):
        reads.append(trainer.iteration)
        return original(self)

    monkeypatch.setattr(torch.Tensor, "tolist", tolist)
    trainer.run()
    # Iteration 5 is not a trigger: the bar still shows iteration 4's values.
    assert bar.shown == {"dis/loss": 4.0, "gen/lr": 0.5}
    assert reads == [2, 4]
    assert "dis/loss=4" in out.getvalue()
