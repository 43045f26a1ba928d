"""Every random number generator a run draws from, as one checkpointable object.

Resuming a run exactly means continuing every RNG where it stopped: Python's ``random``,
NumPy's global generator, torch's CPU generator (which also drives the data loader's
shuffling and worker seeds) and every CUDA device's generator (in a run of several processes, one device each: the
main process's device's state is restored on every process's own). Ignite's ``Checkpoint``
saves any object with ``state_dict``/``load_state_dict``; this is that object.

States are stored as tensors and plain Python values only, because Ignite loads
checkpoints with ``torch.load(weights_only=True)``, which refuses NumPy arrays.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["RNGStates"]


class RNGStates:
    """Captures and restores the Python, NumPy, torch and CUDA RNG states."""

    def state_dict(self) -> dict[str, Any]:
        version, mt_state, gauss = random.getstate()
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        state: dict[str, Any] = {
            "python": {"version": version, "state": torch.tensor(mt_state, dtype=torch.int64), "gauss": gauss},
            "numpy": {
                "kind": kind,
                "keys": torch.from_numpy(keys.astype(np.int64)),
                "pos": int(pos),
                "has_gauss": int(has_gauss),
                "cached": float(cached),
            },
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
            state["cuda_device"] = torch.cuda.current_device()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        py = state["python"]
        random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss"]))
        npy = state["numpy"]
        keys = npy["keys"].numpy().astype(np.uint32)
        np.random.set_state((npy["kind"], keys, npy["pos"], npy["has_gauss"], npy["cached"]))
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            self._load_cuda(state)

    @staticmethod
    def _load_cuda(state: dict[str, Any]) -> None:
        import ignite.distributed as idist

        if idist.get_world_size() == 1:
            torch.cuda.set_rng_state_all(state["cuda"])
            return
        # Each process of a run draws on its own device, all alike (they are seeded alike and
        # draw the same numbers): the state of the saving process's device is every one's.
        saved = state["cuda"][state.get("cuda_device", 0)]
        torch.cuda.set_rng_state(saved, device=torch.cuda.current_device())
