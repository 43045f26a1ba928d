"""Fakes for the trigger tests: Chainer's ``get_trainer_with_mock_updater`` without a trainer.

``make_trainer(iter_per_epoch)`` gives an object with the face triggers read
(``updater.iteration``, ``updater.epoch_detail``, ``updater.previous_epoch_detail``,
``observation``, ``elapsed_time``); ``trainer.updater.update()`` advances it one
iteration, as Chainer's mock updater does (``iter_per_epoch`` may be fractional).
``checkpoint(state)`` sends a state through ``torch.save`` / ``torch.load(weights_only=True)``,
as the trainer's checkpoints do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.fakes import round_trip


class FakeUpdater:
    """Counts iterations and derives the epoch counters from them, as Chainer's mock updater."""

    def __init__(self, iter_per_epoch: float) -> None:
        self.iter_per_epoch = iter_per_epoch
        self.iteration = 0
        self.epoch = 0
        self.epoch_detail = 0.0
        self.previous_epoch_detail: float | None = None
        self.is_new_epoch = False

    def update(self) -> None:
        self.iteration += 1
        self.epoch = int(self.iteration // self.iter_per_epoch)
        self.epoch_detail = self.iteration / self.iter_per_epoch
        self.previous_epoch_detail = (self.iteration - 1) / self.iter_per_epoch
        self.is_new_epoch = (self.iteration - 1) // self.iter_per_epoch != self.epoch


class FakeTrainer:
    """The part of :class:`gan_ignite.trainer.Trainer` that triggers read."""

    def __init__(self, iter_per_epoch: float = 10) -> None:
        self.updater = FakeUpdater(iter_per_epoch)
        self.observation: dict[str, Any] = {}
        self.elapsed_time = 0.0


@pytest.fixture
def make_trainer() -> Callable[..., FakeTrainer]:
    return FakeTrainer


@pytest.fixture
def checkpoint() -> Callable[[dict], dict]:
    return round_trip
