"""ProgressBar: Ignite's tqdm progress bar, registered like any extension."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from gan_ignite.extensions.extension import Extension

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["ProgressBar"]


class ProgressBar(Extension):
    """Attaches ``ignite.handlers.ProgressBar`` to the trainer's engine when training starts.

    The bar advances every iteration; its postfix shows the observation's numbers as of
    the extension's last call (its trigger, every 10 iterations by default). Reading the
    values only then keeps a GPU step from waiting for the host every iteration, as
    Ignite's bar would make it (one ``.item()`` per value). It is a plain Ignite handler;
    this wrapper lets experiments add it with ``trainer.extend`` like the rest.

    Args:
        persist: keep each epoch's finished bar on screen.
        **kwargs: passed to ``ignite.handlers.ProgressBar`` (e.g. ``ncols``, ``file``).
    """

    trigger = (10, "iteration")
    name = "ProgressBar"

    def __init__(self, persist: bool = False, **kwargs: Any) -> None:
        self._kwargs = {"persist": persist, **kwargs}
        self._bar = None
        self.shown: dict[str, float] = {}

    def initialize(self, trainer: Trainer) -> None:
        from ignite.handlers import ProgressBar as IgniteProgressBar

        if self._bar is None:  # attach once, even if run() is called again
            self._bar = IgniteProgressBar(**self._kwargs)
            self._bar.attach(trainer.engine, output_transform=lambda observation: self.shown)

    def __call__(self, trainer: Trainer) -> None:
        shown, tensors = {}, {}
        for key, value in trainer.observation.items():
            if isinstance(value, torch.Tensor) and value.ndim == 0:
                tensors[key] = value.detach()
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                shown[key] = float(value)
        if tensors:  # one host read for all of them
            device = next(iter(tensors.values())).device
            numbers = torch.stack([t.to(device, torch.float64) for t in tensors.values()]).tolist()
            shown.update(zip(tensors, numbers))
        self.shown = shown
