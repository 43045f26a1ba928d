"""``gan-ignite compare RUN_DIR RUN_DIR ... [--all]``: how runs differ, and how they ended.

Prints two aligned plain-text tables, one column per run (named by its directory),
then the TensorBoard command that shows the runs side by side::

    $ gan-ignite compare runs/a runs/b
    run          a                   b
    path         /home/u/runs/a      /home/u/runs/b
    experiment   gan_mnist           gan_mnist

    setting      a                   b
    epochs       3                   2
    lr           0.0005              0.001

    final        a                   b
    epoch        3                   2
    ...

    tensorboard --logdir_spec a:/home/u/runs/a/tb,b:/home/u/runs/b/tb

The settings table has the keys of ``config.json`` whose values differ between the runs
(a key one run lacks differs); where and how a run's process ran
(:data:`~gan_ignite.commands._runs.NOT_COMPARED`: ``out``, ``device``, ``master_port``...,
the settings whose changes the report does not mark either) is left out, since it does
not change what a run is. ``--all`` lists every key. The final metrics are each run's last log
entry (an eval/ metric: its newest evaluation, with the epoch when older). Two runs of
one directory name are told apart by their parent folders. Runs are only read.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from gan_ignite.commands._runs import NOT_COMPARED, RunView, final_metrics, open_run, show_setting, show_value
from gan_ignite.errors import UsageError
from gan_ignite.run_dir import TB

__all__ = ["HELP", "add_arguments", "run", "run_names", "tensorboard_command"]

HELP = "compare runs: the settings that differ, the final metrics, and the TensorBoard command for them all"

_FINAL = ("epoch", "iteration", "gen/loss", "dis/loss", "dis/real", "dis/fake")
_FINAL_EVAL = ("eval/fid", "eval/kid", "eval/is")
_MISSING = "-"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="two or more run directories")
    parser.add_argument("--all", action="store_true",
                        help="list every setting, not only those that differ; without it, where and how each "
                             f"process ran ({', '.join(k for k in NOT_COMPARED if k != 'experiment')}) and the "
                             "experiment (its own row) are left out")


def run(args: argparse.Namespace) -> None:
    if len(args.run_dirs) < 2:
        raise UsageError(f"compare needs two or more run directories, but was given {len(args.run_dirs)}; "
                         f"gan-ignite compare RUN_DIR RUN_DIR ...")
    views = [open_run(text) for text in args.run_dirs]
    seen: dict[object, str] = {}
    for text, view in zip(args.run_dirs, views):
        if view.path in seen:
            raise UsageError(f"RUN_DIR {text} is the same run as {seen[view.path]}; compare different runs")
        seen[view.path] = text
    for view in views:
        for line in view.warnings:
            sys.stderr.write(f"warning: {line}\n")
    names = run_names(views)
    print(_table(["run", *names], [["path", *(str(v.path) for v in views)],
                                   ["experiment", *(v.experiment for v in views)]]))
    print()
    settings = _setting_rows(views, every=args.all)
    print(_table(["setting", *names], settings) if settings else "setting      the same in every run")
    print()
    print(_table(["final", *names], _final_rows(views)))
    print()
    print(tensorboard_command(views, names))


def run_names(views: Sequence[RunView]) -> list[str]:
    """Each run's directory name; runs of one name get as many parent folders as tell them apart."""
    names = [view.path.name for view in views]
    for depth in range(2, max(len(view.path.parts) for view in views) + 1):
        clashing = {name for name in names if names.count(name) > 1}
        if not clashing:
            break
        names = ["/".join(view.path.parts[-depth:]).lstrip("/") if name in clashing else name
                 for name, view in zip(names, views)]
    return names


def tensorboard_command(views: Sequence[RunView], names: Sequence[str]) -> str:
    """``tensorboard --logdir_spec name:RUN/tb,...`` for the runs, quoted for a POSIX shell.

    ``--logdir_spec`` separates runs by commas and a name from its path by the first
    colon: neither may appear in a name (they become ``_``).
    """
    spec = ",".join(f"{_spec_name(name)}:{view.path / TB}" for name, view in zip(names, views))
    if any("," in str(view.path) for view in views):
        sys.stderr.write("warning: a run's path holds a comma, which tensorboard --logdir_spec cannot take; "
                         "link the runs' tb folders into one folder and pass it as --logdir\n")
    return f"tensorboard --logdir_spec {shlex.quote(spec)}"


def _spec_name(name: str) -> str:
    return name.replace(",", "_").replace(":", "_").lstrip("/") or "run"


def _setting_rows(views: Sequence[RunView], every: bool) -> list[list[str]]:
    keys: list[str] = []
    for view in views:
        keys += [key for key in view.settings if key not in keys]
    rows = []
    for key in keys:
        values = [view.settings.get(key, _MISSING) for view in views]
        if every or (key not in NOT_COMPARED and any(value != values[0] for value in values)):
            rows.append([key, *(_MISSING if v is _MISSING else show_setting(v) for v in values)])
    return rows


def _final_rows(views: Sequence[RunView]) -> list[list[str]]:
    finals = [final_metrics(view) for view in views]
    evals = [key for key in _FINAL_EVAL if any(key in final for final in finals)]
    rows = []
    for key in (*_FINAL, *evals, "elapsed_time"):
        cells = []
        for view, final in zip(views, finals):
            if key in final:
                value, epoch = final[key]
                older = "" if epoch == view.last.get("epoch") else f" (epoch {show_value(epoch)})"
                cells.append(show_value(value) + older)
            else:
                cells.append(show_value(view.last[key]) if key in view.last else _MISSING)
        rows.append([key, *cells])
    return rows


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned columns, two spaces apart, the header first; lines have no trailing spaces."""
    lines = [list(header), *map(list, rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines)
