"""The memory-bandwidth bound of a batched env-step (docs/benchmarks.md).

    python scripts/memory_bound.py            # medium, N = 1,024
    python scripts/memory_bound.py large 1024

Measures this machine's copy bandwidth (``np.copyto`` of 256 MB, read plus
write, best of 5) and counts the bytes a batched env-step touches at most:
the sub-env's whole ``State`` once, plus the outcome arrays and the
observation the step writes. Their ratio is the fastest an env-step could
run if it only streamed its memory; the measured speed (``gainnet-benchmark``)
against it shows how far the step is from memory-bound.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gainnet_rl.envs.vector_env import GainNetVectorEnv


def copy_bandwidth_bps(mb: int = 256, repeats: int = 5) -> float:
    """Best-of-``repeats`` bytes/s of ``np.copyto`` over ``mb`` MB (read + write)."""
    src = np.ones(mb * 2**20 // 8)
    dst = np.empty_like(src)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best


def bytes_per_env_step(scenario: str, num_envs: int) -> dict[str, float]:
    """Bytes per sub-env of the state, the outcome arrays and the observation."""
    env = GainNetVectorEnv(num_envs, scenario)
    obs, _ = env.reset(seed=0)
    eng = env.engine
    state = sum(
        sum(a.nbytes for a in v.values()) if isinstance(v, dict) else v.nbytes
        for v in vars(eng.state).values()
        if isinstance(v, (np.ndarray, dict))
    )
    outcomes = sum(a.nbytes for a in eng.outcomes().values())
    return {
        "state": state / num_envs,
        "outcomes": outcomes / num_envs,
        "observation": np.asarray(obs).nbytes / num_envs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default="medium")
    ap.add_argument("num_envs", nargs="?", type=int, default=1024)
    args = ap.parse_args()
    bw = copy_bandwidth_bps()
    parts = bytes_per_env_step(args.scenario, args.num_envs)
    total = sum(parts.values())
    print(f"copy bandwidth: {bw / 1e9:.1f} GB/s (np.copyto of 256 MB, read + write, best of 5)")
    for k, v in parts.items():
        print(f"  {k}: {v / 1e3:.1f} kB per sub-env")
    print(
        f"at most {total / 1e3:.1f} kB touched per env-step: {1e6 * total / bw:.2f} us, "
        f"a bound of {bw / total:,.0f} env-steps/s ({args.scenario}, N = {args.num_envs})"
    )


if __name__ == "__main__":
    main()
