"""LogReport: its entries against hand computation, its file, its state across a resume.

Ports pytorch-pfn-extras
``tests/pytorch_pfn_extras_tests/training_tests/extensions_tests/test_log_report.py``
(``test_output`` in its JSON-lines form: after each epoch the file holds one entry more,
whose ``epoch``, ``iteration`` and ``elapsed_time`` are checked) and the LogReport
behaviour Chainer's and pytorch-pfn-extras' PrintReport and PlotReport tests rely on
(``keys``, ``trigger``, ``postprocess``, a filename template, ``log``).

Deliberately different here: the file is always JSON lines (``out/log.jsonl``), whatever
the filename's extension, so ppe's ``format`` / ``append`` options and its JSON and YAML
formats have no counterpart; ppe's deferred values (a reported ``lambda`` evaluated at
logging time) are not values here: a callable, like any non-scalar, is left out; ppe's
``writer`` (TensorBoard) belongs to the TensorBoard extension.
"""

from __future__ import annotations

import json

import pytest
import torch

from gan_ignite.errors import UsageError
from gan_ignite.extensions.extension import PRIORITY_EDITOR, PRIORITY_READER, PRIORITY_WRITER, make_extension
from gan_ignite.extensions.log_report import LogReport
from gan_ignite.reporting import report
from gan_ignite.trainer import Trainer


def loss_is_iteration(engine, batch):
    return {"loss": float(engine.state.iteration)}


def make_trainer(tmp_path, iterations=10, epoch_length=4, update=loss_is_iteration):
    return Trainer(update, [0] * epoch_length, (iterations, "iteration"), tmp_path / "out")


def without_time(entries):
    return [{k: v for k, v in entry.items() if k != "elapsed_time"} for entry in entries]


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_output_grows_by_one_entry_each_epoch(tmp_path):
    """ppe's test_output (json-lines): 3 epochs of 5 iterations, the file read after each."""
    max_epochs, iters_per_epoch = 3, 5
    trainer = Trainer(lambda e, b: {}, [0] * iters_per_epoch, (max_epochs, "epoch"), tmp_path / "out")
    log_report = LogReport(filename="out")
    trainer.extend(log_report)
    read = []

    @make_extension(trigger=(1, "epoch"), priority=PRIORITY_READER)
    def reader(trainer):
        read.append(read_lines(trainer.out / "out"))

    trainer.extend(reader)
    trainer.run()
    assert [len(values) for values in read] == [1, 2, 3]
    for epoch_idx, values in enumerate(read):
        this_epoch = values.pop()
        assert this_epoch["epoch"] == epoch_idx + 1
        assert this_epoch["iteration"] == (epoch_idx + 1) * iters_per_epoch
        assert 0 < this_epoch["elapsed_time"]
    assert read_lines(tmp_path / "out" / "out") == log_report.log


def test_epoch_means_by_hand(tmp_path):
    trainer = make_trainer(tmp_path)
    log_report = LogReport()
    trainer.extend(log_report)
    trainer.run()
    # 10 iterations, 4 an epoch, loss = iteration: means of 1..4 and 5..8; 9 and 10 are pending.
    assert without_time(log_report.log) == [
        {"loss": 2.5, "epoch": 1, "epoch_detail": 1.0, "iteration": 4},
        {"loss": 6.5, "epoch": 2, "epoch_detail": 2.0, "iteration": 8},
    ]
    first, second = (entry["elapsed_time"] for entry in log_report.log)
    assert 0 < first < second <= trainer.elapsed_time
    assert read_lines(tmp_path / "out" / "log.jsonl") == log_report.log


def test_iteration_trigger_entries_count_completed_epochs(tmp_path):
    trainer = make_trainer(tmp_path)
    log_report = LogReport(trigger=(3, "iteration"))
    trainer.extend(log_report)
    trainer.run()
    assert without_time(log_report.log) == [
        {"loss": 2.0, "epoch": 0, "epoch_detail": 0.75, "iteration": 3},
        {"loss": 5.0, "epoch": 1, "epoch_detail": 1.5, "iteration": 6},
        {"loss": 8.0, "epoch": 2, "epoch_detail": 2.25, "iteration": 9},
    ]


