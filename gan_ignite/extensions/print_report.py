"""PrintReport: chosen keys of the LogReport's entries as a console table."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO, Any

from gan_ignite.extensions.extension import PRIORITY_READER, Extension

__all__ = ["PrintReport"]


class PrintReport(Extension):
    """Prints each new LogReport entry as a row of a fixed-width table (Chainer's ``PrintReport``).

    Args:
        entries: the columns, e.g. ``["epoch", "iteration", "gen/loss", "dis/loss"]``.
        log_report: the registered name of the LogReport extension to read.
        out: the stream to print to.
    """

    trigger = (1, "iteration")
    priority = PRIORITY_READER
    name = "PrintReport"

    def __init__(self, entries: Sequence[str], log_report: str = "LogReport", out: IO[str] | None = None) -> None:
        self.entries = list(entries)
        self.log_report = log_report
        self._out = out
        self._widths = [max(10, len(e)) for e in self.entries]
        self._printed = 0

    def initialize(self, trainer: Any) -> None:
        # On resume, print only what this run adds, under a fresh header.
        self._printed = len(trainer.get_extension(self.log_report).log)
        self._write("  ".join(e.ljust(w) for e, w in zip(self.entries, self._widths)))

    def __call__(self, trainer: Any) -> None:
        log = trainer.get_extension(self.log_report).log
        for entry in log[self._printed :]:
            self._write("  ".join(_cell(entry.get(key), w) for key, w in zip(self.entries, self._widths)))
        self._printed = len(log)

    def _write(self, line: str) -> None:
        out = self._out or sys.stdout
        out.write(line.rstrip() + "\n")
        out.flush()


def _cell(value: Any, width: int) -> str:
    if value is None:
        return "".ljust(width)
    if isinstance(value, float):
        return f"{value:<{width}.6g}"
    return str(value).ljust(width)
