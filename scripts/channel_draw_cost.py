"""Cost of one lazy channel draw per link (docs/benchmarks.md).

    python scripts/channel_draw_cost.py            # medium, N = 1,024
    python scripts/channel_draw_cost.py large 1024

Advances every device one slot (1 m moved, so shadowing is redrawn) and
then draws every link of every sub-env, 40 slots in a row: once the
large-scale gain only (a handover measurement, ``NEED_MEASURE``), once gain
and fading (a request's options, ``NEED_REQUEST``). Prints nanoseconds per
link draw (``UMaChannel.draw_rows`` only, numba's cache loaded first).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gainnet_rl.envs import core
from gainnet_rl.envs.config import make_params
from gainnet_rl.envs.models.channel import NEED_MEASURE, NEED_REQUEST


def ns_per_link(scenario: str, num_envs: int, flag: int, slots: int = 40) -> float:
    """Mean ns per link of ``draw_rows`` with ``need = flag`` for every device."""
    p = make_params(scenario)
    s = core.reset(np.arange(1, num_envs + 1, dtype=np.uint64), p)
    ch, rows, U = p.channel, np.arange(num_envs), p.num_devices
    need = np.full((num_envs, U), flag, np.uint8)
    moved = np.ones((num_envs, U))
    total = 0.0
    for t in range(1, slots + 1):
        slot = np.full(num_envs, t, np.int64)
        ch.advance_rows(s.channel, s.key, slot, rows, moved, s.mobility["speed_mps"], p.slot_s)
        t0 = time.perf_counter()
        ch.draw_rows(
            s.channel, s.key, slot, rows, need, s.mobility["pos_m"], p.edge_xy_m, s.assoc, s.gain_db
        )
        total += time.perf_counter() - t0
    return 1e9 * total / (slots * num_envs * U * p.num_edges)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default="medium")
    ap.add_argument("num_envs", nargs="?", type=int, default=1024)
    args = ap.parse_args()
    ns_per_link(args.scenario, 2, NEED_REQUEST, slots=2)  # load the kernels
    for name, flag in (("large-scale gain only", NEED_MEASURE), ("gain and fading", NEED_REQUEST)):
        ns = ns_per_link(args.scenario, args.num_envs, flag)
        print(f"{args.scenario}, N = {args.num_envs}, {name}: {ns:.1f} ns per link draw")


if __name__ == "__main__":
    main()
