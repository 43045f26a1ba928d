"""Options that check themselves: typed dataclass fields with a requirement and help text.

An experiment's settings are a frozen dataclass (:mod:`gan_ignite.config`) whose fields
are made by :func:`option`: a default, the help line of the command line, and what a
value must satisfy (:class:`Requirement`). :class:`CheckedOptions` checks every field
when the dataclass is constructed, from the command line or read back from a run's
``config.json``: values of the wrong type (``"batch_size": "16"``), values out of range,
paths to resolve. Each option is checked once, where it is defined.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gan_ignite.errors import UsageError
from gan_ignite.run_dir import looks_like_path, resolve_path

__all__ = [
    "option", "Requirement", "OptionError", "CheckedOptions", "flag", "is_path", "shown_as_flags", "coerce",
    "check_device", "dataset_path", "one_of", "DEVICES", "AMP_MODES", "POSITIVE", "NON_NEGATIVE", "POSITIVE_NUMBER",
    "NON_NEGATIVE_NUMBER", "FRACTION",
]


@dataclass(frozen=True)
class Requirement:
    """What a value of an option must satisfy, and how to say it (``"should be a positive integer"``)."""

    test: Callable[[Any], bool]
    text: str


POSITIVE = Requirement(lambda v: v >= 1, "should be a positive integer")
NON_NEGATIVE = Requirement(lambda v: v >= 0, "should be zero or more")
POSITIVE_NUMBER = Requirement(lambda v: math.isfinite(v) and v > 0, "should be a positive number")
NON_NEGATIVE_NUMBER = Requirement(lambda v: math.isfinite(v) and v >= 0, "should be zero or a positive number")
FRACTION = Requirement(lambda v: 0 <= v < 1, "should be at least 0 and less than 1")


def one_of(*choices: Any) -> Requirement:
    """The requirement that a value be one of ``choices`` (``should be one of separate, joint``)."""
    return Requirement(lambda v: v in choices, f"should be one of {', '.join(map(str, choices))}")


def option(default: Any, help: str, check: Requirement | None = None, path: bool = False) -> Any:
    """A dataclass field with command-line help, a requirement, and whether it is a path.

    A path option has ``~`` expanded and is made absolute when the config is built.
    """
    return field(default=default, metadata={"help": help, "check": check, "path": path})


class OptionError(UsageError):
    """An option's value breaks its requirement.

    ``str()`` phrases it as typed on the command line (``--batch-size should be a
    positive integer, but given -4``); :meth:`in_file` as read from a run's settings.
    """

    def __init__(self, name: str, value: Any, requirement: str) -> None:
        self.name, self.value, self.requirement = name, value, requirement
        shown = repr(value) if isinstance(value, str) else value
        super().__init__(f"{flag(name)} {requirement}, but given {shown}")

    def in_file(self, path: Path) -> UsageError:
        return UsageError(
            f"{path}: {self.name} {self.requirement}, but it is {json.dumps(self.value, default=str)}; "
            f"repair or restore the file"
        )


def flag(name: str) -> str:
    """The command-line flag of a field: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


def shown_as_flags(name: str, value: Any) -> list[str]:
    """The command-line words that give field ``name`` the value ``value``."""
    if isinstance(value, bool):
        return [flag(name) if value else "--no-" + flag(name)[2:]]
    if isinstance(value, (tuple, list)):
        return [flag(name), *map(str, value)]
    return [flag(name), str(value)]


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def coerce(name: str, kind: Any, value: Any) -> Any:
    """``value`` as the field's type ``kind``, or :class:`OptionError`.

    JSON has no tuples and writes ``2.0`` as a number like ``2``: a list becomes a tuple
    and an integer a float where the field wants one; nothing else is converted (a
    string ``"16"`` is no batch size).
    """
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        if not isinstance(value, (list, tuple)) or not all(_is(item, v) for v in value):
            raise OptionError(name, value, f"should be a list of {_KINDS[item].split(' ', 1)[-1]}s")
        return tuple(float(v) if item is float else v for v in value)
    if not _is(kind, value):
        raise OptionError(name, value, f"should be {_KINDS[kind]}")
    return float(value) if kind is float else value


def _is(kind: type, value: Any) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@functools.cache
def _metadata(cls: type) -> dict[str, dict[str, Any]]:
    """Each field's requirement and path flag, inherited: an experiment that only changes
    an option's default (``batch_size: int = option(16, ...)``) keeps the base's check."""
    merged: dict[str, dict[str, Any]] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            for f in dataclasses.fields(klass):
                known = merged.setdefault(f.name, {"check": None, "path": False})
                known.update({k: f.metadata[k] for k in ("check", "path") if f.metadata.get(k)})
    return merged


def is_path(cls: type, name: str) -> bool:
    """Whether field ``name`` of the options dataclass ``cls`` holds a path."""
    return _metadata(cls)[name]["path"]


class CheckedOptions:
    """Mixin of a frozen dataclass of :func:`option` fields: every field checked at construction.

    Subclasses add checks that involve several options by overriding :meth:`check`
    (calling ``super().check()``).
    """

    def __post_init__(self) -> None:
        hints, metadata = _hints(type(self)), _metadata(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = coerce(f.name, hints[f.name], getattr(self, f.name))
            requirement = metadata[f.name]["check"]
            if requirement is not None and not requirement.test(value):
                raise OptionError(f.name, value, requirement.text)
            if metadata[f.name]["path"]:
                value = self.resolve_path(f.name, value)
            object.__setattr__(self, f.name, value)
        self.check()

    def resolve_path(self, name: str, value: str) -> str:
        """The absolute form of path option ``name`` (override for options that are not always paths)."""
        return str(resolve_path(value, flag(name)))

    def check(self) -> None:
        """Checks that involve more than one option; raise :class:`UsageError`."""


DEVICES = ("auto", "cpu", "cuda")
# Mixed-precision modes of the update step (gan_ignite.precision says what each does).
AMP_MODES = ("off", "bf16", "fp16")


def resolve_device(device: str) -> str:
    """``device`` checked (:func:`check_device`), with ``auto`` resolved: ``cuda`` when a GPU is visible, else ``cpu``."""
    check_device(device)
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(device: str) -> None:
    """Refuse a ``--device`` that is not one of :data:`DEVICES`, or ``cuda`` without a visible GPU."""
    if device not in DEVICES:
        raise OptionError("device", device, one_of(*DEVICES).text)
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda was given but no CUDA device is visible; pass --device cpu or auto")


def dataset_path(value: str) -> str:
    """A ``--dataset`` value: a known name as given, a folder resolved to its absolute path."""
    from gan_ignite.data import DATASETS

    if value in DATASETS or not (looks_like_path(value) or Path(value).is_dir()):
        return value  # a name, or an unknown one that load_dataset will name in its error
    return str(resolve_path(value, "--dataset"))
