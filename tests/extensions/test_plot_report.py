"""PlotReport: the points it keeps, the lines it draws, the file it writes.

Ports Chainer
``tests/chainer_tests/training_tests/extensions_tests/test_plot_report.py`` and
pytorch-pfn-extras
``tests/pytorch_pfn_extras_tests/training_tests/extensions_tests/test_plot_report.py``:
``test_lazy_import`` (using PlotReport leaves ``matplotlib.use`` free: no pyplot is
imported, so switching backends afterwards warns nothing), ``test_available`` (what a
missing matplotlib does), and the behaviour both references' PlotReport has, checked
against hand computation: its own interval means when no LogReport is given, the
LogReport's entries when one is, one line per ``y_key`` over ``x_key``, the PNG under
``out/plots``.

Deliberately different: there is no ``PlotReport.available()``; a PlotReport without
matplotlib fails at ``initialize``, before the first iteration, with a ``UsageError``
naming the install (the references' ``available()`` warns and plotting is skipped). Not ported: the
references' ``postprocess``, ``marker`` and ``grid`` arguments, which PlotReport lacks.
"""

from __future__ import annotations

import json
import sys

import pytest
import torch

from gan_ignite.errors import UsageError
from gan_ignite.extensions.extension import PRIORITY_READER
from gan_ignite.extensions.log_report import LogReport
from gan_ignite.extensions.plot import PlotReport
from gan_ignite.trainer import Trainer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def update(engine, batch):
    i = engine.state.iteration
    return {"gen/loss": float(i), "dis/loss": 2.0 * i}


def make_trainer(tmp_path, iterations=12, epoch_length=4):
    return Trainer(update, [0] * epoch_length, (iterations, "iteration"), tmp_path / "out")


def lines_of(figure):
    (axes,) = figure.axes
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in axes.lines}


def test_lazy_import_no_pyplot_is_imported(tmp_path, monkeypatch):
    """Chainer's and ppe's test_lazy_import: ``matplotlib.use`` must stay free to call.

    They switch backends after importing the extension and expect no warning, which
    holds when pyplot was never imported. Here pyplot is made unimportable and a whole
    plot is drawn: it fails if PlotReport imports pyplot at all.
    """
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # importing it raises ImportError
    trainer = Trainer(lambda e, b: {"loss": 1.0}, [0] * 2, (2, "iteration"), tmp_path / "out")
    trainer.extend(PlotReport(["loss"], trigger=(1, "epoch")))
    trainer.run()
    assert (tmp_path / "out" / "plots" / "loss.png").read_bytes().startswith(PNG_MAGIC)


def test_without_matplotlib_it_fails_at_initialize_with_the_install(tmp_path, monkeypatch):
    """What ``available()`` tells in the references: here construction works, ``initialize`` says why not."""
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    calls = []
    trainer = Trainer(lambda e, b: {"loss": 1.0}, [0] * 2, (2, "iteration"), tmp_path / "out")
    trainer.extend(lambda t: calls.append(t.iteration))
    trainer.extend(PlotReport(["loss"]))
    with pytest.raises(UsageError, match=r"^PlotReport draws with matplotlib, which is not installed; "
                                         r"pip install matplotlib$"):
        trainer.run()
    assert calls == []


def test_own_means_each_epoch_drawn_over_iterations(tmp_path):
    trainer = make_trainer(tmp_path)
    plot = PlotReport(["gen/loss", "dis/loss"], trigger=(1, "epoch"))
    trainer.extend(plot)
    trainer.run()
    points = json.loads(plot.state_dict()["points"])
    # Means of 1..4, 5..8, 9..12 (and twice that for dis/loss).
    assert points == [
        {"gen/loss": 2.5, "dis/loss": 5.0, "epoch": 1, "iteration": 4},
        {"gen/loss": 6.5, "dis/loss": 13.0, "epoch": 2, "iteration": 8},
        {"gen/loss": 10.5, "dis/loss": 21.0, "epoch": 3, "iteration": 12},
    ]
    assert lines_of(plot.draw(points)) == {"gen/loss": ([4, 8, 12], [2.5, 6.5, 10.5]),
                                           "dis/loss": ([4, 8, 12], [5.0, 13.0, 21.0])}
    assert (tmp_path / "out" / "plots" / "loss.png").read_bytes().startswith(PNG_MAGIC)


def test_the_file_is_redrawn_at_each_interval_only(tmp_path):
    sizes = []
    trainer = make_trainer(tmp_path, iterations=8)
    trainer.extend(PlotReport("gen/loss", trigger=(4, "iteration"), filename="gen.png"))
    path = tmp_path / "out" / "plots" / "gen.png"
    trainer.extend(lambda t: sizes.append((t.iteration, path.exists())), name="probe", priority=0)
    trainer.run()
    assert sizes == [(1, False), (2, False), (3, False), (4, True), (5, True), (6, True), (7, True), (8, True)]


