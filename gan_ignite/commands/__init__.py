"""The ``gan-ignite`` command: training, sampling, reporting and comparing runs, in one program.

Each subcommand lives in its own module, which gives ``HELP`` (its line in
``gan-ignite --help``), ``add_arguments(parser)`` and ``run(args)``; ``run`` raises
:class:`~gan_ignite.errors.UsageError` for bad input, which ends as one line on stderr
and exit status 2. ``gan-ignite train NAME [options]`` (and the older ``gan-ignite NAME``)
hand the options to the experiment's own parser, so they are exactly those of
``python -m experiments.NAME``. An installed command does not put the working directory
on the module path, as ``python -m`` does: nothing in the directory you run it from is
imported.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from gan_ignite.config import OneLineParser
from gan_ignite.errors import UsageError, fail

__all__ = ["main", "parser", "SUBCOMMANDS", "DefaultsHelp"]

# The subcommands in the order --help lists them, and the modules that implement them.
SUBCOMMANDS = {
    "list": "gan_ignite.commands.listing",
    "train": "gan_ignite.commands.train",
    "sample": "gan_ignite.commands.sample",
    "interpolate": "gan_ignite.commands.interpolate",
    "evaluate": "gan_ignite.evaluate",
    "train-extractor": "gan_ignite.train_extractor",
    "report": "gan_ignite.commands.report",
    "compare": "gan_ignite.commands.compare",
}


class DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with each option's default, where it has one (not for options that are off unless given)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _module(name: str) -> ModuleType:
    return importlib.import_module(SUBCOMMANDS[name])


def parser() -> argparse.ArgumentParser:
    """The whole command line: one subparser per subcommand, each listing its options with defaults."""
    from gan_ignite.registry import experiment_names

    top = OneLineParser(prog="gan-ignite", description="Train GANs and work with their runs: sample, interpolate, "
                        "evaluate, report, compare.", epilog=f"experiments: {', '.join(experiment_names())}")
    subparsers = top.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name in SUBCOMMANDS:
        module = _module(name)
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP,
                                    formatter_class=DefaultsHelp)
        module.add_arguments(sub)
    return top


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``gan-ignite`` with ``argv`` (default: the process's arguments)."""
    from gan_ignite.registry import experiment_names

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in SUBCOMMANDS and not argv[0].startswith("-"):
        if argv[0] not in experiment_names():
            fail(f"unknown command or experiment {argv[0]!r}; choose a command ({', '.join(SUBCOMMANDS)}) or an "
                 f"experiment ({', '.join(experiment_names())})")
        argv = ["train", *argv]  # gan-ignite NAME [options], as before subcommands
    if argv[:1] == ["train"] and len(argv) > 1 and not argv[1].startswith("-"):
        # The experiment's options, --help included, are its own parser's.
        _module("train").train(argv[1], argv[2:])
        return
    args = parser().parse_args(argv)
    if args.command is None:
        parser().print_help()
        return
    try:
        _module(args.command).run(args)
    except UsageError as exc:
        fail(str(exc))
