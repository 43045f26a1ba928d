"""Keeping freed host memory in the process, so that each iteration does not fault it in again.

A training iteration on the CPU allocates and frees the same few hundred megabytes of
activations and gradients every time. PyTorch's CPU allocator is the C library's
``malloc`` with no cache of its own, and glibc's ``malloc`` hands large freed blocks back
to the kernel: blocks above its *mmap threshold* are unmapped when freed, and a free
region at the top of the heap above its *trim threshold* is trimmed away. The next
iteration's allocations then fault every page in again, and the kernel zeroes each one.
Measured on 2 CPU cores (glibc 2.36, torch 2.14): 1,000-1,600 page faults per iteration
of the 28x28 DCGAN's float32 step, which then ran about 15% slower than with the freed
memory kept. ``benchmarks/host_memory.py`` measures it. How many depends on the heap's
layout, since glibc raises both thresholds as it frees blocks: now and then a run settles
where it faults none.

:func:`keep_freed_memory` raises both thresholds with glibc's documented ``mallopt``: the
mmap threshold to 32 MiB (the largest glibc accepts; larger blocks are still mapped
afresh, and at that size the compute dwarfs the faults) and the trim threshold to 1 GiB.
The peak resident memory does not change (a process can only keep what it once used);
between iterations it stays at that peak instead of shrinking and growing again.

Why by hand: no library does it from inside a running process. The usual cure, a
caching allocator (jemalloc or tcmalloc, as ``torch.backends.xeon.run_cpu`` preloads),
has to be installed and preloaded before the process starts. Where the C library is
not glibc (musl, macOS, Windows) this does nothing.
"""

from __future__ import annotations

import ctypes
import platform

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 << 20  # glibc's largest: HEAP_MAX_SIZE / 2 on 64-bit machines
TRIM_THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Make glibc's ``malloc`` keep freed blocks for reuse; whether it could (``False`` off glibc).

    Process-wide and idempotent; it changes how memory is recycled, never a value.
    Fixing either threshold turns off glibc's own adjustment of both, so both are set
    (the trim threshold alone would leave every block above 128 KiB mapped afresh).
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)  # the process's own C library, already loaded
    # mallopt returns 1 on success.
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
