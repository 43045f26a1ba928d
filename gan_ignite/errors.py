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

import logging
import re
import sys

__all__ = ["UsageError", "DivergenceError", "USER_ERRORS", "one_line", "quiet_engine_echo"]


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


class _UserErrorEcho(logging.Filter):
    """Drops Ignite's "... terminating due to exception" record for user errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Ignite logs from inside its ``except`` block: the exception being handled is
        # the one the record echoes.
        return not isinstance(sys.exc_info()[1], USER_ERRORS)


_ECHO_FILTER = _UserErrorEcho()


def quiet_engine_echo(logger: logging.Logger) -> None:
    """Keep an Ignite engine's ``logger`` from echoing :data:`USER_ERRORS` (idempotent).

    Other exceptions are still logged; these ones still propagate.
    """
    logger.addFilter(_ECHO_FILTER)  # addFilter ignores a filter already present
