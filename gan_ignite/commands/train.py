"""``gan-ignite train NAME [options]``: the same as ``python -m experiments.NAME [options]``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from gan_ignite.errors import UsageError, fail

__all__ = ["HELP", "add_arguments", "run", "train"]

HELP = "train an experiment: gan-ignite train NAME [options] (see gan-ignite train NAME --help)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", nargs="?", help="the experiment to train (gan-ignite list shows them)")


def run(args: argparse.Namespace) -> None:
    """Reached only without an experiment (``train NAME`` is handed on before parsing)."""
    from gan_ignite.registry import experiment_names

    raise UsageError(f"gan-ignite train needs an experiment; choose one of {', '.join(experiment_names())}")


def train(name: str, argv: Sequence[str]) -> None:
    """Train experiment ``name`` with its own command line ``argv``."""
    from gan_ignite.registry import load_experiment

    try:
        module = load_experiment(name)
    except UsageError as exc:
        fail(str(exc))
    module.main(list(argv), prog=f"gan-ignite train {name}")
