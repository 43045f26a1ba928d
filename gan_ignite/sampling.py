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

In a run of several processes each one reads its own share of the same order, as
``DistributedSampler`` deals it: process ``rank`` of ``num_replicas`` takes every
``num_replicas``-th sample from its ``rank``-th on, and the last ``len % num_replicas``
samples are left out so that every share is equally long. Their ``i``-th batches
together are then exactly the ``i``-th batch of one process with ``num_replicas`` times
the batch size, which is what lets a run change its number of processes on resume.
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
            as ``RandomSampler`` does (so a seeded run stays seeded; in several processes
            pass a seed, or each would draw another one).
        num_replicas: the processes that share the data (``idist.get_world_size()``).
        rank: which of them this one is (``idist.get_rank()``).

    Attributes:
        dataset_size: the dataset's length.
        num_samples: the samples this process takes each epoch (its share).
        epoch: the epoch (from 0) whose order ``__iter__`` yields.
        start: how many samples of that order to skip (a resumed, partly done epoch).
        worker_generator: pass it as the ``DataLoader``'s ``generator``: the loader
            draws its workers' base seed from it when an epoch's iterator is created.
    """

    def __init__(self, data_source: Sized, seed: int | None = None, num_replicas: int = 1, rank: int = 0) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"Argument `rank` should be in [0, {num_replicas - 1}], but given {rank}")
        self.dataset_size = len(data_source)
        self.num_replicas, self.rank = num_replicas, rank
        self.num_samples = self.dataset_size // num_replicas
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
        perm = torch.randperm(self.dataset_size, generator=generator)
        self._perm = perm[self.rank : self.num_replicas * self.num_samples : self.num_replicas]
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
        # The full epoch (this process's share), also when resuming part-way: Ignite's epoch length is this.
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
