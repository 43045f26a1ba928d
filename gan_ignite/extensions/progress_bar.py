"""ProgressBar: Ignite's tqdm progress bar, registered like any extension."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
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

    Ignite's bar times the epoch (``[elapsed<remaining]``); the postfix ``left`` is the
    whole run's remaining time, from the pace of the iterations this process has run so
    far (a run that stops early, e.g. on ``--early-stopping``, ends sooner).

    Args:
        persist: keep each epoch's finished bar on screen.
        keys: the observation keys to show (default: every number observed).
        time_left: show the run's remaining time as ``left``.
        **kwargs: passed to ``ignite.handlers.ProgressBar`` (e.g. ``ncols``, ``file``).
    """

    trigger = (10, "iteration")
    name = "ProgressBar"

    def __init__(self, persist: bool = False, keys: Sequence[str] | None = None, time_left: bool = True,
                 **kwargs: Any) -> None:
        self._kwargs = {"persist": persist, **kwargs}
        self._keys = None if keys is None else list(keys)
        self._time_left = time_left
        self._bar = None
        self._start: tuple[float, int] | None = None  # (clock, iteration) when this process started training
        self.shown: dict[str, float | str] = {}

    def initialize(self, trainer: Trainer) -> None:
        from ignite.handlers import ProgressBar as IgniteProgressBar

        if self._bar is None:  # attach once, even if run() is called again
            self._bar = IgniteProgressBar(**self._kwargs)
            self._bar.attach(trainer.engine, output_transform=lambda observation: self.shown)
        self._start = (time.perf_counter(), trainer.iteration)

    def __call__(self, trainer: Trainer) -> None:
        shown: dict[str, float | str] = {}
        tensors = {}
        observed = trainer.observation
        for key in self._keys if self._keys is not None else observed:
            if key not in observed:
                continue
            value = observed[key]
            if isinstance(value, torch.Tensor) and value.ndim == 0:
                tensors[key] = value.detach()
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                shown[key] = float(value)
        if tensors:  # one host read for all of them
            device = next(iter(tensors.values())).device
            numbers = torch.stack([t.to(device, torch.float64) for t in tensors.values()]).tolist()
            shown.update(zip(tensors, numbers))
        if self._keys is not None:  # in the keys' order
            shown = {key: shown[key] for key in self._keys if key in shown}
        if self._time_left:
            shown["left"] = self.time_left(trainer)
        self.shown = shown

    def time_left(self, trainer: Trainer) -> str:
        """The run's remaining time at the pace of this process's iterations so far (``?`` before any)."""
        from gan_ignite.stopping import bound_iterations
        from gan_ignite.summary import duration

        clock, first = self._start if self._start is not None else (time.perf_counter(), trainer.iteration)
        done = trainer.iteration - first
        total = bound_iterations(trainer.stop_trigger, trainer.epoch_length)
        if done <= 0 or not math.isfinite(total):
            return "?"
        return duration((time.perf_counter() - clock) / done * max(total - trainer.iteration, 0))
