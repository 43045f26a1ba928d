"""ProgressBar: Ignite's tqdm progress bar, registered like any extension."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gan_ignite.extensions.extension import Extension

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["ProgressBar"]


class ProgressBar(Extension):
    """Attaches ``ignite.handlers.ProgressBar`` to the trainer's engine when training starts.

    The bar shows the latest observation as its postfix. It is a plain Ignite handler;
    this wrapper only lets experiments add it with ``trainer.extend`` like the rest.

    Args:
        persist: keep each epoch's finished bar on screen.
        **kwargs: passed to ``ignite.handlers.ProgressBar`` (e.g. ``ncols``, ``file``).
    """

    trigger = None
    name = "ProgressBar"

    def __init__(self, persist: bool = False, **kwargs: Any) -> None:
        self._kwargs = {"persist": persist, **kwargs}
        self._bar = None

    def initialize(self, trainer: Trainer) -> None:
        from ignite.handlers import ProgressBar as IgniteProgressBar

        if self._bar is None:  # attach once, even if run() is called again
            self._bar = IgniteProgressBar(**self._kwargs)
            self._bar.attach(trainer.engine, output_transform=lambda observation: observation)

    def __call__(self, trainer: Trainer) -> None:
        pass  # Ignite's bar updates itself on the engine's events
