"""What the divergence checks share: what a number is, its kind of non-finite, the error.

A run diverged when an observation value or a weight became NaN or infinite. The
checks (:class:`~gan_ignite.extensions.FiniteGuard`,
:class:`~gan_ignite.extensions.TrainingHealth`) stop it with one
:class:`~gan_ignite.errors.DivergenceError` of one form: what broke, the iteration, the
newest checkpoint (the last good one: the checks run before the snapshots) and a remedy.
:class:`~gan_ignite.extensions.FailOnNonNumber` shares the search for a non-finite weight
(:func:`non_finite_weight`) and keeps Chainer's message.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, NoReturn, TypeVar

import torch
from torch import Tensor

from gan_ignite.errors import DivergenceError
from gan_ignite.extensions.extension import PRIORITY_WRITER
from gan_ignite.extensions.snapshot import latest_checkpoint

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["PRIORITY_CHECK", "DEFAULT_HINT", "is_number", "kind", "stop", "weights", "non_finite_weight"]

# Before the writers: a sample grid or a log line of a NaN state is of no use.
PRIORITY_CHECK = PRIORITY_WRITER + 100
K = TypeVar("K")  # how a checked tensor is named
DEFAULT_HINT = "lower the learning rate (--lr) or change the seed (--seed), and start again (--force)"


def is_number(value: object) -> bool:
    """A Python number or a 0-d tensor: what an observation value to check is."""
    return isinstance(value, (int, float)) or isinstance(value, Tensor) and value.ndim == 0


def kind(value: float) -> str:
    """``'nan'``, ``'inf'`` or ``'-inf'``: how a non-finite number is named."""
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def stop(trainer: Trainer, what: str, hint: str, iteration: int | None = None) -> NoReturn:
    """Raise the :class:`DivergenceError` saying ``what`` broke at ``iteration`` (default: now).

    Its epoch is Ignite's epoch under way at that iteration, as ``engine.state.epoch``.
    A value found later than it was observed (a device value, checked at an interval's
    end) says so: ``..., found at iteration N``.
    """
    state = trainer.engine.state
    when = f"at iteration {state.iteration} (epoch {state.epoch})"
    if iteration is not None and iteration != state.iteration:
        epoch = (iteration - 1) // trainer.epoch_length + 1 if trainer.epoch_length else state.epoch
        when = f"at iteration {iteration} (epoch {epoch}), found at iteration {state.iteration}"
    checkpoint = latest_checkpoint(trainer.out)
    last = f"the last good checkpoint is {checkpoint}" if checkpoint else "no checkpoint was written before it"
    raise DivergenceError(f"{what} {when}; {last}; {hint}")


def weights(trainer: Trainer) -> Iterator[tuple[str, Tensor]]:
    """(name, tensor) of every floating-point parameter and buffer of the trainer's models."""
    for key, model in trainer.models.items():
        for name, t in (*model.named_parameters(), *model.named_buffers()):
            if t.is_floating_point():
                yield f"{key}.{name}", t.detach()


def non_finite_weight(tensors: Iterable[tuple[K, Tensor]]) -> tuple[K, float] | None:
    """The first ``(name, non-finite element)`` of named tensors, or ``None`` when all are finite.

    One reduction pass and one host sync: a sum is non-finite if any term is (inf + -inf
    is nan), so a finite total of the per-tensor sums proves every element finite, about
    20 times cheaper than ``isfinite()`` on each. A total that overflowed from finite
    values only costs the exact search.
    """
    tensors = list(tensors)
    if not tensors:
        return None
    device = tensors[0][1].device
    if math.isfinite(torch.stack([t.sum(dtype=torch.float32).to(device) for _, t in tensors]).sum().item()):
        return None
    for name, t in tensors:
        finite = t.isfinite()
        if not bool(finite.all()):
            return name, t[~finite].flatten()[0].item()
    return None
