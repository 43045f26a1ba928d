"""Reading weight files that may come from anywhere: tensors and plain data, never code.

Checkpoints, feature extractors and cached statistics are all read by
:func:`load_weights`: ``torch.load(..., weights_only=True)``, so a crafted pickle is
refused instead of run, and every way a file can be unreadable (cut off, not a torch
file, holding objects) becomes one :class:`~gan_ignite.errors.UsageError` line that
names the file and never repeats torch's advice to load it unsafely.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

from gan_ignite.errors import UsageError

__all__ = ["load_weights", "first_line"]


def load_weights(path: str | os.PathLike, what: str, remedy: str = "") -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; failures raise one clear line.

    Args:
        path: the file.
        what: what it should be, for the message (``"checkpoint"``, ``"feature extractor"``).
        remedy: what the user can do, appended to the message.

    Raises:
        UsageError: ``Cannot read {what} {path} ({reason}); {remedy}``.
    """
    import torch

    try:
        with warnings.catch_warnings():  # a garbage file makes the unpickler warn, then fail
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        suffix = f"; {remedy}" if remedy else ""
        raise UsageError(f"Cannot read {what} {path} ({_load_failure(exc, path)}){suffix}") from None


def _load_failure(exc: BaseException, path: str | Path) -> str:
    """What went wrong reading a weights file, in a few words."""
    if _is_cut_off(path):
        return "the file is cut off: it ends before its zip archive does"
    if isinstance(exc, EOFError):
        return "the file ends early: it is empty or truncated"
    text = str(exc)
    if text.startswith("Weights only load failed"):
        detail = _weights_only_detail(text)
        return f"it holds objects other than tensors and plain data, which are never unpickled: {detail}"
    if isinstance(exc, RuntimeError):  # torch's own diagnosis of a damaged archive
        return first_line(exc).split(". ")[0]
    return f"not a PyTorch checkpoint ({type(exc).__name__}: {first_line(exc)})"


_ZIP_MAGIC = b"PK\x03\x04"


def _is_cut_off(path: str | Path) -> bool:
    """A zip archive (torch.save's format) without the end record a complete one ends with.

    Torch reports such a file as anything from "failed finding central directory" to
    "Invalid argument", depending on where it was cut; one cut inside the first four
    bytes it takes for an old-style pickle and fails to unpickle.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(len(_ZIP_MAGIC))
        if 0 < len(head) < len(_ZIP_MAGIC):
            return _ZIP_MAGIC.startswith(head)
        return head == _ZIP_MAGIC and not zipfile.is_zipfile(path)
    except OSError:
        return False


def _weights_only_detail(text: str) -> str:
    """The diagnosis in torch's weights-only failure message, without its advice.

    The advice (load with ``weights_only=False``, or allowlist the global) is exactly
    what must not be done with a file that may be crafted.
    """
    _, marker, tail = text.partition("WeightsUnpickler error:")
    lines = [line.strip() for line in (tail if marker else text.split("\n", 1)[-1]).splitlines()]
    found = next((line for line in lines if line and not line.startswith(_TORCH_ADVICE)), "unsupported content")
    return found.split(". ")[0].rstrip(".")


# Lines of torch's weights-only failure message that are advice, not a diagnosis.
_TORCH_ADVICE = ("(1)", "(2)", "Please file an issue", "Check the documentation", "Re-running")


def first_line(exc: BaseException) -> str:
    """The informative line of a (possibly multi-line) loading error."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    hints = ("size mismatch", "Missing key", "Unexpected key")
    return next((line for line in lines if line.startswith(hints)), lines[0])
