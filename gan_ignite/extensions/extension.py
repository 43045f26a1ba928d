"""Extensions: Chainer's unit of "something to do now and then while training".

An extension is a callable ``ext(trainer)`` with a ``trigger`` (when it fires), a
``priority`` (who goes first when several fire after the same iteration) and optional
``initialize``, ``on_error`` and ``finalize`` hooks. Writers run before editors before
readers, so a reader (a report) sees what writers (image makers, evaluators) produced in
the same iteration. Ignite has no handler priority; :class:`~gan_ignite.trainer.Trainer`
dispatches extensions itself in this order.

Extensions that carry state across a resume implement ``state_dict`` and
``load_state_dict``; the trainer saves it with its own state.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

from gan_ignite.triggers import TriggerLike

__all__ = [
    "Extension",
    "make_extension",
    "PRIORITY_WRITER",
    "PRIORITY_EDITOR",
    "PRIORITY_READER",
    "PRIORITY_SNAPSHOT",
]

PRIORITY_WRITER = 300
PRIORITY_EDITOR = 200
PRIORITY_READER = 100
# Snapshots run after every reader, so a checkpoint holds the iteration's reports too.
PRIORITY_SNAPSHOT = -100


class Extension:
    """Base class of extensions; subclasses override ``__call__`` and the hooks they need."""

    trigger: TriggerLike = (1, "iteration")
    priority: int = PRIORITY_READER
    name: str | None = None

    @property
    def default_name(self) -> str:
        """The name the trainer registers the extension under when none is given."""
        return self.name or type(self).__name__

    def __call__(self, trainer: Any) -> None:
        raise NotImplementedError

    def initialize(self, trainer: Any) -> None:
        """Called once when ``trainer.run()`` starts, after any resume."""

    def on_error(self, trainer: Any, exc: BaseException, tb: TracebackType | None) -> None:
        """Called when training fails, before the exception propagates."""

    def finalize(self, trainer: Any) -> None:
        """Called when training ends, whether it succeeded or failed."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def make_extension(
    trigger: TriggerLike = None,
    priority: int | None = None,
    name: str | None = None,
    initialize: Callable[[Any], None] | None = None,
    on_error: Callable[[Any, BaseException, TracebackType | None], None] | None = None,
    finalize: Callable[[Any], None] | None = None,
) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Decorator that turns a function ``fn(trainer)`` into an extension (as in Chainer).

    Example::

        @make_extension(trigger=(1, "epoch"), priority=PRIORITY_WRITER)
        def save_something(trainer):
            ...

        trainer.extend(save_something)
    """

    def decorator(fn: Callable[[Any], None]) -> Callable[[Any], None]:
        fn.trigger = trigger if trigger is not None else (1, "iteration")  # type: ignore[attr-defined]
        fn.priority = PRIORITY_READER if priority is None else priority  # type: ignore[attr-defined]
        fn.default_name = name or getattr(fn, "__name__", type(fn).__name__)  # type: ignore[attr-defined]
        for hook_name, hook in (("initialize", initialize), ("on_error", on_error), ("finalize", finalize)):
            if hook is not None:
                setattr(fn, hook_name, hook)
        return fn

    return decorator
