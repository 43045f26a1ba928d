"""``gan-ignite report RUN_DIR [--out FILE]``: one self-contained HTML page about a run.

The page (:mod:`gan_ignite.commands._report_html`) holds the run's settings (those
other than its experiment's defaults marked), its final and best metrics, its plots,
the sample grid of every epoch and an animation of them, the evaluation curve when the
run was evaluated, and the command that resumes it. Every image is inlined, so the one
file is the whole report::

    gan-ignite report result                      # writes result/report.html
    gan-ignite report result --out ~/runs/a.html  # writes nothing in result/

The run directory is only read (no lock is taken, so a run still training can be
reported on: the page shows the epochs so far); the one file written is the report,
atomically. Inside a run directory that is only ``RUN_DIR/report.html``, an entry of
the run's layout that ``--force`` replaces: any other file there would make the run
one that ``train --force`` refuses, so ``--out`` is refused anywhere else inside a run.
A log line, plot or grid that cannot be read is left out with a warning on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gan_ignite.commands._report_html import render
from gan_ignite.commands._runs import open_run
from gan_ignite.errors import UsageError
from gan_ignite.run_dir import MARKER, REPORT, cannot_write_in, resolve_path, write_atomic

__all__ = ["HELP", "add_arguments", "run", "REPORT"]

HELP = "write one self-contained HTML page about a run: settings, metrics, plots and every epoch's samples"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (the --out of a training run)")
    parser.add_argument("--out", metavar="FILE",
                        help=f"the HTML file to write (default: RUN_DIR/{REPORT}); its folder must exist")


def run(args: argparse.Namespace) -> None:
    view = open_run(args.run_dir)
    out = view.path / REPORT if args.out is None else _out_path(args.out, view.path)
    for line in view.warnings:
        _warn(line)
    page = render(view, _warn).encode("utf-8")
    try:
        write_atomic(out, lambda f: f.write(page))
    except OSError as exc:
        raise UsageError(f"cannot write the report {out} ({exc.strerror or exc}); pass another --out") from None
    print(f"wrote {out}")


def _warn(line: str) -> None:
    sys.stderr.write(f"warning: {line}\n")


def _out_path(text: str, run_dir: Path) -> Path:
    """``--out`` resolved and checked: a file in an existing, writable folder, inside no run but as its report.

    Raises:
        UsageError: ``--out`` is inside a run directory other than as ``run_dir/report.html``,
            is a directory, or its folder is missing or not writable.
    """
    out = resolve_path(text, "--out")
    _check_outside_runs(text, out, run_dir)
    if out.is_dir():
        raise UsageError(f"--out {text} is a directory; pass a file path, such as {Path(text) / REPORT}")
    if not out.parent.is_dir():
        raise UsageError(f"--out {text}: the folder {out.parent} does not exist; create it or pass another path")
    if (problem := cannot_write_in(out.parent)) is not None:
        raise UsageError(f"--out {text} is not writable ({problem} in {out.parent}); pass a file in a folder "
                         f"you can write to")
    return out


def _check_outside_runs(text: str, out: Path, run_dir: Path) -> None:
    """Refuse an ``out`` inside ``run_dir`` (but its ``report.html``) or inside another run directory.

    A file a run does not write would make ``train --force`` refuse the run, and one it
    does write (``config.json``, a grid) is the run's own.
    """
    if out == run_dir / REPORT:
        return
    if out.is_relative_to(run_dir) and out != run_dir:  # run_dir itself: refused as a directory
        raise UsageError(f"--out {text} is inside the run directory {run_dir}, where a report may only be "
                         f"{REPORT}; pass --out {run_dir / REPORT}, or a path outside the run")
    other = next((folder for folder in out.parents if (folder / MARKER).is_file()), None)
    if other is not None:
        raise UsageError(f"--out {text} is inside another run directory, {other}, which a report of {run_dir} "
                         f"must not change; pass a path outside it")
