"""Rendering of one sub-env: a text summary (``ansi``) and a topology picture
(``rgb_array``: nodes, associations, backlogs, models held)."""

from __future__ import annotations

import numpy as np

from gainnet_rl.envs import core
from gainnet_rl.envs.catalog import TIER_NAMES
from gainnet_rl.envs.params import Params


def _tiers(state: core.State, p: Params, b: int, e: int) -> str:
    held = []
    for s, name in enumerate(p.service_names):
        t = int(state.edge_tier[b, e, s])
        if t >= 0:
            ready = state.tier_ready_slot[b, e, s] <= state.slot[b]
            held.append(f"{name}:{TIER_NAMES[t]}{'' if ready else '(loading)'}")
    return ", ".join(held) or "-"


def ansi(state: core.State, p: Params, b: int = 0) -> str:
    """A text summary of sub-env ``b``: time, decision, edges, cloud, episode KPIs."""
    dt = core.decision_type(state, p)[b]
    kind = {
        core.DECISION_PLAN: f"plan for edge {int(state.plan_ptr[b])}",
        core.DECISION_REQUEST: f"request {int(state.req_ptr[b]) + 1}/{int(state.n_req[b])}",
        core.DECISION_NONE: "episode over",
    }[int(dt)]
    t = int(state.slot[b])
    lines = [
        f"GainNet {p.name}: slot {t}/{p.episode_slots} ({t * p.slot_s:.1f} s), "
        f"frame {t // p.frame_slots}, next decision: {kind}"
    ]
    n_assoc = np.bincount(state.assoc[b], minlength=p.num_edges)
    now = min(t, p.episode_slots) * p.slot_s
    wait = lambda free: max(float(np.min(free)) - now, 0.0)
    for e in range(p.num_edges):
        busy = int((state.st_free_s[b, e] > now).sum())
        lines.append(
            f"  edge{e}: {'up' if state.edge_up[b, e] else 'DOWN'}, devices {n_assoc[e]:3d}, "
            f"streams busy {busy}/{p.max_batch}, "
            f"compute wait {wait(state.st_free_s[b, e]):6.2f} s, "
            f"uplink wait {wait(state.ul_free_s[b, e]):5.3f} s, "
            f"knowledge {state.knowledge[b, e]:8.0f} tok, "
            f"ft {state.finetune[b, e]:.2f}, sense {state.sensing[b, e]:.2f}, "
            f"models [{_tiers(state, p, b, e)}]"
        )
    lines.append(
        f"  cloud: wait {wait(state.cloud_free_s[b]):6.2f} s, "
        f"knowledge {state.cloud_knowledge[b]:8.0f} tok"
    )
    m = {k: float(v[b]) for k, v in core.episode_metrics(state, p).items()}
    lines.append(
        f"  episode: reward {m['reward']:.2f}, arrived {m['arrived']:.0f}, served "
        f"{m['served']:.0f}, dropped {m['dropped']:.0f}, pending {m['pending']:.0f}, "
        f"deadline met {m['deadline_met_ratio']:.2f}, p95 latency {m['p95_latency_s']:.2f} s"
    )
    return "\n".join(lines) + "\n"


def rgb_array(state: core.State, p: Params, b: int = 0, size_px: int = 480) -> np.ndarray:
    """(H, W, 3) uint8 picture of sub-env ``b``: devices coloured by associated
    edge, edges sized by backlog with their models listed, the cloud above."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size_px / 80, size_px / 80), dpi=80)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.9))
    w, h = p.area_m
    ax.set_xlim(-0.05 * w, 1.05 * w)
    ax.set_ylim(-0.05 * h, 1.3 * h)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    colors = matplotlib.colormaps["tab10"](np.arange(p.num_edges) % 10)
    pos = state.mobility["pos_m"][b]
    ax.scatter(pos[:, 0], pos[:, 1], s=8, c=colors[state.assoc[b]], zorder=2)
    now = min(int(state.slot[b]), p.episode_slots) * p.slot_s
    wait = np.maximum(state.st_free_s[b].min(axis=-1) - now, 0.0)
    cloud_wait = max(float(state.cloud_free_s[b].min()) - now, 0.0)
    cloud_xy = (w / 2, 1.2 * h)
    ax.scatter(
        [cloud_xy[0]], [cloud_xy[1]], marker="s", s=200, c="lightgray", edgecolors="k", zorder=3
    )
    ax.annotate(
        f"cloud {cloud_wait:.2f}s",
        cloud_xy,
        fontsize=7,
        ha="center",
        va="bottom",
        xytext=(0, 8),
        textcoords="offset points",
    )
    for e in range(p.num_edges):
        x, y = p.edge_xy_m[e]
        ax.plot([x, cloud_xy[0]], [y, cloud_xy[1]], color="0.85", lw=0.8, zorder=1)
        ax.scatter(
            [x],
            [y],
            marker="^",
            s=80 + 120 * min(wait[e], 5.0),
            color=colors[e],
            edgecolors="k" if state.edge_up[b, e] else "r",
            zorder=3,
        )
        ax.annotate(
            f"e{e} {wait[e]:.2f}s\n{_tiers(state, p, b, e)}",
            (x, y),
            fontsize=6,
            ha="center",
            va="top",
            xytext=(0, -8),
            textcoords="offset points",
        )
    t = int(state.slot[b])
    fig.suptitle(f"GainNet {p.name}  t={t * p.slot_s:.1f}s  frame {t // p.frame_slots}", fontsize=9)
    canvas.draw()
    img = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    return img


def render_fps(p: Params) -> int:
    """Frames per second at which a recording of one frame per decision plays in
    simulated time: the expected decisions per simulated second (requests of
    every device at the scenario's load, plus each edge's plan per frame),
    rounded, at least 1."""
    requests_hz = p.arrival_rate_hz * p.load * p.num_devices
    plans_hz = p.num_edges / (p.frame_slots * p.slot_s)
    return max(1, round(requests_hz + plans_hz))
