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
from typing import TYPE_CHECKING, Any

from gan_ignite.errors import UsageError

# The priorities live with the trainer's lifecycle, which orders the calls by them.
from gan_ignite.lifecycle import PRIORITY_EDITOR, PRIORITY_READER, PRIORITY_SNAPSHOT, PRIORITY_WRITER
from gan_ignite.triggers import TriggerLike

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = [
    "Extension",
    "make_extension",
    "PRIORITY_WRITER",
    "PRIORITY_EDITOR",
    "PRIORITY_READER",
    "PRIORITY_SNAPSHOT",
]

class _UnexpectedArgument(UsageError, TypeError):
    """An unknown keyword: a ``TypeError`` as Python's own, with the project's one-line message."""


class Extension:
    """Base class of extensions; subclasses override ``__call__`` and the hooks they need.

    Attributes:
        trigger: the default trigger, ``(1, 'iteration')``.
        priority: the default priority, ``PRIORITY_READER``.
        name: ``None`` until the trainer registers the extension, then the name it got.
    """

    trigger: TriggerLike = (1, "iteration")
    priority: int = PRIORITY_READER
    name: str | None = None

    @property
    def default_name(self) -> str:
        """The name to register under when neither ``extend`` nor ``name`` gives one: the class name."""
        return type(self).__name__

    def __call__(self, trainer: Trainer) -> None:
        raise NotImplementedError

    def initialize(self, trainer: Trainer) -> None:
        """Called once when ``trainer.run()`` starts, after any resume."""

    def on_error(self, trainer: Trainer, exc: BaseException, tb: TracebackType | None) -> None:
        """Called when training fails, before the exception propagates."""

    def finalize(self, trainer: Trainer) -> None:
        """Called when training ends, whether it succeeded or failed."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


_OLD_KEYWORDS = {"name": "default_name", "initialize": "initializer", "finalize": "finalizer"}


def make_extension(
    trigger: TriggerLike = None,
    default_name: str | None = None,
    priority: int | None = None,
    finalizer: Callable[..., None] | None = None,
    initializer: Callable[[Trainer], None] | None = None,
    on_error: Callable[[Trainer, BaseException, TracebackType | None], None] | None = None,
    **kwargs: Any,
) -> Callable[[Callable[[Trainer], None]], Callable[[Trainer], None]]:
    """Decorator that turns a function ``fn(trainer)`` into an extension, as Chainer's does.

    It sets the function's ``trigger`` (default every iteration), ``priority`` (default
    ``PRIORITY_READER``), ``default_name`` (default its ``__name__``) and the hooks given.
    The keywords are Chainer's and pytorch-pfn-extras'; this project's earlier ``name``,
    ``initialize`` and ``finalize`` are accepted for them.

    Example::

        @make_extension(trigger=(1, "epoch"), priority=PRIORITY_WRITER)
        def save_something(trainer):
            ...

        trainer.extend(save_something)

    Raises:
        UsageError: an unknown keyword, ``is_async`` (asynchronous extensions are not
            supported), or a keyword given under both of its names.
    """
    hooks = {"default_name": default_name, "finalizer": finalizer, "initializer": initializer}
    for old, new in _OLD_KEYWORDS.items():
        if old in kwargs:
            if hooks[new] is not None:
                raise UsageError(f"Arguments `{old}` and `{new}` of make_extension are the same; pass only `{new}`")
            hooks[new] = kwargs.pop(old)
    if "is_async" in kwargs:
        raise UsageError("Argument `is_async` of make_extension is not supported: extensions run in the training loop")
    if kwargs:
        raise _UnexpectedArgument(f"make_extension got unexpected arguments: {', '.join(sorted(kwargs))}")

    def decorator(fn: Callable[[Trainer], None]) -> Callable[[Trainer], None]:
        fn.trigger = trigger if trigger is not None else Extension.trigger  # type: ignore[attr-defined]
        fn.priority = PRIORITY_READER if priority is None else priority  # type: ignore[attr-defined]
        fn.default_name = hooks["default_name"] or getattr(fn, "__name__", type(fn).__name__)  # type: ignore[attr-defined]
        for attribute, hook in (("initialize", hooks["initializer"]), ("on_error", on_error),
                                ("finalize", hooks["finalizer"])):
            if hook is not None:
                setattr(fn, attribute, hook)
        return fn

    return decorator
