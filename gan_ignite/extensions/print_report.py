"""PrintReport: the LogReport's entries as a console table (Chainer's ``PrintReport``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

from gan_ignite.errors import UsageError
from gan_ignite.extensions.extension import PRIORITY_READER, Extension
from gan_ignite.extensions.log_report import LogReport

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["PrintReport"]

_FIRST, _LAST, _HIDDEN = ("epoch", "iteration"), ("elapsed_time",), ("epoch_detail",)


class PrintReport(Extension):
    """Prints each new LogReport entry as a row of a fixed-width table.

    Args:
        entries: the columns, e.g. ``["epoch", "iteration", "gen/loss", "dis/loss"]``;
            ``None`` shows every key the log has, ``epoch`` and ``iteration`` first and
            ``elapsed_time`` last, with a new header when a new key appears (as
            pytorch-pfn-extras' ``PrintReport``).
        log_report: the registered name of the LogReport to read, or a LogReport
            instance (which, if not registered itself, this extension feeds every
            iteration).
        out: the stream to print to (stdout by default); it needs only ``write``.
    """

    trigger = (1, "iteration")
    priority = PRIORITY_READER

    def __init__(
        self,
        entries: Sequence[str] | None = None,
        log_report: str | LogReport = "LogReport",
        out: IO[str] | None = None,
    ) -> None:
        self._infer = entries is None
        self.entries = [] if entries is None else list(entries)
        self.log_report = log_report
        self._out = out
        self._printed = 0

    def _log_report(self, trainer: Trainer) -> LogReport:
        if isinstance(self.log_report, LogReport):
            return self.log_report
        report = trainer.get_extension(self.log_report)
        if not isinstance(report, LogReport):
            raise UsageError(
                f"Argument `log_report` should name a LogReport, but {self.log_report!r} is a {type(report).__name__}"
            )
        return report

    def _feeds(self, trainer: Trainer, report: LogReport) -> bool:
        """Whether this extension must call the LogReport itself: an instance not registered."""
        if not isinstance(self.log_report, LogReport):
            return False
        if report.name is None:
            return True
        try:
            return trainer.get_extension(report.name) is not report
        except ValueError:
            return True

    def initialize(self, trainer: Trainer) -> None:
        report = self._log_report(trainer)
        if self._feeds(trainer, report):
            report.initialize(trainer)
        # On resume, print only what this run adds, under a fresh header.
        self._printed = len(report.log)
        if self.entries:
            self._header()

    def __call__(self, trainer: Trainer) -> None:
        report = self._log_report(trainer)
        if self._feeds(trainer, report):
            report(trainer)
        new = report.log[self._printed :]
        if self._infer and self._grow(new):
            self._header()
        for entry in new:
            self._write("  ".join(_cell(entry.get(key), w) for key, w in zip(self.entries, self._widths())))
        self._printed = len(report.log)

    def _grow(self, entries: Sequence[dict[str, Any]]) -> bool:
        """Add the keys of ``entries`` not yet shown; whether any was added."""
        keys = [k for k in self.entries if k not in _FIRST + _LAST]
        for entry in entries:
            keys += [k for k in entry if k not in keys and k not in _FIRST + _LAST + _HIDDEN]
        seen = {k for entry in entries for k in entry} | set(self.entries)
        grown = [k for k in _FIRST if k in seen] + keys + [k for k in _LAST if k in seen]
        changed = grown != self.entries
        self.entries = grown
        return changed

    def _widths(self) -> list[int]:
        return [max(10, len(e)) for e in self.entries]

    def _header(self) -> None:
        self._write("  ".join(e.ljust(w) for e, w in zip(self.entries, self._widths())))

    def _write(self, line: str) -> None:
        out = self._out or sys.stdout
        out.write(line.rstrip() + "\n")
        if hasattr(out, "flush"):
            out.flush()

    def state_dict(self) -> dict[str, Any]:
        # A LogReport this extension feeds is saved with it; a registered one saves itself.
        if isinstance(self.log_report, LogReport) and self.log_report.name is None:
            return {"log_report": self.log_report.state_dict()}
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "log_report" in state and isinstance(self.log_report, LogReport):
            self.log_report.load_state_dict(state["log_report"])


def _cell(value: Any, width: int) -> str:
    if value is None:
        return "".ljust(width)
    if isinstance(value, float):
        return f"{value:<{width}.6g}"
    return str(value).ljust(width)
