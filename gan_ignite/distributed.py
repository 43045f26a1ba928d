"""What a run of several processes shares: averaged observations, agreed numbers, unwrapped networks.

Ignite's ``ignite.distributed`` (``idist``) does the communication; this module only
says *what* the GAN trainer communicates, one collective per iteration:

- every observation value, averaged over the processes (a ``(value, weight)`` pair as a
  weighted mean), so that each process's extensions and stop trigger see the numbers of
  the global batch, and a non-finite value stops every process at the same iteration;
- in the same tensor, how many processes received each stop signal, so that a SIGINT or
  SIGTERM that reached one process stops all of them at the same iteration boundary.

With one process nothing is communicated and nothing here costs anything.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import ignite.distributed as idist
import torch
from torch import Tensor, nn

__all__ = ["unwrap", "mean_over_processes", "broadcast_numbers", "is_main_process", "quiet_ignite"]


def is_main_process() -> bool:
    """Whether this is the process that writes the run directory (global rank 0)."""
    return idist.get_rank() == 0


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a ``DistributedDataParallel`` (or ``DataParallel``) wrapper, or ``module`` itself."""
    wrappers = (nn.parallel.DistributedDataParallel, nn.DataParallel)
    return module.module if isinstance(module, wrappers) else module


def _number(value: Any) -> Tensor | float | None:
    if isinstance(value, Tensor) and value.numel() == 1:
        return value.detach().reshape(())
    if isinstance(value, (int, float)):  # bool too
        return float(value)
    return None


def mean_over_processes(
    observation: Mapping[str, Any], counts: Sequence[float]
) -> tuple[dict[str, Any], Tensor]:
    """Average an observation over the processes, and sum ``counts``, in one ``all_reduce``.

    Numbers and one-element tensors become their mean over the processes; a ``(value,
    weight)`` pair becomes the weighted mean with the summed weight, and is left out on
    the host when no process had any weight. Other values (not numbers) stay this
    process's own. Every process must report the same keys in the same order, as one
    update function on every process does.

    Values stay tensors on the device when they came as tensors (no host sync); numbers
    that came as floats come back as floats.

    Returns:
        The averaged observation, and the summed ``counts`` as a tensor on the device of
        the collective.
    """
    keys, parts, as_float = [], [], []
    for key, value in observation.items():
        pair = value if isinstance(value, tuple) and len(value) == 2 else None
        numbers = [_number(v) for v in pair] if pair is not None else [_number(value)]
        if any(n is None for n in numbers):
            continue
        keys.append((key, pair is not None))
        as_float.append(all(isinstance(n, float) for n in numbers))
        if pair is not None:
            value_, weight = numbers
            parts += [_times(value_, weight), weight]
        else:
            parts.append(numbers[0])
    device = idist.device()
    if not parts and not counts:
        return dict(observation), torch.zeros(0)
    flat = torch.stack([_on(device, p) for p in [*parts, *counts]])
    flat = idist.all_reduce(flat)
    summed, total = flat[: len(parts)], flat[len(parts) :]
    host = summed.tolist() if any(as_float) else None
    result, i, world = dict(observation), 0, idist.get_world_size()
    for (key, is_pair), floats in zip(keys, as_float):
        source = host if floats else summed
        if is_pair:
            weighted, weight = source[i], source[i + 1]
            i += 2
            if floats:
                if weight > 0:
                    result[key] = (weighted / weight, weight)
                else:
                    result.pop(key)
            else:
                mean = torch.where(weight > 0, weighted / weight.clamp_min(1e-300), torch.zeros_like(weight))
                result[key] = (mean.float(), weight.float())
        else:
            result[key] = source[i] / world if floats else (source[i] / world).float()
            i += 1
    return result, total


def _on(device: torch.device, value: Tensor | float) -> Tensor:
    """A float64 0-d tensor on ``device``, without a host sync: a number is filled in, not copied."""
    if isinstance(value, Tensor):
        return value.to(device=device, dtype=torch.float64, non_blocking=True)
    return torch.full((), value, dtype=torch.float64, device=device)


def _times(value: Tensor | float, weight: Tensor | float) -> Tensor | float:
    if isinstance(value, float) and isinstance(weight, float):
        return value * weight if weight else 0.0  # a zero-weight mean may be NaN: it counts for nothing
    value, weight = torch.as_tensor(value, dtype=torch.float64), torch.as_tensor(weight, dtype=torch.float64)
    return torch.where(weight > 0, value * weight, torch.zeros_like(value))


def broadcast_numbers(numbers: Mapping[str, float], keys: Sequence[str]) -> dict[str, float]:
    """The main process's ``numbers`` (at ``keys``) on every process; other processes pass anything.

    One ``broadcast`` of a float64 tensor; with one process, ``numbers`` itself.
    """
    if idist.get_world_size() == 1:
        return dict(numbers)
    values = [float(numbers[k]) for k in keys] if is_main_process() else [0.0] * len(keys)
    shared = idist.broadcast(torch.tensor(values, dtype=torch.float64, device=idist.device()), src=0)
    return dict(zip(keys, shared.tolist()))


@contextlib.contextmanager
def quiet_ignite() -> Iterator[None]:
    """Leave out the INFO lines Ignite's launcher and ``auto_model`` log (their loggers are set to INFO anew
    on every call, so their levels cannot be set once)."""
    previous = logging.root.manager.disable
    logging.disable(max(previous, logging.INFO))
    try:
        yield
    finally:
        logging.disable(previous)