def test_fractional_epoch_trigger(tmp_path):
    trainer = make_trainer(tmp_path, iterations=8)
    log_report = LogReport(trigger=(0.5, "epoch"))
    trainer.extend(log_report)
    trainer.run()
    assert [(e["iteration"], e["epoch_detail"], e["loss"]) for e in log_report.log] == [
        (2, 0.5, 1.5), (4, 1.0, 3.5), (6, 1.5, 5.5), (8, 2.0, 7.5)]


def test_keys_select_what_is_logged(tmp_path):
    def update(engine, batch):
        i = engine.state.iteration
        return {"gen/loss": float(i), "dis/loss": 2.0 * i, "other": -1.0}

    trainer = make_trainer(tmp_path, iterations=4, update=update)
    log_report = LogReport(keys=["gen/loss", "dis/loss", "never"])
    trainer.extend(log_report)
    trainer.run()
    assert without_time(log_report.log) == [
        {"gen/loss": 2.5, "dis/loss": 5.0, "epoch": 1, "epoch_detail": 1.0, "iteration": 4}]


def test_postprocess_edits_each_entry_before_it_is_stored(tmp_path):
    seen = []

    def postprocess(entry):
        seen.append(dict(entry))
        entry["loss_x10"] = entry.pop("loss") * 10

    trainer = make_trainer(tmp_path, iterations=8)
    log_report = LogReport(postprocess=postprocess)
    trainer.extend(log_report)
    trainer.run()
    assert [e["loss"] for e in seen] == [2.5, 6.5]
    assert [(e["loss_x10"], "loss" in e) for e in log_report.log] == [(25.0, False), (65.0, False)]
    assert [e["loss_x10"] for e in read_lines(tmp_path / "out" / "log.jsonl")] == [25.0, 65.0]


def test_values_tensors_weights_missing_keys_and_non_scalars(tmp_path):
    def update(engine, batch):
        i = engine.state.iteration
        observation = {"t": torch.tensor(float(i)), "w": (float(i), i), "name": "x", "vector": torch.ones(3),
                       "deferred": lambda: i, "flag": True}
        if i % 2 == 0:
            observation["even"] = float(i)
        return observation

    trainer = make_trainer(tmp_path, iterations=4, update=update)
    log_report = LogReport()
    trainer.extend(log_report)
    trainer.run()
    (entry,) = log_report.log
    assert without_time([entry]) == [{
        "t": 2.5,  # 0-d tensors: (1 + 2 + 3 + 4) / 4
        "w": 3.0,  # weighted: (1*1 + 2*2 + 3*3 + 4*4) / (1 + 2 + 3 + 4)
        "even": 3.0,  # only where observed: (2 + 4) / 2
        "epoch": 1, "epoch_detail": 1.0, "iteration": 4,
    }]
    assert type(entry["t"]) is float


def test_what_writers_report_is_logged_and_what_readers_report_is_not(tmp_path):
    @make_extension(priority=PRIORITY_WRITER)
    def writer(trainer):
        report({"written": float(trainer.iteration)})

    @make_extension(priority=PRIORITY_READER)
    def late(trainer):
        report({"late": 1.0})

    def update(engine, batch):
        report({"reported": 1.0})  # a report during the update joins the returned dict
        return {"returned": 2.0}

    trainer = make_trainer(tmp_path, iterations=4, update=update)
    trainer.extend(writer)
    trainer.extend(late)
    log_report = LogReport()
    trainer.extend(log_report)
    trainer.run()
    assert log_report.priority == PRIORITY_EDITOR
    assert without_time(log_report.log) == [
        {"reported": 1.0, "returned": 2.0, "written": 2.5, "epoch": 1, "epoch_detail": 1.0, "iteration": 4}]


