"""Chainer's updater face: ``trainer.updater.iteration``, ``.epoch_detail``, ``.get_optimizer``.

Chainer code reads training progress from the updater (``trainer.updater.iteration ==
3``, ``trainer.updater.epoch_detail``, ``trainer.updater.get_optimizer('gen')``), where
here the counters live in the Ignite engine and the update function is any Ignite
process function. :class:`UpdaterView` is that face: the counters and optimizers come
from the trainer, and any other attribute is the update function's own (a
:class:`~gan_ignite.updaters.GANUpdater`'s ``gen``, ``z_dim``, ``loss``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch.optim import Optimizer

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["UpdaterView"]


class UpdaterView:
    """The trainer's ``updater``: Chainer's counters and optimizers, over the update function.

    Args:
        trainer: the trainer whose engine counts the iterations.
    """

    def __init__(self, trainer: Trainer) -> None:
        self._trainer = trainer

    @property
    def update_fn(self) -> Any:
        """The update function (the Ignite process function) itself."""
        return self._trainer.update_fn

    @property
    def iteration(self) -> int:
        """Finished iterations."""
        return self._trainer.iteration

    @property
    def epoch(self) -> int:
        """Completed epochs."""
        return self._trainer.epoch

    @property
    def epoch_detail(self) -> float:
        """Epochs done, fractional within an epoch."""
        return self._trainer.epoch_detail

    @property
    def previous_epoch_detail(self) -> float | None:
        """``epoch_detail`` one iteration ago; ``None`` before the first iteration."""
        length = self._trainer.epoch_length
        if not self.iteration or not length:
            return None
        return (self.iteration - 1) / length

    @property
    def is_new_epoch(self) -> bool:
        """Whether the last iteration finished an epoch."""
        length = self._trainer.epoch_length
        return bool(self.iteration and length and self.iteration % length == 0)

    def get_optimizer(self, name: str) -> Optimizer:
        """The optimizer registered under ``name`` (``'gen'``, ``'dis'``).

        Raises:
            ValueError: no optimizer of that name, naming the registered ones.
        """
        optimizers = self._trainer.optimizers
        if name not in optimizers:
            raise ValueError(f"No optimizer named {name!r}; the trainer has {', '.join(optimizers) or 'none'}")
        return optimizers[name]

    def get_all_optimizers(self) -> dict[str, Optimizer]:
        """Every optimizer, by name."""
        return dict(self._trainer.optimizers)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the view lacks: the update function's own attributes.
        if name.startswith("__") or name == "_trainer":
            raise AttributeError(name)
        return getattr(self._trainer.update_fn, name)

    def __call__(self, engine: Any, batch: Any) -> Any:
        return self._trainer.update_fn(engine, batch)
