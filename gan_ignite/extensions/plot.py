"""PlotReport: chosen keys of the LogReport's entries drawn as a PNG, redrawn as training goes.

Chainer's ``PlotReport``: when its trigger fires it reads the log of the LogReport
extension and draws each key against ``x_key`` (the iteration by default) into
``out/plots/<filename>``. It keeps no data of its own, so it has nothing to checkpoint:
a resumed run restores the LogReport's log and the next plot shows all of it.

It draws with matplotlib's non-interactive Agg backend through a ``Figure`` and a
``FigureCanvasAgg``, never through ``pyplot``, whose global figure registry and backend
choice would leak into (or from) the rest of the process. matplotlib is imported only
when a PlotReport starts, so ``import gan_ignite`` works without it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gan_ignite.errors import UsageError
from gan_ignite.extensions.extension import PRIORITY_READER, Extension
from gan_ignite.run_dir import LOSS_PLOT, PLOTS, write_atomic
from gan_ignite.triggers import TriggerLike, get_trigger

__all__ = ["PlotReport"]

PLOT_DIR = PLOTS


class PlotReport(Extension):
    """Plots LogReport entries, ``y_keys`` over ``x_key``, into ``out/plots/filename``.

    A reader: it runs after the LogReport (an editor) in the same iteration, so a plot
    made at the end of an epoch includes that epoch's entry. Entries lacking a key (a
    generator loss only logged on some intervals, a key that appears late) are skipped
    for that key only; a key found in no entry is left out of the plot.

    Two PlotReports in one trainer need different names; the default name includes the
    file name (``PlotReport:loss.png``), so plots to different files never clash.

    Example::

        trainer.extend(PlotReport(["dis/loss", "gen/loss"], filename="loss.png"))
        trainer.extend(PlotReport(["dis/real", "dis/fake"], filename="dis_output.png"))

    Args:
        y_keys: the log keys to draw, one line each (a single string is one key).
        x_key: the log key of the horizontal axis, ``"iteration"`` or ``"epoch"``.
        trigger: when to redraw, e.g. ``(1, 'epoch')``.
        filename: the PNG's name inside ``out/plots``.
        log_report: the registered name of the LogReport extension to read.
    """

    priority = PRIORITY_READER

    def __init__(
        self,
        y_keys: Sequence[str] | str,
        x_key: str = "iteration",
        trigger: TriggerLike = (1, "epoch"),
        filename: str = LOSS_PLOT,
        log_report: str = "LogReport",
    ) -> None:
        self.y_keys = [y_keys] if isinstance(y_keys, str) else list(y_keys)
        if not self.y_keys:
            raise UsageError(f"Argument `y_keys` should name at least one log key, but given {y_keys!r}")
        get_trigger(trigger)  # a bad trigger fails here, not when the trainer registers it
        self.trigger = trigger
        self.x_key = x_key
        self.filename = filename
        self.log_report = log_report
        self.name = f"PlotReport:{filename}"

    def initialize(self, trainer: Any) -> None:
        _matplotlib()  # a missing install fails now, not after the first epoch
        try:
            trainer.get_extension(self.log_report)
        except KeyError:
            raise UsageError(
                f"Argument `log_report` should name a registered LogReport extension, "
                f"but given {self.log_report!r}; extend the trainer with a LogReport first"
            ) from None

    def __call__(self, trainer: Any) -> None:
        figure = self.draw(trainer.get_extension(self.log_report).log)
        # format="png": the temporary file's suffix is not one matplotlib knows.
        write_atomic(trainer.out / PLOT_DIR / self.filename, lambda f: figure.savefig(f, format="png"))

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
