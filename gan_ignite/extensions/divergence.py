"""DivergenceCheck: :class:`FiniteGuard` and :class:`TrainingHealth` as one extension.

The two concerns it joins are extensions of their own, which the experiments register
separately:

- :class:`~gan_ignite.extensions.FiniteGuard` stops the run when an observation value or
  a weight becomes NaN or infinite, before the writers and the snapshot of that iteration;
- :class:`~gan_ignite.extensions.TrainingHealth` warns when the discriminator wins
  outright or the samples collapse (``gen/diversity``).

``DivergenceCheck`` keeps the arguments it had when it was both, so code written for it
runs unchanged, with the same messages and warnings. Since the guard became cheap, the
weights are checked at the end of each ``interval`` and at each ``snapshots`` firing
rather than every iteration (see :class:`FiniteGuard` for why no checkpoint misses it).
Its saved state is the health part's state as it always was, plus the guard's under
``"guard"``, so checkpoints written by the former ``DivergenceCheck`` resume.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from torch import nn

from gan_ignite.extensions._non_finite import DEFAULT_HINT, PRIORITY_CHECK
from gan_ignite.extensions.extension import Extension
from gan_ignite.extensions.finite_guard import FiniteGuard
from gan_ignite.extensions.training_health import TrainingHealth, reports_probabilities, rms_pairwise_distance
from gan_ignite.triggers import TriggerLike

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["DivergenceCheck", "PRIORITY_CHECK", "reports_probabilities", "rms_pairwise_distance"]


class DivergenceCheck(Extension):
    """Stops a diverged run and warns about a winning discriminator or collapsing samples.

    Every iteration it runs its :attr:`guard` (a :class:`FiniteGuard`) and then its
    :attr:`health` (a :class:`TrainingHealth`), both at the top priority.

    Args:
        gen, z_dim: as :class:`TrainingHealth`'s.
        interval: the period of both: the warnings' checks, and the guard's check of
            device values and weights, e.g. ``(10, 'iteration')``.
        snapshots: when the guard checks as well (default: every epoch end), as
            :class:`FiniteGuard`'s.
        check_weights: whether the guard checks the networks' parameters and buffers.
        hint: the remedy ending the divergence message.
        **health: the other options of :class:`TrainingHealth` (``patience``,
            ``dis_wins``, ``loss``, ``real_above``, ``fake_below``, ``diversity_below``,
            ``n_samples``, ``observe_diversity``, ``seed``, ``device``, ``out``).
    """

    trigger = (1, "iteration")
    priority = PRIORITY_CHECK
    name = "DivergenceCheck"

    def __init__(
        self,
        gen: nn.Module | None = None,
        z_dim: int | None = None,
        *,
        interval: TriggerLike = (10, "iteration"),
        check_weights: bool = True,
        snapshots: TriggerLike = (1, "epoch"),
        hint: str = DEFAULT_HINT,
        **health: Any,
    ) -> None:
        # The warnings' options are TrainingHealth's own: given through, not repeated.
        self.health = TrainingHealth(gen, z_dim, interval=interval, hint=hint, **health)
        self.guard = FiniteGuard(interval=interval, snapshots=snapshots, check_weights=check_weights, hint=hint)

    @property
    def dis_wins(self) -> bool | None:
        """Whether the winning-discriminator check runs (decided at ``initialize`` when ``None``)."""
        return self.health.dis_wins

    def initialize(self, trainer: Trainer) -> None:
        self.guard.initialize(trainer)
        self.health.initialize(trainer)

    def __call__(self, trainer: Trainer) -> None:
        self.guard(trainer)
        self.health(trainer)

    def state_dict(self) -> dict[str, Any]:
        return {**self.health.state_dict(), "guard": self.guard.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.health.load_state_dict(state)
        self.guard.load_state_dict(state.get("guard", {}))  # none from before the split: guessed
