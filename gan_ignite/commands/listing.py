"""``gan-ignite list``: the installed experiments, one line each."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "add_arguments", "run"]

HELP = "the installed experiments, one line each: name and summary"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> None:
    from gan_ignite.registry import experiment_names, load_experiment

    for name in experiment_names():
        doc = (load_experiment(name).__doc__ or "").strip().splitlines()
        print(f"{name:<16} {doc[0] if doc else ''}")
