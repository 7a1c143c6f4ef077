"""Keep freed memory in the process for the next slot's arrays (glibc only).

Every slot the batched dynamics allocate fresh arrays of a few hundred kB to
a few MB (channel draws, gains, the next state). glibc serves blocks above
128 kB with ``mmap`` and returns them to the OS when freed, so each slot
page-faults that memory in again; at N = 1,024 sub-envs of the medium
scenario this is about a sixth of a step (docs/benchmarks.md). Raising
glibc's mmap and trim thresholds keeps the memory in the heap for reuse.

Applied once, when ``gainnet_rl.envs`` is imported, on Linux with glibc;
the cost is that the process keeps up to ``_TRIM_BYTES`` of freed memory
instead of returning it. Set the environment variable
``GAINNET_RL_MALLOC_TUNING=0`` before the import to leave malloc alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_BYTES = 32 * 1024 * 1024  # glibc's largest allowed mmap threshold on 64-bit
_TRIM_BYTES = 256 * 1024 * 1024

applied = False  # whether the thresholds were set in this process


def tune_malloc() -> bool:
    """Raise glibc's mmap and trim thresholds (once). Returns whether they are set."""
    global applied
    if applied or os.environ.get("GAINNET_RL_MALLOC_TUNING", "1") == "0":
        return applied
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    applied = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_BYTES)
    )
    return applied
