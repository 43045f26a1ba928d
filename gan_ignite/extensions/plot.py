"""PlotReport: chosen keys of the LogReport's entries drawn as a PNG, redrawn as training goes.

Chainer's ``PlotReport``: it keeps its own means of the observation over each interval
of its trigger and, at the end of each, draws every key against ``x_key`` (the
iteration by default) into ``out/plots/<filename>``. Its points are checkpointed, so a
resumed run's plot shows the whole run. Given a ``log_report``, it draws that
LogReport's entries instead and keeps nothing of its own.

It draws with matplotlib's non-interactive Agg backend through a ``Figure`` and a
``FigureCanvasAgg``, never through ``pyplot``, whose global figure registry and backend
choice would leak into (or from) the rest of the process. matplotlib is imported only
when a PlotReport starts, so ``import gan_ignite`` works without it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gan_ignite.errors import UsageError
from gan_ignite.extensions._interval import IntervalMeans
from gan_ignite.extensions.extension import PRIORITY_READER, Extension
from gan_ignite.extensions.log_report import LogReport
from gan_ignite.run_dir import LOSS_PLOT, PLOTS, write_atomic
from gan_ignite.triggers import TriggerLike

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["PlotReport"]

PLOT_DIR = PLOTS


class PlotReport(Extension):
    """Plots LogReport entries, ``y_keys`` over ``x_key``, into ``out/plots/filename``.

    A reader: it runs after the writers and editors of the same iteration (evaluations,
    a LogReport), so a plot made at the end of an epoch includes that epoch's values.
    Points lacking a key (a generator loss only observed on some intervals, a key that
    appears late) are skipped for that key only; a key found in no point is left out.

    Two PlotReports in one trainer need different names; the default name includes the
    file name (``PlotReport:loss.png``), so plots to different files never clash.

    Example::

        trainer.extend(PlotReport(["dis/loss", "gen/loss"], filename="loss.png"))
        trainer.extend(PlotReport(["dis/real", "dis/fake"], filename="dis_output.png"))

    Args:
        y_keys: the log keys to draw, one line each (a single string is one key).
        x_key: the log key of the horizontal axis, ``"iteration"`` or ``"epoch"``.
        trigger: the interval of each point, and when to redraw, e.g. ``(1, 'epoch')``.
        filename: the PNG's name inside ``out/plots``.
        log_report: ``None`` (keep its own means), or a LogReport (registered name or
            instance) whose entries to draw.
    """

    trigger = (1, "iteration")  # observe every iteration; draw at the end of each interval
    priority = PRIORITY_READER

    def __init__(
        self,
        y_keys: Sequence[str] | str,
        x_key: str = "iteration",
        trigger: TriggerLike = (1, "epoch"),
        filename: str = LOSS_PLOT,
        log_report: str | LogReport | None = None,
    ) -> None:
        self.y_keys = [y_keys] if isinstance(y_keys, str) else list(y_keys)
        if not self.y_keys:
            raise UsageError(f"Argument `y_keys` should name at least one log key, but given {y_keys!r}")
        self._means = IntervalMeans(trigger)
        self._points: list[dict[str, Any]] = []
        self.x_key = x_key
        self.filename = filename
        self.log_report = log_report
        self.name = f"PlotReport:{filename}"

    def initialize(self, trainer: Trainer) -> None:
        _matplotlib()  # a missing install fails now, not after the first epoch
        if isinstance(self.log_report, str):
            report = trainer.get_extension(self.log_report)
            if not isinstance(report, LogReport):
                raise UsageError(f"Argument `log_report` should name a LogReport, but {self.log_report!r} is a "
                                 f"{type(report).__name__}")

    def __call__(self, trainer: Trainer) -> None:
        if self.log_report is None:
            self._means.add({k: v for k, v in trainer.observation.items() if k in self.y_keys})
            means = self._means.end(trainer)
            if means is None:
                return
            self._points.append({**means, "epoch": trainer.epoch, "iteration": trainer.iteration})
            points = self._points
        elif self._means.end(trainer) is None:
            return
        else:
            report = self.log_report
            points = (trainer.get_extension(report) if isinstance(report, str) else report).log
        figure = self.draw(points)
        # format="png": the temporary file's suffix is not one matplotlib knows.
        write_atomic(trainer.out / PLOT_DIR / self.filename, lambda f: figure.savefig(f, format="png"))

    def state_dict(self) -> dict[str, Any]:
        return {"points": json.dumps(self._points), **self._means.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._points = json.loads(state.get("points", "[]"))  # checkpoints before PlotReport kept points had none
        if "summary" in state:
            self._means.load_state_dict(state)

    def draw(self, log: Sequence[Mapping[str, Any]]) -> Any:
        """A matplotlib ``Figure`` (Agg canvas) of ``y_keys`` over ``x_key`` in ``log``."""
        figure_class, canvas_class = _matplotlib()
        figure = figure_class(figsize=(6.4, 4.8), dpi=100)
        canvas_class(figure)  # attaches itself as figure.canvas
        axes = figure.add_subplot()
        for key in self.y_keys:
            points = [(e[self.x_key], e[key]) for e in log if self.x_key in e and key in e]
            if points:
                xs, ys = zip(*points)
                axes.plot(xs, ys, marker="x", label=key)
        if axes.lines:  # a legend with no lines would only warn
            axes.legend(loc="best")
        axes.set_xlabel(self.x_key)
        axes.grid(True)
        return figure


def _matplotlib() -> tuple[type, type]:
    """matplotlib's ``Figure`` and ``FigureCanvasAgg``, or a :class:`UsageError` with the fix."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError("PlotReport draws with matplotlib, which is not installed; pip install matplotlib") from None
    return Figure, FigureCanvasAgg
