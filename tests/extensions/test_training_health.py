"""TrainingHealth: the warnings of tensor observations equal those of numbers, read only at the interval."""

import io
import json

import torch
from torch import nn

from gan_ignite import extensions as E
from gan_ignite.trainer import Trainer
from tests.extensions.test_finite_guard import Counted, scripted

HEALTHY = {"dis/real": 0.8, "dis/fake": 0.3}
WINNING = {"dis/real": 0.995, "dis/fake": 0.004}
INTERVALS = [WINNING] * 4 + [HEALTHY] + [WINNING] * 3 + [HEALTHY] + [WINNING] * 2


def as_tensors(values, dtype=torch.float32):
    return [{key: torch.tensor(v, dtype=dtype) for key, v in entry.items()} for entry in values]


def run_health(tmp_path, values, stop=None, state=None, **options):
    out = io.StringIO()
    trainer = Trainer(scripted(values), list(range(len(values))), stop_trigger=(stop or len(values), "iteration"),
                      out=tmp_path)
    health = E.TrainingHealth(interval=(2, "iteration"), patience=3, dis_wins=True, out=out, **options)
    trainer.extend(health)
    trainer.extend(E.LogReport(trigger=(1, "iteration")))
    if state is not None:
        trainer.load_state_dict(state)
    trainer.run()
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    return trainer, out.getvalue().splitlines(), [e["iteration"] for e in log if "warning/dis_wins" in e]


def test_warnings_of_tensor_observations_equal_those_of_numbers(tmp_path):
    values = [v for interval in INTERVALS for v in (interval, interval)]
    _, lines, warned = run_health(tmp_path / "numbers", values)
    assert len(lines) == 2 and warned == [6, 16]
    for dtype in (torch.float32, torch.float64):
        assert run_health(tmp_path / str(dtype), as_tensors(values, dtype))[1:] == (lines, warned)


def test_a_resumed_run_with_device_sums_mid_interval_warns_as_an_uninterrupted_one(tmp_path):
    values = as_tensors([v for interval in INTERVALS for v in (interval, interval)])
    first, lines, _ = run_health(tmp_path / "a", values, stop=5)
    assert lines == [] and first.state_dict()["extensions"]["TrainingHealth"]["sums"][2] == 1
    _, resumed, _ = run_health(tmp_path / "b", values, state=first.state_dict())
    _, straight, _ = run_health(tmp_path / "c", values)
    assert resumed == straight and len(straight) == 2


def test_dis_real_and_fake_are_not_read_off_the_interval(tmp_path):
    values = as_tensors([WINNING] * 6)
    health = Counted(E.TrainingHealth(interval=(3, "iteration"), dis_wins=True, out=io.StringIO()))
    trainer = Trainer(scripted(values), list(range(10)), stop_trigger=(6, "iteration"), out=tmp_path)
    trainer.extend(health)
    trainer.run()
    assert health.reads == [0, 0, 2, 0, 0, 2]  # the two means, at the interval's end
    meta = [{"dis/real": torch.tensor(1.0, device="meta"), "dis/fake": torch.tensor(0.0, device="meta")}] * 2
    trainer = Trainer(scripted(meta), list(range(10)), stop_trigger=(2, "iteration"), out=tmp_path / "meta")
    trainer.extend(E.TrainingHealth(interval=(3, "iteration"), dis_wins=True))
    trainer.run()  # a meta tensor cannot be read: none was


class Spread(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 12, bias=False)

    def forward(self, z):
        return self.linear(z).view(-1, 3, 2, 2)


def test_a_run_resumed_without_its_state_keeps_the_intervals_of_an_uninterrupted_one(tmp_path):
    # A checkpoint of the former DivergenceCheck holds no state named TrainingHealth.
    real = [(torch.randn(5, 3, 2, 2), torch.zeros(5)) for _ in range(8)]

    def run(out, stop, state=None):
        trainer = Trainer(lambda engine, batch: {"dis/loss": 1.0}, real, stop_trigger=(stop, "iteration"), out=out)
        trainer.extend(E.TrainingHealth(Spread(), 4, interval=(2, "iteration"), observe_diversity=True))
        trainer.extend(E.LogReport(trigger=(1, "iteration")))
        if state is not None:
            del state["extensions"]["TrainingHealth"]
            trainer.load_state_dict(state)
        trainer.run()
        return trainer, [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]

    first, _ = run(tmp_path / "a", 4)
    _, log = run(tmp_path / "b", 8, first.state_dict())
    # A trigger without its state would take its previous call to be iteration 0 and fire at 5 as well.
    assert [e["iteration"] for e in log if "gen/diversity" in e and e["iteration"] > 4] == [6, 8]
