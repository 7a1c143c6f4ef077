"""Where a step's time goes: exclusive wall-time shares of the dynamics' parts.

    python scripts/profile_step.py medium 1024 40    # batched env, 1024 sub-envs, 40 steps
    python scripts/profile_step.py medium 0 3000     # scalar env (num_envs 0), 3000 steps

Wraps the main functions of ``gainnet_rl.envs`` with timers (exclusive time:
a part's callees are not counted in it), steps the env with random valid
actions (after 20 untimed warm-up steps) and prints each part's share. The
timers add a little overhead, so steps/s here read a few percent below
``gainnet-benchmark``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gainnet_rl.envs import core, dynamics, slot
from gainnet_rl.envs import observation as obs_mod
from gainnet_rl.envs.gainnet_env import GainNetEnv
from gainnet_rl.envs.models import arrivals, channel, mobility
from gainnet_rl.envs.vector_env import GainNetVectorEnv

PARTS: list[tuple[Any, str, str]] = [
    (channel.UMaChannel, "advance_rows", "channel bookkeeping (per device)"),
    (
        channel.UMaChannel,
        "draw_rows",
        "channel draws (shadowing, fading, path loss; links used)",
    ),
    (mobility.RandomWaypoint, "advance_rows", "mobility kernel"),
    (arrivals.PoissonArrivals, "sample_rows", "arrival-count kernel"),
    (slot, "sense_rows", "sensing kernel (ring, uploads)"),
    (slot, "handover_rows", "handover kernel"),
    (slot, "sensing_need_rows", "links a sensing upload uses"),
    (slot, "slot_need_rows", "links a slot's requests use"),
    (slot, "frame_rows", "frame kernel (fine-tuning, knowledge)"),
    (slot, "enqueue_rows", "queueing kernel (order, request fields)"),
    (dynamics, "arrive", "arrivals rest (Python glue)"),
    (dynamics, "advance", "slot advance rest (Python glue, accounting)"),
    (core, "request_outcomes", "request option outcomes"),
    (core, "action_mask", "action masks"),
    (obs_mod, "flat_obs", "observation"),
    (dynamics, "apply_request", "apply request decision"),
    (core, "step", "core.step rest (plan decisions, loop)"),
]


def _instrument(times: dict[str, float]) -> Callable[[Any, str, str], None]:
    stack: list[float] = []

    def wrap(owner: Any, name: str, label: str) -> None:
        fn = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            stack.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                inner = stack.pop()
                times[label] = times.get(label, 0.0) + dt - inner
                if stack:
                    stack[-1] += dt

        setattr(owner, name, timed)

    return wrap


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", choices=["small", "medium", "large"])
    ap.add_argument("num_envs", type=int, help="batch size; 0 for the scalar env")
    ap.add_argument("steps", type=int)
    args = ap.parse_args()
    times: dict[str, float] = {}
    wrap = _instrument(times)
    for owner, name, label in PARTS:
        wrap(owner, name, label)
    rs = np.random.default_rng(0)
    warmup = 20  # steps untimed: the first call of each kernel loads it from numba's cache
    scalar = args.num_envs == 0
    if scalar:
        env: Any = GainNetEnv(args.scenario)
        act = lambda mask: int(np.argmax(rs.random(mask.shape) * mask))
        shell = "env shell (decode, infos, KPIs)"
    else:
        env = GainNetVectorEnv(args.num_envs, args.scenario)
        act = lambda mask: np.argmax(rs.random(mask.shape, dtype=np.float32) * mask, axis=1)
        shell = "env shell (decode, infos, KPIs, autoreset)"
    _, info = env.reset(seed=0)
    wrap(env, "step", shell)
    for i in range(warmup + args.steps):
        if i == warmup:
            times.clear()
        _, _, _, truncated, info = env.step(act(info["action_mask"]))
        if scalar and truncated:  # the vector env resets itself
            _, info = env.reset()
    total = sum(times.values())
    n = max(args.num_envs, 1)
    print(
        f"{args.scenario}, num_envs={args.num_envs}: {1e3 * total / args.steps:.2f} ms/step, "
        f"{args.steps * n / total:,.0f} env-steps/s (instrumented)"
    )
    for label, t in sorted(times.items(), key=lambda kv: -kv[1]):
        print(f"  {100 * t / total:5.1f}%  {label}")


if __name__ == "__main__":
    main()