def test_x_key_epoch(tmp_path):
    trainer = make_trainer(tmp_path)
    plot = PlotReport("gen/loss", x_key="epoch", trigger=(1, "epoch"))
    trainer.extend(plot)
    trainer.run()
    figure = plot.draw(json.loads(plot.state_dict()["points"]))
    assert lines_of(figure) == {"gen/loss": ([1, 2, 3], [2.5, 6.5, 10.5])}
    assert figure.axes[0].get_xlabel() == "epoch"


def test_draw_skips_points_lacking_a_key_and_keys_found_nowhere():
    plot = PlotReport(["a", "b", "never"])
    log = [{"iteration": 1, "a": 1.0}, {"iteration": 2, "b": 2.0}, {"a": 9.0}, {"iteration": 3, "a": 3.0}]
    figure = plot.draw(log)
    assert lines_of(figure) == {"a": ([1, 3], [1.0, 3.0]), "b": ([2], [2.0])}
    assert figure.axes[0].get_xlabel() == "iteration"
    assert figure.axes[0].get_legend() is not None


def test_draw_with_no_points_has_no_lines_and_no_legend():
    figure = PlotReport(["a"]).draw([])
    assert len(figure.axes[0].lines) == 0
    assert figure.axes[0].get_legend() is None


@pytest.mark.parametrize("by_name", [True, False])
def test_a_log_report_given_is_drawn_and_no_points_are_kept(tmp_path, by_name):
    trainer = make_trainer(tmp_path)
    log_report = LogReport(trigger=(6, "iteration"))
    trainer.extend(log_report)
    plot = PlotReport(["gen/loss"], trigger=(1, "epoch"), log_report="LogReport" if by_name else log_report)
    trainer.extend(plot)
    drawn = []
    original = plot.draw
    plot.draw = lambda log: drawn.append([(e["iteration"], e["gen/loss"]) for e in log]) or original(log)
    trainer.run()
    # Redrawn at each epoch end (4, 8, 12), each time with the LogReport's entries so far.
    assert drawn == [[], [(6, 3.5)], [(6, 3.5), (12, 9.5)]]
    assert json.loads(plot.state_dict()["points"]) == []
    assert (tmp_path / "out" / "plots" / "loss.png").read_bytes().startswith(PNG_MAGIC)


def test_log_report_must_name_a_log_report(tmp_path):
    trainer = make_trainer(tmp_path)
    trainer.extend(lambda t: None, name="not_a_log")
    trainer.extend(PlotReport(["gen/loss"], log_report="not_a_log"))
    with pytest.raises(UsageError, match=r"^Argument `log_report` should name a LogReport, but 'not_a_log' is a "
                                         r"function$"):
        trainer.run()


def test_y_keys_must_name_a_key():
    with pytest.raises(UsageError, match=r"^Argument `y_keys` should name at least one log key, but given \[\]$"):
        PlotReport([])
    assert PlotReport("gen/loss").y_keys == ["gen/loss"]


def test_names_defaults_and_two_plots(tmp_path):
    trainer = make_trainer(tmp_path, iterations=4)
    loss, dis, again = PlotReport(["gen/loss"]), PlotReport(["dis/loss"], filename="dis.png"), PlotReport(["x"])
    for plot in (loss, dis, again):
        trainer.extend(plot)
    assert (loss.name, dis.name, again.name) == ("PlotReport:loss.png", "PlotReport:dis.png", "PlotReport:loss.png_1")
    assert (PlotReport.trigger, PlotReport.priority) == ((1, "iteration"), PRIORITY_READER)
    assert (loss.x_key, loss.filename, loss.log_report) == ("iteration", "loss.png", None)
    trainer.run()
    assert sorted(p.name for p in (tmp_path / "out" / "plots").iterdir()) == ["dis.png", "loss.png"]


def test_a_resumed_plot_keeps_its_points_and_open_interval(tmp_path):
    first = make_trainer(tmp_path, iterations=6)
    first.extend(PlotReport(["gen/loss"], trigger=(1, "epoch")))
    first.run()
    torch.save(first.state_dict(), tmp_path / "state.pt")

    resumed = make_trainer(tmp_path)
    plot = PlotReport(["gen/loss"], trigger=(1, "epoch"))
    resumed.extend(plot)
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    resumed.run()
    points = json.loads(plot.state_dict()["points"])
    assert [(p["iteration"], p["gen/loss"]) for p in points] == [(4, 2.5), (8, 6.5), (12, 10.5)]


def test_a_state_without_points_loads(tmp_path):
    plot = PlotReport(["gen/loss"])
    plot.load_state_dict({})  # a checkpoint from before PlotReport kept points
    assert json.loads(plot.state_dict()["points"]) == []
