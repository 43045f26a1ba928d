"""The exception types a user acts on, and their one-line report.

Library code raises :class:`UsageError` for anything a user can fix (an unknown dataset,
a missing data folder, an image size a model cannot make, a run directory with no
checkpoint to resume) and :class:`DivergenceError` when training itself broke down (a
loss or a weight became NaN or infinite). Command-line entry points print the message
as one line on stderr and exit non-zero, without a traceback; library users catch them
like any ``ValueError`` / ``RuntimeError``.

Ignite's ``Engine`` logs every exception that ends a run ("Engine run is terminating
due to exception: ...") before re-raising it; :func:`quiet_engine_echo` keeps it from
echoing these two, whose message is reported once by whoever catches them.
"""

from __future__ import annotations

import errno
import logging
import re
import sys
from typing import NoReturn

__all__ = [
    "UsageError", "DivergenceError", "USER_ERRORS", "one_line", "quiet_engine_echo", "fail", "disk_full",
    "out_of_memory", "allocation",
]


class UsageError(ValueError):
    """Bad input with a message that names the problem and the fix."""


class DivergenceError(RuntimeError):
    """Training diverged: a loss or a parameter became NaN or infinite.

    The message names the value, the iteration and the last checkpoint written before it.
    """


USER_ERRORS = (UsageError, DivergenceError)

# Prefix of the message PyTorch gives an exception re-raised from a DataLoader worker:
# "Caught UsageError in DataLoader worker process 0.\nOriginal Traceback ...".
_WORKER_PREFIX = "Caught "


def one_line(exc: BaseException) -> str:
    """The message of a user error as one line.

    An error raised in a ``DataLoader`` worker arrives re-raised by PyTorch with the
    worker's traceback in its message; its last line is the original message.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    if len(lines) > 1 and lines[0].startswith(_WORKER_PREFIX):
        # The traceback's last line: "gan_ignite.errors.UsageError: <message>".
        return re.sub(rf"^([\w.]+\.)?{type(exc).__name__}: ", "", lines[-1])
    return " ".join(lines)


def disk_full(exc: BaseException | None) -> bool:
    """Whether a failed write ran out of space: ENOSPC or EDQUOT, or torch.save's short-write error."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        # torch.save's zip writer reports a short write as "unexpected pos N vs M".
        if isinstance(exc, RuntimeError) and ("unexpected pos" in str(exc) or "file write failed" in str(exc)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation that failed (host or GPU memory)."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)


def allocation(exc: BaseException) -> str:
    """What a failed allocation asked for, in a few words (``it tried to allocate 2508.8 GB``)."""
    text = str(exc)
    found = re.search(r"tried to allocate (\d+) bytes", text)  # the CPU allocator's message
    if found:
        return f"it tried to allocate {int(found.group(1)) / 1e9:.1f} GB at once"
    found = re.search(r"Tried to allocate ([\d.]+ \w+)", text)  # CUDA's
    return f"it tried to allocate {found.group(1)} on the GPU" if found else (text.splitlines() or ["?"])[0][:120]


def lost_contact(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective's failure in a run of several processes: a peer exited or was killed.

    NCCL raises ``torch.distributed.DistError``; gloo a plain ``RuntimeError`` naming the
    closed connection.
    """
    if not isinstance(exc, RuntimeError) or "torch.distributed" not in sys.modules:
        return False
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return False
    text = str(exc).lower()
    return isinstance(exc, getattr(dist, "DistError", ())) or "connection closed by peer" in text or (
        "gloo" in text and ("connection" in text or "timed out" in text)
    )


class _UserErrorEcho(logging.Filter):
    """Drops Ignite's "... terminating due to exception" record for errors reported in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Ignite logs from inside its ``except`` block: the exception being handled is
        # the one the record echoes.
        exc = sys.exc_info()[1]
        return not (isinstance(exc, USER_ERRORS) or (exc is not None and (
            disk_full(exc) or out_of_memory(exc) or lost_contact(exc))))


_ECHO_FILTER = _UserErrorEcho()


def quiet_engine_echo(logger: logging.Logger) -> None:
    """Keep an Ignite engine's ``logger`` from echoing :data:`USER_ERRORS` (idempotent).

    Other exceptions are still logged; these ones still propagate.
    """
    logger.addFilter(_ECHO_FILTER)  # addFilter ignores a filter already present


def fail(message: str) -> NoReturn:
    """Print ``message`` as one error line on stderr and exit with status 2.

    A message may quote a file's contents (a name in a run's settings): line breaks in it
    become spaces, so that it can never pose as a second line, such as a traceback.
    """
    text = " ".join(line.strip() for line in message.splitlines() if line.strip())
    sys.stderr.write(f"error: {text}\n")
    sys.exit(2)
