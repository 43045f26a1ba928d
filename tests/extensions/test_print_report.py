"""PrintReport: the printed table, character for character, and the streams it accepts.

Ports Chainer
``tests/chainer_tests/training_tests/extensions_tests/test_print_report.py`` (a stream
with ``flush`` is flushed, a stream without ``flush`` and a real file raise nothing;
a LogReport instance as ``log_report``) and pytorch-pfn-extras
``tests/pytorch_pfn_extras_tests/training_tests/extensions_tests/test_print_report.py``
(``test_run_print_report``: entries inferred from the log, a header naming them), with
the rest of ppe's PrintReport behaviour: a LogReport instance that is not registered is
fed by the PrintReport, and a new key in the log prints a new header.

Deliberately different: with inferred entries ppe drops ``iteration`` when the
LogReport's trigger counts epochs (its header reads ``epoch       elapsed_time``); here
``epoch`` and ``iteration`` always come first (``epoch       iteration   elapsed_time``).
ppe erases the console line (``\\033[J``) before each row; here rows are plain lines, so
a log file or a pipe gets no control characters.
"""

from __future__ import annotations

import io
import re
import tempfile
from unittest import mock

import pytest
import torch

from gan_ignite.errors import UsageError
from gan_ignite.extensions.extension import PRIORITY_READER
from gan_ignite.extensions.log_report import LogReport
from gan_ignite.extensions.print_report import PrintReport
from gan_ignite.trainer import Trainer


def loss_is_iteration(engine, batch):
    return {"loss": float(engine.state.iteration)}


def make_trainer(tmp_path, iterations=8, epoch_length=4, update=loss_is_iteration, stop=None):
    return Trainer(update, [0] * epoch_length, stop or (iterations, "iteration"), tmp_path / "out")


# -- Chainer's stream tests -------------------------------------------------------------
def chainer_setup(tmp_path, stream):
    """Chainer's _setup: a LogReport and a PrintReport(['epoch']) of it, registered, one entry."""
    log_report = LogReport(["epoch"], trigger=(1, "iteration"))
    print_report = PrintReport(["epoch"], log_report=log_report, out=stream)
    trainer = make_trainer(tmp_path, iterations=1)
    trainer.extend(log_report)
    trainer.extend(print_report)
    log_report.log.append({"epoch": 0})
    return trainer, print_report


def test_stream_with_flush_is_flushed(tmp_path):
    stream = mock.MagicMock()
    trainer, print_report = chainer_setup(tmp_path, stream)
    stream.flush.assert_not_called()
    print_report(trainer)
    stream.flush.assert_called_with()
    assert stream.write.call_args_list == [mock.call("0\n")]


def test_stream_without_flush_raises_no_exception(tmp_path):
    stream = mock.MagicMock()
    del stream.flush
    trainer, print_report = chainer_setup(tmp_path, stream)
    assert not hasattr(stream, "flush")
    print_report(trainer)
    assert stream.write.call_args_list == [mock.call("0\n")]


def test_real_stream_raises_no_exception(tmp_path):
    with tempfile.TemporaryFile(mode="w+") as stream:
        trainer, print_report = chainer_setup(tmp_path, stream)
        print_report(trainer)
        stream.seek(0)
        assert stream.read() == "0\n"


def test_a_stream_with_only_write_through_a_whole_run(tmp_path):
    class WriteOnly:
        def __init__(self):
            self.text = ""

        def write(self, s):
            self.text += s

    stream = WriteOnly()
    trainer = make_trainer(tmp_path)
    trainer.extend(LogReport())
    trainer.extend(PrintReport(["epoch", "loss"], out=stream))
    trainer.run()
    assert stream.text == "epoch       loss\n1           2.5\n2           6.5\n"


# -- the table --------------------------------------------------------------------------
def test_fixed_entries_print_a_header_then_one_row_per_entry(tmp_path):
    out = io.StringIO()
    trainer = make_trainer(tmp_path)
    trainer.extend(LogReport())
    trainer.extend(PrintReport(["epoch", "iteration", "loss"], out=out))
    trainer.run()
    # Columns at least 10 wide, two spaces apart; trailing blanks stripped.
    assert out.getvalue() == (
        "epoch       iteration   loss\n"
        "1           4           2.5\n"
        "2           8           6.5\n"
    )


def test_widths_floats_and_missing_values(tmp_path):
    def update(engine, batch):
        i = engine.state.iteration
        observation = {"dis/accuracy_of_real": i / 3}
        if i > 4:
            observation["gen/loss"] = 1e-7 * i
        return observation

    out = io.StringIO()
    trainer = make_trainer(tmp_path, update=update)
    trainer.extend(LogReport())
    trainer.extend(PrintReport(["iteration", "dis/accuracy_of_real", "gen/loss"], out=out))
    trainer.run()
    # 6 significant digits; a key missing from an entry is a blank cell.
    assert out.getvalue() == (
        "iteration   dis/accuracy_of_real  gen/loss\n"
        "4           0.833333\n"
        "8           2.16667               6.5e-07\n"
    )


def test_inferred_entries_ppe_run_print_report(tmp_path):
    """ppe's test_run_print_report: 5 epochs of 5 iterations, nothing observed."""
    out = io.StringIO()
    trainer = Trainer(lambda e, b: {}, [0] * 5, (5, "epoch"), tmp_path / "out")
    trainer.extend(LogReport())
    trainer.extend(PrintReport(out=out))
    texts = []

    trainer.extend(lambda t: texts.append(out.getvalue()), name="reader", trigger=(1, "epoch"), priority=0)
    trainer.run()
    assert all("epoch       iteration   elapsed_time" in text for text in texts)
    lines = out.getvalue().splitlines()
    assert lines[0] == "epoch       iteration   elapsed_time"
    assert len(lines) == 6  # one header, five rows
    for epoch, line in enumerate(lines[1:], start=1):
        assert re.fullmatch(rf"{epoch:<10}  {5 * epoch:<10}  \d\.\d+(e-\d+)?", line), line


