"""A shuffling sampler that a resumed run can restart in the middle of an epoch.

torch's ``RandomSampler`` draws each epoch's order from the global torch RNG when the
loader is iterated, and the loader draws its workers' base seed from it too. A run
resumed in the middle of an epoch creates a fresh iterator: the order comes out
different, the batches already seen are seen again, and the two extra draws shift every
later draw of the training step (the noise ``z``). Ignite's ``DeterministicEngine``
solves this by reseeding the global RNGs at every epoch, which changes what the training
step draws, and it saves a NumPy array that ``torch.load(weights_only=True)`` refuses.

:class:`ResumableSampler` instead makes the order a pure function of ``(seed, epoch)``,
as ``DistributedSampler`` does, starts ``start`` samples into it, and leaves the global
RNGs alone. Its ``worker_generator``, handed to the ``DataLoader`` as ``generator``, is
reseeded from ``(seed, epoch)`` too, so the workers' seeds (base seed + worker id) are
the same whether or not the run was interrupted. The :class:`~gan_ignite.trainer.Trainer`
calls :meth:`ResumableSampler.set_epoch` at every epoch start with the position taken
from the engine's iteration counter, which the checkpoint holds; the sampler's own saved
state is only its seed.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator, Sized
from typing import Any

import torch
from torch.utils.data import Sampler

__all__ = ["ResumableSampler", "ignore_stop_signals"]

_SEED_RANGE = 2**62  # seed + epoch stays a valid (64-bit) generator seed


class ResumableSampler(Sampler[int]):
    """Shuffles ``range(len(data_source))`` anew each epoch, reproducibly and restartably.

    Args:
        data_source: the dataset (only its length is used).
        seed: fixes every epoch's order; ``None`` draws one from the global torch RNG,
            as ``RandomSampler`` does (so a seeded run stays seeded).

    Attributes:
        epoch: the epoch (from 0) whose order ``__iter__`` yields.
        start: how many samples of that order to skip (a resumed, partly done epoch).
        worker_generator: pass it as the ``DataLoader``'s ``generator``: the loader
            draws its workers' base seed from it when an epoch's iterator is created.
    """

    def __init__(self, data_source: Sized, seed: int | None = None) -> None:
        self.num_samples = len(data_source)
        if seed is None:
            seed = int(torch.randint(_SEED_RANGE, ()).item())
        self.seed = int(seed)
        self.worker_generator = torch.Generator()
        self.set_epoch(0)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Yield epoch ``epoch``'s order from its ``start``-th sample on, next time."""
        if not 0 <= start <= self.num_samples:
            raise ValueError(f"Argument `start` should be in [0, {self.num_samples}], but given {start}")
        # One private generator per epoch: its first draws are the order, the next one
        # the workers' seed; nothing here touches the global RNGs.
        generator = torch.Generator().manual_seed(self.seed % _SEED_RANGE + epoch)
        self._perm = torch.randperm(self.num_samples, generator=generator)
        self._order = self._perm.tolist()
        self.worker_generator.manual_seed(int(torch.randint(_SEED_RANGE, (), generator=generator).item()))
        self.epoch, self.start = epoch, start

    def __iter__(self) -> Iterator[int]:
        # A list iterator: an iterator already created keeps its epoch's order even if
        # set_epoch is called before it is exhausted (Ignite drains it one epoch late).
        return iter(self._order[self.start :])

    def indices(self) -> torch.Tensor:
        """What ``__iter__`` yields, as one int64 tensor (a view: do not write to it)."""
        return self._perm[self.start :]

    def __len__(self) -> int:
        # The full epoch, also when resuming part-way: Ignite's epoch length is this.
        return self.num_samples

    def state_dict(self) -> dict[str, Any]:
        """The seed; the position is the engine's iteration counter, saved with it."""
        return {"seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed = int(state["seed"])
        self.set_epoch(self.epoch, self.start)


def ignore_stop_signals(worker_id: int) -> None:
    """A ``DataLoader`` ``worker_init_fn``: leave SIGINT and SIGTERM to the main process.

    A Ctrl-C reaches every process of the terminal's group. A worker that died of it
    would make the main process fail on its next batch instead of finishing the
    iteration and saving a checkpoint; the main process shuts its workers down itself.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
