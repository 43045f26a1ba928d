"""Mixed precision for the update step: autocast around the forwards, a gradient scaler per optimizer.

Ignite has no GAN helper for this (see IGNITE_NOTES.md), and torch's pieces are the
right ones: :class:`torch.autocast` runs the networks' matrix products and convolutions
in a 16-bit type while reductions and losses stay in float32, and for float16, whose
range is narrow, a :class:`torch.amp.GradScaler` multiplies each loss before the backward
pass so that small gradients do not flush to zero, then unscales them, skips a step
whose gradients overflowed and adapts the scale. The two networks' losses have unrelated
magnitudes, so each optimizer gets its own scaler (one shared scaler would be lowered by
whichever network overflows). Scalers are state: they go into checkpoints and resume.

Modes:

- ``off``: float32 throughout.
- ``bf16``: bfloat16 autocast. Its range is float32's, so no scaler is needed. Fast where
  the hardware has bf16 units (recent GPUs, CPUs with AMX or AVX-512-BF16); elsewhere it
  is emulated and much slower than float32.
- ``fp16``: float16 autocast with a scaler per optimizer, the usual choice on CUDA. It
  also runs on the CPU (slowly), which is how its checkpoints are tested without a GPU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import torch

from gan_ignite.errors import UsageError
from gan_ignite.options import AMP_MODES

__all__ = ["AMP_MODES", "MixedPrecision", "slow_16_bit"]

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def slow_16_bit(mode: str, device: torch.device | str) -> str | None:
    """Why ``mode``'s autocast is slower than float32 on ``device``, and what to do; ``None`` where it is native.

    A CPU multiplies bfloat16 natively only with AVX-512-BF16 or AMX, float16 only with
    AMX-FP16; elsewhere each product converts to float32 and back. Measured for the
    28x28 DCGAN's step: bf16 1.3-1.4x faster than float32 on a CPU with AVX-512-BF16, 22x
    slower on one with only AVX2. A CUDA GPU before Ampere emulates bfloat16 too; float16
    is native on every GPU torch supports.
    """
    device = torch.device(device)
    if mode == "off" or device.type not in ("cpu", "cuda"):
        return None
    if device.type == "cuda":
        if mode == "bf16" and not torch.cuda.is_bf16_supported(including_emulation=False):
            return "this GPU has no bfloat16 units (Ampere and newer have); use --amp fp16, which it runs natively"
        return None
    if mode == "bf16" and (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()):
        return None
    if mode == "fp16" and torch.cpu._is_amx_fp16_supported():
        return None
    units = "AVX-512-BF16 or AMX" if mode == "bf16" else "AMX-FP16"
    return (f"this CPU ({torch.backends.cpu.get_cpu_capability()}) has no {units}, so {mode} is emulated, "
            f"many times slower than float32; leave --amp off here")


class MixedPrecision:
    """How one update step runs its forwards and minimises its losses.

    Args:
        mode: ``"off"``, ``"bf16"`` or ``"fp16"`` (see the module's docstring).
        device: where the networks run; autocast is per device type.
        names: the optimizers' names (``gen``, ``dis``); ``fp16`` makes one scaler each.

    Attributes:
        scalers: the gradient scalers by optimizer name (empty unless ``fp16``).
    """

    def __init__(self, mode: str, device: torch.device, names: Iterable[str]) -> None:
        if mode not in AMP_MODES:
            raise UsageError(f"Argument `amp` should be one of {', '.join(AMP_MODES)}, but given {mode!r}")
        self.mode = mode
        self.device = device
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        if mode == "fp16":
            self.scalers = {name: torch.amp.GradScaler(device.type) for name in names}

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The context for the forwards and losses of one step (does nothing when ``off``)."""
        if self.mode == "off":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=_DTYPES[self.mode])

    def minimize(self, name: str, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backpropagate ``loss`` and step ``optimizer``, through its scaler with ``fp16``.

        The backward pass runs outside autocast (torch's rule): its types follow the forward's.
        """
        optimizer.zero_grad(set_to_none=True)
        scaler = self.scalers.get(name)
        if scaler is None:
            loss.backward()
            optimizer.step()
            return
        scaler.scale(loss).backward()
        scaler.step(optimizer)  # skipped when the scaled gradients overflowed
        scaler.update()

    @property
    def to_save(self) -> dict[str, torch.amp.GradScaler]:
        """The scalers under checkpoint names, ``scaler_gen`` and ``scaler_dis``."""
        return {f"scaler_{name}": scaler for name, scaler in self.scalers.items()}
