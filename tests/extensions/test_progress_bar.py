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
    assert {k: v for k, v in bar.shown.items() if k != "left"} == {"dis/loss": 4.0, "gen/lr": 0.5}
    assert reads == [2, 4]
    assert "dis/loss=4" in out.getvalue()


def test_the_bar_shows_the_chosen_keys_in_order_and_the_runs_time_left(tmp_path, monkeypatch):
    import gan_ignite.extensions.progress_bar as module

    clock = [100.0]
    monkeypatch.setattr(module.time, "perf_counter", lambda: clock[0])

    def update(engine, batch):
        clock[0] += 1.5  # every iteration takes 1.5 s
        return {"dis/loss": torch.tensor(1.0), "gen/loss": torch.tensor(2.0), "gen/lr": 0.5}

    out = io.StringIO()
    bar = ProgressBar(keys=["gen/loss", "dis/loss", "dis/fake"], file=out)
    trainer = Trainer(update, list(range(10)), stop_trigger=(3, "epoch"), out=tmp_path)
    trainer.extend(bar, trigger=(4, "iteration"))
    seen = []
    trainer.extend(lambda t: seen.append(dict(bar.shown)), trigger=(4, "iteration"), name="spy", priority=-1)
    trainer.run()
    # At iteration 4: 6 s for 4 iterations, 26 of the 30 left: 39 s; at 28: 2 left, 3 s.
    assert seen[0] == {"gen/loss": 2.0, "dis/loss": 1.0, "left": "39s"}
    assert list(seen[0]) == ["gen/loss", "dis/loss", "left"]
    assert [entry["left"] for entry in seen] == ["39s", "33s", "27s", "21s", "15s", "9s", "3s"]
    assert "left=3s" in out.getvalue()
