"""An exponential moving average (EMA) of the generator's weights, to sample from.

A GAN's generator weights oscillate from step to step as the two networks chase each
other; the average of the recent weights draws cleaner, more stable samples than any
single step (Yazici et al., 2019; Karras et al., 2018 sample progressive GANs this way).
Training keeps updating the online generator; only sampling (grids, evaluations,
``gan_ignite.evaluate``) uses the average.

Ignite's :class:`~ignite.handlers.EMAHandler` keeps the average. It is attached to a
custom event that this extension fires, rather than to ``ITERATION_COMPLETED``
directly: Ignite runs handlers in attachment order, and the average must be updated
before the writers (sample grids, evaluations) and snapshots of the same iteration read
it, which the trainer's priorities guarantee.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, IO, Any

from ignite.engine import EventEnum
from ignite.handlers import EMAHandler
from torch import nn

from gan_ignite.errors import UsageError
from gan_ignite.extensions.extension import PRIORITY_WRITER, Extension

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["EMA", "ema_momentum"]

# Above the writers (sample grids, evaluations) that read the average, below
# FiniteGuard (400), so a non-finite loss observed as a number stops the run before the
# step reaches the average (a device value is seen only at the guard's interval).
PRIORITY_EMA = PRIORITY_WRITER + 50


class _EMAEvents(EventEnum):
    UPDATE = "gan_ignite_ema_update"


def ema_momentum(decay: float, iteration: int) -> float:
    """The weight of the newest generator in the average after ``iteration`` updates.

    ``1 - min(decay, (1 + t) / (10 + t))``, the ramp of TensorFlow's
    ``ExponentialMovingAverage(num_updates=t)``: early averages forget the random
    initial weights quickly, later ones settle at ``1 - decay``. It is a function of the
    iteration alone, so a resumed run averages exactly as an uninterrupted one.
    """
    return 1.0 - min(decay, (1.0 + iteration) / (10.0 + iteration))


class EMA(Extension):
    """Keeps ``ema_model``, the exponential moving average of ``gen``'s weights.

    Every iteration, ``ema <- (1 - m) * ema + m * gen`` with ``m =``
    :func:`ema_momentum` ``(decay, iteration)``. Buffers (batch-norm running statistics)
    are those of the online generator (Ignite's ``handle_buffers="copy"``). The average is
    saved with the trainer's state, so snapshots and ``--resume`` keep it.

    A run resumed from a snapshot that holds no average (it was trained without one)
    starts the average from the generator's current weights, not from the untrained
    ones it was built with, and says so in one line on ``out``.

    Args:
        gen: the online generator.
        decay: how much of the average each update keeps, in (0, 1); 0.999 averages over
            roughly the last thousand iterations.
        out: where the note of an average started mid-run goes (stderr by default).

    Example::

        ema = E.EMA(gen, decay=0.999)
        trainer.extend(ema)
        trainer.extend(E.SampleGrid(ema.ema_model, z_dim))
    """

    trigger = (1, "iteration")
    priority = PRIORITY_EMA
    name = "ema"

    def __init__(self, gen: nn.Module, decay: float = 0.999, out: IO[str] | None = None) -> None:
        if isinstance(decay, bool) or not 0.0 < decay < 1.0:
            raise UsageError(f"Argument `decay` should be between 0 and 1 (e.g. 0.999), but given {decay!r}")
        self.decay = decay
        self._handler = EMAHandler(gen, momentum=1.0 - decay, handle_buffers="copy")
        self._attached_to: Any = None
        self._restored = False
        self._out = out

    @property
    def ema_model(self) -> nn.Module:
        """The averaged generator (in eval mode; sample from it)."""
        return self._handler.ema_model

    def initialize(self, trainer: Trainer) -> None:
        self._attach(trainer.engine)
        iteration = trainer.engine.state.iteration
        if iteration and not self._restored:  # resumed, but the snapshot holds no average
            self.ema_model.load_state_dict(self._handler.model.state_dict())
            (self._out or sys.stderr).write(
                f"note: the generator's moving average starts at iteration {iteration} from the current "
                f"weights (the checkpoint holds no average)\n"
            )
        self._restored = True  # from now on the average is this run's own, also on a second run()

    def _attach(self, engine: Any) -> None:
        if self._attached_to is engine:
            return
        engine.register_events(*_EMAEvents)
        self._handler.attach(engine, name="ema_momentum", warn_if_exists=False, event=_EMAEvents.UPDATE)
        self._attached_to = engine

    def __call__(self, trainer: Trainer) -> None:
        engine = trainer.engine
        engine.state.ema_momentum = ema_momentum(self.decay, engine.state.iteration)
        engine.fire_event(_EMAEvents.UPDATE)

    def state_dict(self) -> dict[str, Any]:
        return {"ema_model": self.ema_model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ema_model.load_state_dict(state["ema_model"])
        self._restored = True
