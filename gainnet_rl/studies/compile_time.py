"""How long the compiled kernels take to build, and that the cache spares it.

Each measurement is a fresh Python process that imports the package, builds
a medium scenario's vector env and steps it once, with numba's cache in a
given directory: first an empty one (every kernel compiles), then the same
one again (every kernel loads from the cache, as in every later process:
tests, CLIs, sub-env workers). Reported by ``gainnet-benchmark``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from typing import Any

_PROBE = """
import time
t0 = time.perf_counter()
import numpy as np
from gainnet_rl.envs.vector_env import GainNetVectorEnv
env = GainNetVectorEnv(2, "medium")
_, info = env.reset(seed=0)
for _ in range(50):
    env.step(info["action_mask"].argmax(axis=1))
print(time.perf_counter() - t0)
"""


def _probe(cache_dir: str) -> tuple[float, float]:
    """(in-process seconds to import, build and step; the process's wall seconds)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1]), time.perf_counter() - t0


def measure() -> dict[str, Any]:
    """Seconds to the first steps with a cold and with a warm kernel cache."""
    with tempfile.TemporaryDirectory(prefix="gainnet-numba-") as cache:
        cold, cold_wall = _probe(cache)
        warm, warm_wall = _probe(cache)
        files = sum(len(f) for _, _, f in os.walk(cache))
    return {
        "cold_s": cold,
        "warm_s": warm,
        "cold_process_s": cold_wall,
        "warm_process_s": warm_wall,
        "compile_s": cold - warm,
        "cache_files": files,
        "what": "import gainnet_rl, build a medium vector env of 2, reset, 50 steps",
    }
