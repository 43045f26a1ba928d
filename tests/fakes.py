"""Test doubles shared by the extension and trigger tests.

:class:`FakeTrainer` is Chainer's ``get_trainer_with_mock_updater``: the part of the
trainer's face that triggers and small extensions read, advanced by hand one iteration at
a time. :func:`round_trip` sends a state through a checkpoint as resume reads it.
"""

import io
from types import SimpleNamespace

import torch


def round_trip(state):
    """``state`` after ``torch.save`` and ``torch.load(weights_only=True)``, as a checkpoint holds it."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


class FakeTrainer:
    """Counters (``iteration``, ``updater.iteration`` / ``epoch_detail`` / ``previous_epoch_detail``),
    ``observation``, ``models``, ``optimizers`` and ``elapsed_time``."""

    def __init__(self, iter_per_epoch=10, models=None, optimizers=None):
        self.updater = SimpleNamespace(iteration=0, epoch_detail=0.0, previous_epoch_detail=None)
        self.iter_per_epoch = iter_per_epoch
        self.models = dict(models or {})
        self.optimizers = dict(optimizers or {})
        self.observation = {}
        self.elapsed_time = 0.0

    @property
    def iteration(self):
        return self.updater.iteration

    def advance(self):
        """One more finished iteration."""
        u = self.updater
        u.previous_epoch_detail = u.iteration / self.iter_per_epoch
        u.iteration += 1
        u.epoch_detail = u.iteration / self.iter_per_epoch

    def step(self, extension, observation=None):
        """One iteration with ``observation``, then a call of ``extension``; the observation after it."""
        self.advance()
        self.observation = dict(observation or {})
        extension(self)
        return self.observation

    def run(self, extension, n):
        """``n`` iterations, each with a fresh observation and a call of ``extension``; the last observation."""
        for _ in range(n):
            self.step(extension)
        return self.observation
