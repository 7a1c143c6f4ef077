"""Keep freed memory in the process for the next slot's arrays (glibc only).

Every slot the batched dynamics allocate fresh arrays of a few hundred kB to
a few MB (channel draws, gains, the next state). glibc serves large blocks
with ``mmap`` (above a threshold that it adjusts at run time) and trims the
top of its heap when more than a threshold is free, so many of these arrays
are returned to the OS when freed and page-faulted in again in the next
slot: at N = 1,024 sub-envs of the medium scenario this costs about a sixth
of a step (docs/benchmarks.md). Fixing the mmap threshold at 32 MB and the
trim threshold at 256 MB keeps the memory in the heap for reuse. (Setting
only one of the two is slower than glibc's defaults: a fixed value turns
off glibc's adjustment of both.)

Applied once, when ``gainnet_rl.envs`` is imported, on Linux with glibc and
64-bit pointers. The cost: freed memory is no longer returned to the OS
promptly, so the resident memory of the process (torch's allocations
included) can stay well above what it uses. Set the environment variable
``GAINNET_RL_MALLOC_TUNING`` to ``0`` (or ``false``, ``no``, ``off``) before
the import to leave malloc alone.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_BYTES = 32 * 1024 * 1024  # glibc's largest allowed mmap threshold on 64-bit
_TRIM_BYTES = 256 * 1024 * 1024
_OFF = ("0", "false", "no", "off")

applied = False  # whether the thresholds were set in this process


def supported() -> bool:
    """Linux with glibc and 64-bit pointers: where the tuning applies."""
    return (
        sys.platform.startswith("linux")
        and platform.libc_ver()[0] == "glibc"
        and ctypes.sizeof(ctypes.c_void_p) == 8
    )


def tune_malloc() -> bool:
    """Set glibc's mmap and trim thresholds (once). Returns whether they are set."""
    global applied
    if applied or os.environ.get("GAINNET_RL_MALLOC_TUNING", "1").strip().lower() in _OFF:
        return applied
    if not supported():
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # The mmap threshold first: it is the one glibc may refuse (returns 0), and
    # then nothing is changed; the trim threshold accepts any value.
    applied = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_BYTES)
    )
    return applied