def test_inferred_entries_print_a_new_header_for_a_new_key(tmp_path):
    def update(engine, batch):
        i = engine.state.iteration
        observation = {"gen/loss": float(i)}
        if i > 4:
            observation["dis/loss"] = 0.5
        return observation

    out = io.StringIO()
    trainer = make_trainer(tmp_path, iterations=12, update=update)
    trainer.extend(LogReport(postprocess=lambda entry: entry.pop("elapsed_time")))
    trainer.extend(PrintReport(out=out))
    trainer.run()
    assert out.getvalue() == (
        "epoch       iteration   gen/loss\n"
        "1           4           2.5\n"
        "epoch       iteration   gen/loss    dis/loss\n"
        "2           8           6.5         0.5\n"
        "3           12          10.5        0.5\n"
    )


def test_a_registered_log_report_by_name(tmp_path):
    out = io.StringIO()
    trainer = make_trainer(tmp_path)
    trainer.extend(LogReport(trigger=(8, "iteration")), name="every8")
    trainer.extend(LogReport())  # the default name, not read
    trainer.extend(PrintReport(["iteration", "loss"], log_report="every8", out=out))
    trainer.run()
    assert out.getvalue() == "iteration   loss\n8           4.5\n"


def test_a_log_report_instance_not_registered_is_fed_by_the_print_report(tmp_path):
    """ppe: a LogReport instance given to PrintReport is updated by it."""
    out = io.StringIO()
    log_report = LogReport(trigger=(2, "iteration"))
    trainer = make_trainer(tmp_path, iterations=4)
    trainer.extend(PrintReport(["iteration", "loss"], log_report=log_report, out=out))
    trainer.run()
    assert out.getvalue() == "iteration   loss\n2           1.5\n4           3.5\n"
    assert log_report.name is None
    assert [e["loss"] for e in log_report.log] == [1.5, 3.5]
    assert (tmp_path / "out" / "log.jsonl").read_text().count("\n") == 2  # it still writes its file


def test_a_registered_instance_is_not_fed_twice(tmp_path):
    out = io.StringIO()
    log_report = LogReport(trigger=(2, "iteration"))
    trainer = make_trainer(tmp_path, iterations=4)
    trainer.extend(log_report)
    trainer.extend(PrintReport(["iteration", "loss"], log_report=log_report, out=out))
    trainer.run()
    assert [e["loss"] for e in log_report.log] == [1.5, 3.5]  # each iteration counted once
    assert out.getvalue() == "iteration   loss\n2           1.5\n4           3.5\n"


def test_a_resumed_run_prints_only_its_own_rows_under_a_new_header(tmp_path):
    first = make_trainer(tmp_path, iterations=4)
    first.extend(LogReport())
    first.extend(PrintReport(["epoch", "loss"], out=io.StringIO()))
    first.run()
    out = io.StringIO()
    resumed = make_trainer(tmp_path, iterations=12)
    resumed.extend(LogReport())
    resumed.extend(PrintReport(["epoch", "loss"], out=out))
    resumed.load_state_dict(first.state_dict())
    resumed.run()
    assert out.getvalue() == "epoch       loss\n2           6.5\n3           10.5\n"


def test_the_state_of_a_fed_log_report_goes_with_the_print_report(tmp_path):
    log_report = LogReport(trigger=(2, "iteration"))
    first = make_trainer(tmp_path, iterations=3)
    first.extend(PrintReport(["iteration", "loss"], log_report=log_report, out=io.StringIO()))
    first.run()
    state = first.state_dict()
    torch.save(state, tmp_path / "state.pt")
    assert set(state["extensions"]["PrintReport"]) == {"log_report"}

    out = io.StringIO()
    new_log_report = LogReport(trigger=(2, "iteration"))
    resumed = make_trainer(tmp_path, iterations=4)
    resumed.extend(PrintReport(["iteration", "loss"], log_report=new_log_report, out=out))
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    resumed.run()
    assert [(e["iteration"], e["loss"]) for e in new_log_report.log] == [(2, 1.5), (4, 3.5)]  # 3 came before
    assert out.getvalue() == "iteration   loss\n4           3.5\n"


def test_log_report_must_name_a_log_report(tmp_path):
    trainer = make_trainer(tmp_path)
    trainer.extend(lambda t: None, name="not_a_log")
    trainer.extend(PrintReport(log_report="not_a_log", out=io.StringIO()))
    with pytest.raises(UsageError, match=r"^Argument `log_report` should name a LogReport, but 'not_a_log' is a "
                                         r"function$"):
        trainer.run()


def test_a_missing_log_report_fails_before_training(tmp_path):
    calls = []
    trainer = make_trainer(tmp_path)
    trainer.extend(lambda t: calls.append(t.iteration))
    trainer.extend(PrintReport(out=io.StringIO()))
    with pytest.raises(ValueError, match=r"^No extension named 'LogReport'"):
        trainer.run()
    assert calls == []


def test_registration_defaults():
    assert (PrintReport.trigger, PrintReport.priority) == ((1, "iteration"), PRIORITY_READER)
    assert PrintReport().log_report == "LogReport"
