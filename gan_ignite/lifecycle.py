"""How the trainer registers extensions and runs their hooks, by Chainer's rules.

Names: the ``name`` given to ``extend``, else the extension's ``name`` attribute, else
its ``default_name``, else its ``__name__`` (a function), else its class name; a name
already taken gets ``_1``, ``_2``, ... (two ``LogReport``\\ s become ``LogReport`` and
``LogReport_1``), and the registered name is written back to ``extension.name``.

Hooks: ``initialize(trainer)``, ``on_error(trainer, exc, tb)`` and ``finalize`` (called
with the trainer, or with nothing for a Chainer-style ``finalize(self)``). One hook's
failure never stops the others: it is reported on stderr with its traceback, and the
run's own exception is the one that propagates.
"""

from __future__ import annotations

import inspect
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ExtensionEntry", "registered_name", "call_with_trainer", "run_guarded",
    "PRIORITY_WRITER", "PRIORITY_EDITOR", "PRIORITY_READER", "PRIORITY_SNAPSHOT",
]

# Higher runs first after an iteration: writers make values, editors summarise them,
# readers read them.
PRIORITY_WRITER = 300
PRIORITY_EDITOR = 200
PRIORITY_READER = 100
# Snapshots run after every reader, so a checkpoint holds the iteration's reports too;
# their triggers are all asked before any of them runs (see the trainer).
PRIORITY_SNAPSHOT = -100


@dataclass
class ExtensionEntry:
    """A registered extension with its trigger, priority and registration options."""

    name: str
    extension: Any
    trigger: Callable[..., bool]
    priority: int
    call_before_training: bool = False

    def hook(self, name: str) -> Callable[..., Any] | None:
        return getattr(self.extension, name, None)


def registered_name(extension: object, name: str | None, taken: Iterable[str]) -> str:
    """The name ``extension`` registers under (Chainer's look-up order), made unique."""
    if name is None:
        for attribute in ("name", "default_name", "__name__"):
            if isinstance(candidate := getattr(extension, attribute, None), str) and candidate:
                name = candidate
                break
        else:
            name = type(extension).__name__
    taken = set(taken)
    unique, ordinal = name, 0
    while unique in taken:
        ordinal += 1
        unique = f"{name}_{ordinal}"
    return unique


def call_with_trainer(hook: Callable[..., Any], trainer: object) -> Any:
    """Call ``hook(trainer)``, or ``hook()`` when it takes no argument (Chainer's ``finalize``)."""
    try:
        parameters = inspect.signature(hook).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: assume the usual form
        return hook(trainer)
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    return hook(trainer) if positional else hook()


def run_guarded(calls: Iterable[tuple[str, str, Callable[[], Any]]]) -> list[BaseException]:
    """Run each ``(extension name, hook name, call)``; report and collect each failure."""
    failures = []
    for extension, hook, call in calls:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 -- every hook must run; the failure is reported
            failures.append(exc)
            sys.stderr.write(f"Exception in {hook} of extension {extension!r}: {type(exc).__name__}: {exc}\n")
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    return failures
