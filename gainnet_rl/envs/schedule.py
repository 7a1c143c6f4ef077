"""Scheduled edge events of a scenario (outages, compute cuts, SYSTEM_MODEL
sec. 10), compiled into per-slot schedules."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gainnet_rl.envs.checks import fail, num

EVENT_KINDS = ("outage", "compute_cut")


def compile_events(
    events: Any, num_edges: int, slot_s: float, episode_slots: int
) -> tuple[np.ndarray, np.ndarray]:
    """Compile the scenario's ``events`` into per-slot schedules.

    Each event is ``{kind: outage | compute_cut, edges: [e, ...] | all,
    start_s, end_s: null | s, factor}``: from slot ``ceil(start_s / slot_s)``
    until slot ``ceil(end_s / slot_s)`` (exclusive; null: the episode's end)
    the edges' compute servers are down (outage) or run at ``factor`` times
    their speed (compute_cut, factor in (0, 1]). Overlapping cuts multiply.

    Returns (up (T + 1, E) bool, scale (T + 1, E)).
    """
    T, E = episode_slots, num_edges
    up = np.ones((T + 1, E), dtype=bool)
    scale = np.ones((T + 1, E))
    if not isinstance(events, (list, tuple)):
        fail("events", events, "a list of {kind, edges, start_s, end_s, factor} mappings")
    for i, ev in enumerate(events):
        f = f"events[{i}]"
        if not isinstance(ev, dict):
            fail(f, ev, "a mapping {kind, edges, start_s, end_s, factor}")
        kind = ev.get("kind")
        if kind not in EVENT_KINDS:
            fail(f"{f}.kind", kind, f"one of {list(EVENT_KINDS)}")
        allowed = {"kind", "edges", "start_s", "end_s"}
        if kind == "compute_cut":
            allowed.add("factor")
        extra = sorted(set(ev) - allowed)
        if extra:
            x = extra[0]
            fail(f"{f}.{x}", ev[x], f"absent: a {kind} event has keys {sorted(allowed)}")
        edges = ev.get("edges")
        if edges == "all":
            edges = list(range(E))
        if not (isinstance(edges, (list, tuple)) and edges) or not all(
            isinstance(e, int) and not isinstance(e, bool) and 0 <= e < E for e in edges
        ):
            fail(f"{f}.edges", edges, f"'all' or a non-empty list of edge indices in [0, {E - 1}]")
        start = num(ev, "start_s", f"{f}.start_s", lo=0.0)
        end = ev.get("end_s")
        if end is not None:
            end = num(ev, "end_s", f"{f}.end_s", lo=start, lo_open=True)
        t0 = math.ceil(start / slot_s - 1e-9)
        if t0 >= T:
            fail(f"{f}.start_s", start, f"<= {(T - 1) * slot_s:g} s (the start of the last slot)")
        t1 = T + 1 if end is None else min(math.ceil(end / slot_s - 1e-9), T + 1)
        if t1 <= t0:
            fail(
                f"{f}.end_s",
                end,
                f">= {t0 * slot_s + slot_s:g} s: the event must cover at least one slot "
                f"boundary ({slot_s:g} s slots)",
            )
        cols = np.asarray(edges, dtype=np.int64)
        if kind == "outage":
            up[t0:t1, cols] = False
        else:
            scale[t0:t1, cols] *= num(ev, "factor", f"{f}.factor", lo=0.0, lo_open=True, hi=1.0)
    for a in (up, scale):
        a.flags.writeable = False
    return up, scale
