"""MicroAverage: interval ratios of sums, the missing-key rule, resume, in a real trainer."""

from __future__ import annotations

import math

import pytest
import torch

from gan_ignite.errors import UsageError
from gan_ignite.extensions.micro_average import MicroAverage
from gan_ignite.reporting import report
from gan_ignite.trainer import Trainer
from tests.fakes import FakeTrainer, round_trip


def test_ratio_of_sums_every_trigger():
    trainer = FakeTrainer()
    ext = MicroAverage("main/correct", "main/total", "main/accuracy", (3, "iteration"))
    data = [(1, 4), (3, 4), (0, 2), (5, 10), (5, 5), (6, 9)]
    results = [trainer.step(ext, {"main/correct": c, "main/total": t}).get("main/accuracy") for c, t in data]
    # (1 + 3 + 0) / (4 + 4 + 2) and (5 + 5 + 6) / (10 + 5 + 9); the mean of ratios would be 0.5 and 0.72.
    assert results == [None, None, 0.4, None, None, pytest.approx(16 / 24)]


def test_an_iteration_without_the_keys_adds_nothing_and_the_trigger_fires_at_the_next_one():
    trainer = FakeTrainer()
    ext = MicroAverage("c", "t", "acc", (2, "iteration"))
    assert "acc" not in trainer.step(ext, {"c": 1, "t": 2})
    assert "acc" not in trainer.step(ext, {"other": 1.0})  # iteration 2: the trigger is not asked
    assert trainer.step(ext, {"c": 2, "t": 2})["acc"] == 0.75  # fires at 3, the first call past 2
    assert trainer.step(ext, {"c": 0, "t": 1})["acc"] == 0.0  # 4: a new interval, of one iteration
    assert "acc" not in trainer.step(ext, {"c": 1, "t": 1})
    assert trainer.step(ext, {"c": 1, "t": 3}) == {"c": 1, "t": 3, "acc": 0.5}  # (1 + 1) / (1 + 3)


def test_tensor_values_and_an_empty_interval():
    trainer = FakeTrainer()
    ext = MicroAverage("c", "t", "acc", (1, "iteration"))
    assert trainer.step(ext, {"c": torch.tensor(3), "t": torch.tensor(4)})["acc"] == 0.75
    assert math.isnan(trainer.step(ext, {"c": 0, "t": 0})["acc"])


def test_resume_mid_interval():
    trainer = FakeTrainer(iter_per_epoch=4)
    ext = MicroAverage("c", "t", "acc")  # every epoch: 4 iterations
    trainer.step(ext, {"c": 1, "t": 2}), trainer.step(ext, {"c": 2, "t": 2})
    state = round_trip(ext.state_dict())
    assert state["_numerator"] == 3.0 and state["_denominator"] == 4.0

    new_ext = MicroAverage("c", "t", "acc")
    new_ext.load_state_dict(state)
    assert "acc" not in trainer.step(new_ext, {"c": 0, "t": 2})
    assert trainer.step(new_ext, {"c": 1, "t": 2})["acc"] == 0.5  # (1 + 2 + 0 + 1) / 8


def test_loads_a_ppe_state():
    ext = MicroAverage("c", "t", "acc", (1, "iteration"))
    ext.load_state_dict({"_numerator": 1.0, "_denominator": 4.0})
    assert FakeTrainer().step(ext, {"c": 1, "t": 4})["acc"] == 0.25


def test_bad_arguments():
    with pytest.raises(UsageError, match=r"Argument `result_key` should be a non-empty string, but given None"):
        MicroAverage("c", "t", None)
    with pytest.raises(UsageError, match=r"Argument `unit` should be one of epoch, iteration, but given 'epochs'"):
        MicroAverage("c", "t", "acc", (1, "epochs"))


def test_ppe_run_in_a_trainer(tmp_path):
    """ppe's test: 4 intervals of 3 iterations of random counts; the ratio at each interval's end only."""
    generator = torch.Generator().manual_seed(0)
    total = torch.randint(7, 32, (12,), generator=generator)
    correct = torch.randint(0, 10000, (12,), generator=generator) % total
    seen = []

    def update(engine, batch):
        i = engine.state.iteration - 1
        report({"main/correct": correct[i], "main/total": total[i]})  # reported, not returned
        return {}

    trainer = Trainer(update, list(range(5)), stop_trigger=(12, "iteration"), out=tmp_path)
    trainer.extend(MicroAverage("main/correct", "main/total", "main/accuracy", (3, "iteration")))
    trainer.extend(lambda t: seen.append(t.observation.get("main/accuracy")), name="spy", priority=0)
    trainer.run()
    expect = []
    for j in range(0, 12, 3):
        expect += [None, None, pytest.approx(correct[j:j + 3].sum().item() / total[j:j + 3].sum().item())]
    assert seen == expect
