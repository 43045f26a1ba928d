"""LRScheduler: step a torch or Ignite learning-rate scheduler from the trainer (pytorch-pfn-extras').

Every ``torch.optim.lr_scheduler`` scheduler (``StepLR``, ``MultiStepLR``,
``CosineAnnealingLR``, ``OneCycleLR``, ..., ``ReduceLROnPlateau``) and every Ignite
parameter scheduler (``LinearCyclicalScheduler``, ``CosineAnnealingScheduler``,
``PiecewiseLinear``, ``ConcatScheduler``, Ignite's ``LRScheduler`` wrapper,
``ParamGroupScheduler``) runs as an extension: at each firing of its trigger (every epoch
by default) the scheduler takes one step.

The two families count differently, and each keeps its own table:

- a torch scheduler sets its first value when it is made, and ``step()`` after an
  iteration or epoch sets the value for the next one, as in a plain PyTorch loop;
- an Ignite scheduler sets a value when called, meant at the *start* of an iteration
  (``Events.ITERATION_STARTED``). The extension runs after iterations, so it is called
  once more in ``initialize``: iteration 1 trains with the scheduler's first value and
  iteration ``k`` with its ``k``-th, as when attached to the engine.

``ReduceLROnPlateau`` steps with an observed value, ``val/loss`` by default (as
pytorch-pfn-extras); choose the key with ``stepper=LRScheduler.step_by_value('dis/loss')``.
Ignite's ``ReduceLROnPlateauScheduler`` reads ``engine.state.metrics`` instead, which
this trainer does not fill: use torch's ``ReduceLROnPlateau`` with ``step_by_value``.

The scheduler's ``state_dict`` is saved with the run, with the values it set last,
which ``initialize`` puts back into the optimizer on resume: a resumed run continues the
schedule exactly, even with an optimizer whose state was not restored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ignite.handlers.param_scheduler import ParamGroupScheduler, ParamScheduler, ReduceLROnPlateauScheduler
from torch import Tensor
from torch.optim.lr_scheduler import LRScheduler as TorchLRScheduler
from torch.optim.lr_scheduler import ReduceLROnPlateau

from gan_ignite.errors import UsageError
from gan_ignite.extensions.extension import Extension
from gan_ignite.triggers import TriggerLike, get_trigger

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["LRScheduler"]

Stepper = Callable[["Trainer", Any], None]


def _default_stepper(trainer: Trainer, scheduler: Any) -> None:
    """``ReduceLROnPlateau`` by ``val/loss``, other torch schedulers by ``step()``, Ignite's by a call."""
    if isinstance(scheduler, ReduceLROnPlateau):
        LRScheduler.step_by_value("val/loss")(trainer, scheduler)
    elif isinstance(scheduler, TorchLRScheduler):
        scheduler.step()
    else:
        scheduler(trainer.engine)  # an Ignite handler, called with the engine


def _scheduled(scheduler: Any) -> list[tuple[dict[str, Any], str]]:
    """``(param_group, key)`` of every hyperparameter the scheduler sets (none for one unknown)."""
    if isinstance(scheduler, TorchLRScheduler):
        return [(group, "lr") for group in scheduler.optimizer.param_groups]
    if isinstance(scheduler, ParamScheduler):
        return [(group, scheduler.param_name) for group in scheduler.optimizer_param_groups]
    if isinstance(scheduler, ParamGroupScheduler):
        return [pair for sub in scheduler.schedulers for pair in _scheduled(sub)]
    return []


def _needs_first_call(scheduler: Any) -> bool:
    """Whether an Ignite scheduler has not set its first value yet (torch's set it when made)."""
    if isinstance(scheduler, ReduceLROnPlateauScheduler):
        return False  # its first value is the optimizer's own, and a call needs a metric
    if isinstance(scheduler, ParamScheduler):
        return scheduler.event_index == 0
    if isinstance(scheduler, ParamGroupScheduler):
        return all(_needs_first_call(sub) for sub in scheduler.schedulers)
    return False


def _number(value: Any) -> float:
    return float(value.item() if isinstance(value, Tensor) else value)