def test_log_name_is_chainers_filename(tmp_path):
    trainer = make_trainer(tmp_path, iterations=4)
    trainer.extend(LogReport(log_name="chainer_log"))
    trainer.run()
    assert [e["iteration"] for e in read_lines(tmp_path / "out" / "chainer_log")] == [4]
    with pytest.raises(UsageError, match=r"^Arguments `filename` and `log_name` of LogReport are the same"):
        LogReport(filename="a", log_name="b")


def test_a_json_filename_still_holds_json_lines(tmp_path):
    trainer = make_trainer(tmp_path, iterations=8)
    trainer.extend(LogReport(filename="out.json"))
    trainer.run()
    lines = (tmp_path / "out" / "out.json").read_text().splitlines()
    assert [json.loads(line)["iteration"] for line in lines] == [4, 8]


def test_a_filename_template_writes_the_whole_log_to_each_name(tmp_path):
    trainer = make_trainer(tmp_path, iterations=8)
    trainer.extend(LogReport(filename="log_{iteration}.jsonl"))
    trainer.run()
    assert [e["iteration"] for e in read_lines(tmp_path / "out" / "log_4.jsonl")] == [4]
    assert [e["iteration"] for e in read_lines(tmp_path / "out" / "log_8.jsonl")] == [4, 8]
    assert not (tmp_path / "out" / "log.jsonl").exists()


def test_a_template_naming_a_missing_key_is_refused(tmp_path):
    trainer = make_trainer(tmp_path, iterations=4)
    trainer.extend(LogReport(filename="log_{step}.jsonl"))
    with pytest.raises(UsageError, match=r"^LogReport's filename 'log_\{step\}.jsonl' names 'step', which the entry"):
        trainer.run()


def test_registration_defaults(tmp_path):
    trainer = make_trainer(tmp_path)
    first, second = LogReport(), LogReport()
    trainer.extend(first)
    trainer.extend(second)
    assert (first.name, second.name) == ("LogReport", "LogReport_1")
    assert (LogReport.trigger, LogReport.priority) == ((1, "iteration"), PRIORITY_EDITOR)
    assert first.filename == "log.jsonl"


def test_resume_continues_the_open_interval_and_rewrites_the_file(tmp_path):
    uninterrupted = make_trainer(tmp_path / "whole", iterations=12)
    whole = LogReport(trigger=(4, "iteration"))
    uninterrupted.extend(whole)
    uninterrupted.run()

    first = make_trainer(tmp_path, iterations=6)
    first.extend(LogReport(trigger=(4, "iteration")))
    first.run()
    torch.save(first.state_dict(), tmp_path / "state.pt")
    log_file = tmp_path / "out" / "log.jsonl"
    with open(log_file, "a") as f:  # what a killed run wrote after its last checkpoint
        f.write(json.dumps({"iteration": 7, "loss": 99.0}) + "\n")

    resumed = make_trainer(tmp_path, iterations=12)
    log_report = LogReport(trigger=(4, "iteration"))
    resumed.extend(log_report)
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    resumed.run()
    assert without_time(log_report.log) == without_time(whole.log) == [
        {"loss": 2.5, "epoch": 1, "epoch_detail": 1.0, "iteration": 4},
        {"loss": 6.5, "epoch": 2, "epoch_detail": 2.0, "iteration": 8},  # 5 and 6 before the resume
        {"loss": 10.5, "epoch": 3, "epoch_detail": 3.0, "iteration": 12},
    ]
    assert read_lines(log_file) == log_report.log


def test_state_round_trip_without_a_trainer():
    log_report = LogReport(trigger=(2, "iteration"))
    log_report.log.append({"iteration": 2, "loss": 1.5})
    restored = LogReport(trigger=(2, "iteration"))
    restored.load_state_dict(log_report.state_dict())
    assert restored.log == [{"iteration": 2, "loss": 1.5}]
