"""TensorBoard: every observation key as a scalar and every sample grid as an image.

Written through Ignite's ``TensorboardLogger`` into ``out/tb``. Ignite's
``OutputHandler`` prefixes a tag to every key (``tag/dis/loss``); the run-directory
contract wants each key under exactly its own name, so this extension writes through the
logger's ``SummaryWriter`` itself. Scalars are means over the extension's interval, as
in the log, at the global step of the interval's last iteration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gan_ignite.extensions._interval import IntervalMeans
from gan_ignite.extensions.extension import PRIORITY_READER, Extension
from gan_ignite.run_dir import TB
from gan_ignite.triggers import TriggerLike

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["TensorBoardReport"]


class TensorBoardReport(Extension):
    """Logs observation means and ``trainer.images`` to TensorBoard.

    Args:
        trigger: how often to write the scalars, e.g. ``(10, 'iteration')``.
        log_dir: the folder inside the trainer's ``out`` directory.
    """

    trigger = (1, "iteration")  # observe every iteration; write on ``self._trigger``
    priority = PRIORITY_READER

    def __init__(self, trigger: TriggerLike = (10, "iteration"), log_dir: str = TB) -> None:
        self._means = IntervalMeans(trigger)
        self.log_dir = log_dir
        self._logger = None

    def initialize(self, trainer: Trainer) -> None:
        from ignite.handlers import TensorboardLogger

        step = trainer.iteration
        # purge_step: a resumed run drops the events a killed run wrote after its checkpoint.
        kwargs = {"purge_step": step + 1} if step else {}
        self._logger = TensorboardLogger(log_dir=str(trainer.out / self.log_dir), **kwargs)

    def __call__(self, trainer: Trainer) -> None:
        writer = self._logger.writer
        step = trainer.iteration
        for name, image in trainer.images.items():
            writer.add_image(name, image, step)
        self._means.add(trainer.observation)
        for key, value in (self._means.end(trainer) or {}).items():
            writer.add_scalar(key, value, step)

    def finalize(self, trainer: Trainer) -> None:
        if self._logger is not None:
            self._logger.close()
            self._logger = None

    def state_dict(self) -> dict[str, Any]:
        return self._means.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._means.load_state_dict(state)