class LRScheduler(Extension):
    """Steps a learning-rate scheduler at each firing of its trigger.

    Example::

        sched = torch.optim.lr_scheduler.StepLR(opt_gen, step_size=10, gamma=0.5)
        trainer.extend(LRScheduler(sched))                      # a step per epoch

        cyclic = ignite.handlers.LinearCyclicalScheduler(opt_dis, "lr", 1e-4, 1e-3, cycle_size=100)
        trainer.extend(LRScheduler(cyclic, trigger=(1, "iteration")), name="dis_lr")

    Args:
        scheduler: a ``torch.optim.lr_scheduler`` scheduler or an Ignite parameter scheduler.
        stepper: ``stepper(trainer, scheduler)`` takes one step; by default ``step()``
            (``ReduceLROnPlateau``: ``step(observation['val/loss'])``) for a torch
            scheduler and ``scheduler(trainer.engine)`` for an Ignite one.
        trigger: when to step, ``(1, 'epoch')`` by default.
        wait_for_first_optimizer_step: do not step a torch scheduler before its
            optimizer's first ``step()``; a ``GradScaler`` skips the optimizer steps
            whose gradients overflowed, and torch warns about a scheduler that runs ahead.

    Raises:
        UsageError: ``scheduler`` is neither a torch nor an Ignite scheduler (without a
            ``stepper`` of your own), or ``stepper`` is not callable.
    """

    def __init__(
        self,
        scheduler: Any,
        *,
        stepper: Stepper = _default_stepper,
        trigger: TriggerLike = (1, "epoch"),
        wait_for_first_optimizer_step: bool = False,
    ) -> None:
        if not callable(stepper):
            raise UsageError(f"Argument `stepper` should be a function (trainer, scheduler), but given {stepper!r}")
        known = isinstance(scheduler, (TorchLRScheduler, ParamScheduler, ParamGroupScheduler))
        if stepper is _default_stepper and not known:
            raise UsageError(
                f"Argument `scheduler` should be a torch.optim.lr_scheduler scheduler or an Ignite parameter "
                f"scheduler, but given {type(scheduler).__name__}; pass `stepper` to step another kind"
            )
        self.scheduler = scheduler
        self.stepper = stepper
        self.trigger = trigger
        get_trigger(trigger)  # a bad trigger fails here, not at registration
        self.wait_for_first_optimizer_step = wait_for_first_optimizer_step
        self._last_values: list[float] | None = None

    @staticmethod
    def step_by_value(key: str) -> Stepper:
        """A stepper that calls ``scheduler.step(trainer.observation[key])`` (for ``ReduceLROnPlateau``).

        Raises (when it steps):
            UsageError: the observation has no ``key`` at that moment.
        """

        def stepper(trainer: Trainer, scheduler: Any) -> None:
            if key not in trainer.observation:
                observed = ", ".join(repr(k) for k in trainer.observation) or "none"
                raise UsageError(
                    f"LRScheduler steps {type(scheduler).__name__} by the observation {key!r}, which is not among "
                    f"the keys observed at iteration {trainer.iteration} ({observed}); "
                    f"pass `stepper=LRScheduler.step_by_value(KEY)` with a key observed when it fires"
                )
            scheduler.step(_number(trainer.observation[key]))

        return stepper

    def initialize(self, trainer: Trainer) -> None:
        if self._last_values is not None:  # resuming: the values of the saved run's last step
            for (group, key), value in zip(_scheduled(self.scheduler), self._last_values):
                group[key] = value
        elif _needs_first_call(self.scheduler):
            self._step(trainer)

    def __call__(self, trainer: Trainer) -> None:
        if self.wait_for_first_optimizer_step and self._optimizer_not_stepped():
            return
        self._step(trainer)

    def _step(self, trainer: Trainer) -> None:
        self.stepper(trainer, self.scheduler)
        self._last_values = [_number(group[key]) for group, key in _scheduled(self.scheduler)]

    def _optimizer_not_stepped(self) -> bool:
        # torch's schedulers (ReduceLROnPlateau aside) wrap optimizer.step to set ``_opt_called``.
        scheduler = self.scheduler
        if not isinstance(scheduler, TorchLRScheduler) or isinstance(scheduler, ReduceLROnPlateau):
            return False
        return not getattr(scheduler.optimizer, "_opt_called", False)

    def state_dict(self) -> dict[str, Any]:
        return {"scheduler": self.scheduler.state_dict(), "last_values": self._last_values}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state["scheduler"])
        self._last_values = state.get("last_values")  # pytorch-pfn-extras' state has none
