"""The one exception type for bad user input.

Library code raises :class:`UsageError` for anything a user can fix (an unknown dataset,
a missing data folder, an image size a model cannot make, a run directory with no
checkpoint to resume). Command-line entry points print its message as one line on stderr
and exit non-zero, without a traceback; library users catch it like any ``ValueError``.
"""

__all__ = ["UsageError"]


class UsageError(ValueError):
    """Bad input with a message that names the problem and the fix."""
