"""Static parameters of a scenario, validated and derived from its config.

``Params`` holds everything that does not change during an episode: counts,
time constants, edge positions, per-service and per-tier arrays, the plan
catalog and the pluggable models. Derived constants (edge layout, plan
catalog, memory use, image tier quality, ring and histogram sizes) are
computed here, never typed into configs.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from hydra.utils import get_class

from gainnet_rl.config import ConfigError
from gainnet_rl.envs.models.arrivals import ArrivalModel
from gainnet_rl.envs.models.channel import ChannelModel
from gainnet_rl.envs.models.mobility import MobilityModel
from gainnet_rl.envs.models.reward import RewardModel

TIER_NAMES = ("small", "medium", "large")
SERVICE_KINDS = ("text", "image")
LATENCY_BIN_S = 0.01  # resolution of the per-episode latency histogram (p95)


def _fail(field: str, value: object, allowed: str) -> None:
    raise ConfigError(f"{field}={value!r} is invalid: must be {allowed}")


def _num(
    cfg: dict[str, Any],
    key: str,
    field: str,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    integer: bool = False,
) -> float:
    if key not in cfg:
        raise ConfigError(f"{field} is missing from the scenario config")
    v = cfg[key]
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if integer:
        ok = ok and float(v).is_integer()
    rng_txt = ("an integer " if integer else "a finite number ") + (
        f"{'>' if lo_open else '>='} {lo}" if lo is not None else ""
    )
    if hi is not None:
        rng_txt += f" and <= {hi}"
    if not ok:
        _fail(field, v, rng_txt)
    if lo is not None and (v <= lo if lo_open else v < lo):
        _fail(field, v, rng_txt)
    if hi is not None and v > hi:
        _fail(field, v, rng_txt)
    return int(v) if integer else float(v)


def _range(
    cfg: dict[str, Any], key: str, field: str, lo: float, lo_open: bool = False
) -> tuple[float, float]:
    v = cfg.get(key)
    if not (isinstance(v, (list, tuple)) and len(v) == 2):
        _fail(field, v, "a [low, high] pair")
    a = _num({"x": v[0]}, "x", f"{field}[0]", lo=lo, lo_open=lo_open)
    b = _num({"x": v[1]}, "x", f"{field}[1]", lo=a)
    return a, b


def _model(cfg: dict[str, Any], key: str, base: type) -> Any:
    sub = dict(cfg.get(key) or {})
    target = sub.pop("_target_", None)
    if not isinstance(target, str):
        _fail(f"{key}._target_", target, f"the import path of a {base.__name__} subclass")
    try:
        cls = get_class(target)
    except Exception:
        _fail(f"{key}._target_", target, f"an importable {base.__name__} subclass")
    if not (isinstance(cls, type) and issubclass(cls, base)):
        _fail(f"{key}._target_", target, f"a {base.__name__} subclass")
    try:
        return cls(**sub)
    except TypeError as exc:
        raise ConfigError(f"{key}: {exc}") from None


@dataclass(frozen=True)
class Params:
    """Static scenario parameters. Shapes: E edges, U devices, S services,
    M=3 tiers, P plans. Units are in the names."""

    name: str
    load: float
    num_edges: int  # E
    num_devices: int  # U
    max_edges: int  # E_max, padding of observations and actions
    area_m: np.ndarray  # (2,)
    slot_s: float
    frame_slots: int  # K
    episode_slots: int  # T
    edge_xy_m: np.ndarray  # (E, 2)
    # network
    edge_bandwidth_hz: float
    edge_speed: float
    edge_servers: int
    edge_memory_gb: float
    edge_power_w: float
    model_load_gb_per_s: float
    backhaul_bps: float
    backhaul_latency_s: float
    cloud_speed: float
    cloud_servers: int
    cloud_power_w: float
    cloud_price_per_s: float
    device_speed: float
    device_power_w: float  # kappa f^3, device compute power
    # sensing / knowledge
    sensing_rate_bps: float
    sensing_buffer_bits: float
    finetune_mbit_per_s: float
    knowledge_scale_mbit: float
    knowledge_decay: float
    initial_knowledge_mbit: float
    cloud_relay_fraction: float
    # services (S,) and tiers (S, M)
    service_names: tuple[str, ...]
    service_share: np.ndarray  # (S,) sums to 1
    deadline_lo_s: np.ndarray
    deadline_hi_s: np.ndarray
    in_units_lo: np.ndarray  # tokens (text) or bits (image)
    in_units_hi: np.ndarray
    out_units_lo: np.ndarray
    out_units_hi: np.ndarray
    bits_per_unit: np.ndarray
    min_quality_lo: np.ndarray
    min_quality_hi: np.ndarray
    private_prob: np.ndarray
    finetune_gain: np.ndarray
    tier_memory_gb: np.ndarray  # (S, M)
    tier_quality: np.ndarray  # (S, M)
    tier_work_fixed_s: np.ndarray  # (S, M) edge-seconds per request
    tier_work_per_in_s: np.ndarray  # (S, M) edge-seconds per input unit
    tier_work_per_out_s: np.ndarray  # (S, M) edge-seconds per output unit
    device_tier: np.ndarray  # (S,) tier index held by devices, -1 none
    # plan catalog (P,)
    plan_tiers: np.ndarray  # (P, S) tier index, -1 none
    plan_finetune: np.ndarray  # (P,)
    plan_sensing: np.ndarray  # (P,)
    plan_memory_gb: np.ndarray  # (P,)
    plan_allowed: np.ndarray  # (P,) bool: fits the edge memory (and knowledge_flow permits it)
    default_plan: int
    knowledge_flow: bool  # False: plans with sensing or fine-tuning are forbidden
    # scheduled edge events (SYSTEM_MODEL sec. 10 robustness), (T + 1, E) per slot
    has_events: bool
    edge_up_sched: np.ndarray  # (T + 1, E) bool: the edge's compute server is up in slot t
    edge_scale_sched: np.ndarray  # (T + 1, E) compute multiplier in slot t
    edge_down_at: np.ndarray  # (T + 1, E) int64: first slot > t in which the edge is down
    # derived sizes
    max_new_requests: int  # R, per-slot request queue length
    ring_slots: int  # H, event ring length (> max deadline in slots)
    latency_bins: int
    num_options: int  # request options: local, E_max edges, cloud, reject
    num_actions: int  # max(P, num_options)
    # models
    channel: ChannelModel
    mobility: MobilityModel
    arrivals: ArrivalModel
    reward: RewardModel

    @property
    def num_services(self) -> int:
        return len(self.service_names)

    @property
    def num_plans(self) -> int:
        return int(self.plan_tiers.shape[0])

    @property
    def max_deadline_s(self) -> float:
        return float(self.deadline_hi_s.max())

    def option_names(self) -> list[str]:
        """Names of the request options: local, edge0..edge{E_max-1}, cloud, reject."""
        return ["local", *(f"edge{i}" for i in range(self.max_edges)), "cloud", "reject"]

    def plan_name(self, p: int) -> str:
        tiers = ",".join(
            f"{s}:{TIER_NAMES[t] if t >= 0 else '-'}"
            for s, t in zip(self.service_names, self.plan_tiers[p], strict=True)
        )
        return f"[{tiers}] ft={self.plan_finetune[p]:g} sense={self.plan_sensing[p]:g}"


def edge_layout(num_edges: int, area_m: np.ndarray) -> np.ndarray:
    """(E, 2) edge positions: centres of a near-square grid of cells over the area."""
    w, h = float(area_m[0]), float(area_m[1])
    cols = min(num_edges, max(1, math.ceil(math.sqrt(num_edges * w / h))))
    rows = math.ceil(num_edges / cols)
    idx = np.arange(num_edges)
    x = (idx % cols + 0.5) * w / cols
    y = (idx // cols + 0.5) * h / rows
    return np.stack([x, y], axis=1)


EVENT_KINDS = ("outage", "compute_cut")
_NEVER = np.iinfo(np.int64).max // 4  # edge_down_at where an edge never goes down


def _events(
    events: Any, num_edges: int, slot_s: float, episode_slots: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compile the scenario's ``events`` into per-slot schedules.

    Each event is ``{kind: outage | compute_cut, edges: [e, ...] | all,
    start_s, end_s: null | s, factor}``: from slot ``ceil(start_s / slot_s)``
    until slot ``ceil(end_s / slot_s)`` (exclusive; null: the episode's end)
    the edges' compute servers are down (outage) or run at ``factor`` times
    their speed (compute_cut, factor in (0, 1]). Overlapping cuts multiply.

    Returns (up (T + 1, E) bool, scale (T + 1, E), down_at (T + 1, E) int64),
    where ``down_at[t, e]`` is the first slot after t in which edge e is down.
    """
    T, E = episode_slots, num_edges
    up = np.ones((T + 1, E), dtype=bool)
    scale = np.ones((T + 1, E))
    if not isinstance(events, (list, tuple)):
        _fail("events", events, "a list of {kind, edges, start_s, end_s, factor} mappings")
    for i, ev in enumerate(events):
        f = f"events[{i}]"
        if not isinstance(ev, dict):
            _fail(f, ev, "a mapping {kind, edges, start_s, end_s, factor}")
        kind = ev.get("kind")
        if kind not in EVENT_KINDS:
            _fail(f"{f}.kind", kind, f"one of {list(EVENT_KINDS)}")
        allowed = {"kind", "edges", "start_s", "end_s"}
        if kind == "compute_cut":
            allowed.add("factor")
        extra = sorted(set(ev) - allowed)
        if extra:
            x = extra[0]
            _fail(f"{f}.{x}", ev[x], f"absent: a {kind} event has keys {sorted(allowed)}")
        edges = ev.get("edges")
        if edges == "all":
            edges = list(range(E))
        if not (isinstance(edges, (list, tuple)) and edges) or not all(
            isinstance(e, int) and not isinstance(e, bool) and 0 <= e < E for e in edges
        ):
            _fail(f"{f}.edges", edges, f"'all' or a non-empty list of edge indices in [0, {E - 1}]")
        start = _num(ev, "start_s", f"{f}.start_s", lo=0.0)
        end = ev.get("end_s")
        if end is not None:
            end = _num(ev, "end_s", f"{f}.end_s", lo=start, lo_open=True)
        t0 = math.ceil(start / slot_s - 1e-9)
        if t0 >= T:
            _fail(f"{f}.start_s", start, f"<= {(T - 1) * slot_s:g} s (the start of the last slot)")
        t1 = T + 1 if end is None else min(math.ceil(end / slot_s - 1e-9), T + 1)
        if t1 <= t0:
            _fail(
                f"{f}.end_s",
                end,
                f">= {t0 * slot_s + slot_s:g} s: the event must cover at least one slot "
                f"boundary ({slot_s:g} s slots)",
            )
        cols = np.asarray(edges, dtype=np.int64)
        if kind == "outage":
            up[t0:t1, cols] = False
        else:
            scale[t0:t1, cols] *= _num(ev, "factor", f"{f}.factor", lo=0.0, lo_open=True, hi=1.0)
    down_at = np.full((T + 1, E), _NEVER, dtype=np.int64)
    for t in range(T - 1, -1, -1):
        down_at[t] = np.where(~up[t + 1], t + 1, down_at[t + 1])
    for a in (up, scale, down_at):
        a.flags.writeable = False
    return up, scale, down_at


def build_params(cfg: dict[str, Any]) -> Params:
    """Validate a scenario config (as from :func:`gainnet_rl.config.load_scenario`)
    and derive the static parameters. Raises :class:`ConfigError` naming the
    offending field, its value and the allowed range."""
    name = str(cfg.get("name", "custom"))
    load = _num(cfg, "load", "load", lo=0.0)
    num_edges = _num(cfg, "num_edges", "num_edges", lo=1, integer=True)
    num_devices = _num(cfg, "num_devices", "num_devices", lo=1, integer=True)
    max_edges = _num(cfg, "max_edges", "max_edges", lo=num_edges, integer=True)
    area = cfg.get("area_m")
    if not (isinstance(area, (list, tuple)) and len(area) == 2):
        _fail("area_m", area, "a [width, height] pair in m")
    area_m = np.array(
        [_num({"x": a}, "x", f"area_m[{i}]", lo=0, lo_open=True) for i, a in enumerate(area)]
    )
    slot_s = _num(cfg, "slot_s", "slot_s", lo=0, lo_open=True)
    frame_slots = _num(cfg, "frame_slots", "frame_slots", lo=1, integer=True)
    episode_slots = _num(cfg, "episode_slots", "episode_slots", lo=1, integer=True)

    net = dict(cfg.get("network") or {})
    g = lambda k, **kw: _num(net, k, f"network.{k}", **kw)
    edge_bandwidth_hz = g("edge_bandwidth_hz", lo=0, lo_open=True)
    edge_speed = g("edge_speed", lo=0, lo_open=True)
    edge_servers = int(g("edge_servers", lo=1, integer=True))
    edge_memory_gb = g("edge_memory_gb", lo=0, lo_open=True)
    edge_power_w = g("edge_power_w", lo=0)
    model_load = g("model_load_gb_per_s", lo=0, lo_open=True)
    backhaul_bps = g("backhaul_bps", lo=0, lo_open=True)
    backhaul_latency_s = g("backhaul_latency_s", lo=0)
    cloud_speed = g("cloud_speed", lo=0, lo_open=True)
    cloud_servers = int(g("cloud_servers", lo=1, integer=True))
    cloud_power_w = g("cloud_power_w", lo=0)
    cloud_price = g("cloud_price_per_s", lo=0)
    device_speed = g("device_speed", lo=0, lo_open=True)
    device_cpu_hz = g("device_cpu_hz", lo=0, lo_open=True)
    device_kappa = g("device_kappa", lo=0)

    sen = dict(cfg.get("sensing") or {})
    h = lambda k, **kw: _num(sen, k, f"sensing.{k}", **kw)
    sensing_rate = h("rate_bps", lo=0)
    sensing_buffer = h("buffer_bits", lo=0)
    ft_rate = h("finetune_mbit_per_s", lo=0)
    k_scale = h("knowledge_scale_mbit", lo=0, lo_open=True)
    k_decay = h("knowledge_decay", lo=0, hi=1)
    k0 = h("initial_knowledge_mbit", lo=0)
    relay = h("cloud_relay_fraction", lo=0, hi=1)

    services = cfg.get("services")
    if not isinstance(services, dict) or not services:
        _fail("services", services, "a non-empty mapping of service name to its config")
    names = tuple(services)
    S, M = len(names), len(TIER_NAMES)
    share = np.zeros(S)
    dl_lo, dl_hi = np.zeros(S), np.zeros(S)
    in_lo, in_hi, out_lo, out_hi = np.zeros(S), np.zeros(S), np.zeros(S), np.zeros(S)
    bits_per_unit, mq_lo, mq_hi = np.ones(S), np.zeros(S), np.zeros(S)
    priv, gain = np.zeros(S), np.zeros(S)
    mem = np.full((S, M), np.inf)
    qual = np.zeros((S, M))
    w_fixed, w_in, w_out = np.zeros((S, M)), np.zeros((S, M)), np.zeros((S, M))
    for i, sname in enumerate(names):
        sc = dict(services[sname] or {})
        f = f"services.{sname}"
        kind = sc.get("kind")
        if kind not in SERVICE_KINDS:
            _fail(f"{f}.kind", kind, f"one of {list(SERVICE_KINDS)}")
        share[i] = _num(sc, "share", f"{f}.share", lo=0)
        dl_lo[i], dl_hi[i] = _range(sc, "deadline_s", f"{f}.deadline_s", 0, lo_open=True)
        mq_lo[i], mq_hi[i] = _range(sc, "min_quality", f"{f}.min_quality", 0)
        priv[i] = _num(sc, "private_prob", f"{f}.private_prob", lo=0, hi=1)
        gain[i] = _num(sc, "finetune_gain", f"{f}.finetune_gain", lo=0)
        tiers = sc.get("tiers")
        if not isinstance(tiers, dict) or not tiers:
            _fail(f"{f}.tiers", tiers, f"a mapping with keys among {list(TIER_NAMES)}")
        for tname in tiers:
            if tname not in TIER_NAMES:
                _fail(f"{f}.tiers", tname, f"one of {list(TIER_NAMES)}")
        if kind == "text":
            in_lo[i], in_hi[i] = _range(sc, "in_tokens", f"{f}.in_tokens", 0)
            out_lo[i], out_hi[i] = _range(sc, "out_tokens", f"{f}.out_tokens", 0)
            bits_per_unit[i] = _num(sc, "bits_per_token", f"{f}.bits_per_token", lo=0, lo_open=True)
        else:
            in_lo[i], in_hi[i] = _range(sc, "in_bits", f"{f}.in_bits", 0)
            out_lo[i], out_hi[i] = _range(sc, "out_bits", f"{f}.out_bits", 0)
            gcps = _num(sc, "edge_gcycles_per_s", f"{f}.edge_gcycles_per_s", lo=0, lo_open=True)
            pts = np.asarray(sc.get("quality_vs_steps"), dtype=float)
            if pts.ndim != 2 or pts.shape[1] != 2 or np.any(np.diff(pts[:, 0]) <= 0):
                _fail(
                    f"{f}.quality_vs_steps",
                    sc.get("quality_vs_steps"),
                    "a list of [steps, quality] pairs with increasing steps",
                )
        for m, tname in enumerate(TIER_NAMES):
            if tname not in tiers:
                continue
            tc = dict(tiers[tname])
            tf = f"{f}.tiers.{tname}"
            mem[i, m] = _num(tc, "memory_gb", f"{tf}.memory_gb", lo=0, lo_open=True)
            if kind == "text":
                rate = _num(tc, "edge_tok_per_s", f"{tf}.edge_tok_per_s", lo=0, lo_open=True)
                w_out[i, m] = 1.0 / rate
                w_in[i, m] = (
                    _num(tc, "prefill_s_per_ktok", f"{tf}.prefill_s_per_ktok", lo=0) / 1000.0
                )
                qual[i, m] = _num(tc, "quality", f"{tf}.quality", lo=0, hi=1)
            else:
                steps = _num(tc, "steps", f"{tf}.steps", lo=1, integer=True)
                gcs = _num(tc, "gcycles_per_step", f"{tf}.gcycles_per_step", lo=0, lo_open=True)
                w_fixed[i, m] = steps * gcs / gcps
                qual[i, m] = float(np.interp(steps, pts[:, 0], pts[:, 1]))
        if not np.isfinite(mem[i]).any():
            _fail(f"{f}.tiers", tiers, "at least one tier")
    if share.sum() <= 0:
        _fail("services.*.share", share.tolist(), "non-negative with a positive sum")
    share = share / share.sum()
    if not np.isfinite(mem[:, 2]).all():
        missing = [n for n, v in zip(names, mem[:, 2], strict=True) if not np.isfinite(v)]
        _fail("services.*.tiers.large", missing, "defined for every service (the cloud hosts it)")
    smallest = float(np.min(mem))
    if edge_memory_gb < smallest:
        _fail(
            "network.edge_memory_gb",
            edge_memory_gb,
            f">= the smallest model's memory ({smallest} GB)",
        )

    device_tier = np.full(S, -1, dtype=np.int64)
    dev = cfg.get("device_tiers") or {}
    if not isinstance(dev, dict):
        _fail("device_tiers", dev, "a mapping of service name to tier name")
    for sname, tname in dev.items():
        if sname not in names:
            _fail("device_tiers", sname, f"a service among {list(names)}")
        if tname is None:
            continue
        if tname not in TIER_NAMES or not np.isfinite(
            mem[names.index(sname), TIER_NAMES.index(tname)]
        ):
            _fail(f"device_tiers.{sname}", tname, "a tier defined for that service")
        device_tier[names.index(sname)] = TIER_NAMES.index(tname)

    plans = dict(cfg.get("plans") or {})
    edge_tiers = plans.get("edge_tiers") or []
    for t in edge_tiers:
        if t not in TIER_NAMES:
            _fail("plans.edge_tiers", t, f"one of {list(TIER_NAMES)}")
    ft_levels = [float(x) for x in plans.get("finetune_levels") or [0.0]]
    se_levels = [float(x) for x in plans.get("sensing_levels") or [0.0]]
    for lv, fname in [(ft_levels, "finetune_levels"), (se_levels, "sensing_levels")]:
        for x in lv:
            if not 0 <= x < 1:
                _fail(f"plans.{fname}", x, "levels in [0, 1)")
    choices = [-1, *(TIER_NAMES.index(t) for t in edge_tiers)]
    combos = []
    for tiers_choice in itertools.product(choices, repeat=S):
        if all(t < 0 or np.isfinite(mem[s, t]) for s, t in enumerate(tiers_choice)):
            combos.append(tiers_choice)
    plan_rows = [(tc, f, s) for tc in combos for f in ft_levels for s in se_levels]
    plan_tiers = np.array([r[0] for r in plan_rows], dtype=np.int64).reshape(-1, S)
    plan_ft = np.array([r[1] for r in plan_rows])
    plan_se = np.array([r[2] for r in plan_rows])
    mem0 = np.where(np.isfinite(mem), mem, 0.0)
    plan_mem = np.where(
        plan_tiers >= 0, mem0[np.arange(S)[None, :], np.maximum(plan_tiers, 0)], 0.0
    ).sum(axis=1)

    # Default plan (SYSTEM_MODEL sec. 8): services in order of request share take
    # the medium tier (GainNet: medium models on edge servers), or the largest
    # smaller tier that still fits; middle fine-tuning and sensing levels.
    chosen = [-1] * S
    used = 0.0
    medium = TIER_NAMES.index("medium")
    for s in np.argsort(-share, kind="stable"):
        for t in sorted((c for c in choices[1:] if c <= medium), reverse=True):
            if np.isfinite(mem[s, t]) and used + mem[s, t] <= edge_memory_gb:
                chosen[s] = t
                used += mem[s, t]
                break
    knowledge_flow = cfg.get("knowledge_flow", True)
    if not isinstance(knowledge_flow, bool):
        _fail("knowledge_flow", knowledge_flow, "true or false")
    ft_mid, se_mid = ft_levels[len(ft_levels) // 2], se_levels[len(se_levels) // 2]
    plan_allowed = plan_mem <= edge_memory_gb + 1e-9
    if not knowledge_flow:  # sensing and fine-tuning off: only the 0.0 levels are allowed
        for lv, fname in [(ft_levels, "finetune_levels"), (se_levels, "sensing_levels")]:
            if 0.0 not in lv:
                _fail(f"plans.{fname}", lv, "levels including 0.0 when knowledge_flow is false")
        ft_mid = se_mid = 0.0
        plan_allowed &= (plan_ft == 0.0) & (plan_se == 0.0)
    default_plan = next(
        i
        for i, r in enumerate(plan_rows)
        if tuple(r[0]) == tuple(chosen) and r[1] == ft_mid and r[2] == se_mid
    )

    up_sched, scale_sched, down_at = _events(
        cfg.get("events") or [], num_edges, slot_s, episode_slots
    )

    arrivals = _model(cfg, "arrivals", ArrivalModel)
    rate_slot = arrivals.rate_per_device_hz * max(load, 1.0) * slot_s * num_devices
    max_new = math.ceil(rate_slot + 6.0 * math.sqrt(rate_slot) + 4)
    max_deadline = float(dl_hi.max())
    num_options = max_edges + 3
    return Params(
        name=name,
        load=load,
        num_edges=num_edges,
        num_devices=num_devices,
        max_edges=max_edges,
        area_m=area_m,
        slot_s=slot_s,
        frame_slots=frame_slots,
        episode_slots=episode_slots,
        edge_xy_m=edge_layout(num_edges, area_m),
        edge_bandwidth_hz=edge_bandwidth_hz,
        edge_speed=edge_speed,
        edge_servers=edge_servers,
        edge_memory_gb=edge_memory_gb,
        edge_power_w=edge_power_w,
        model_load_gb_per_s=model_load,
        backhaul_bps=backhaul_bps,
        backhaul_latency_s=backhaul_latency_s,
        cloud_speed=cloud_speed,
        cloud_servers=cloud_servers,
        cloud_power_w=cloud_power_w,
        cloud_price_per_s=cloud_price,
        device_speed=device_speed,
        device_power_w=device_kappa * device_cpu_hz**3,
        sensing_rate_bps=sensing_rate,
        sensing_buffer_bits=sensing_buffer,
        finetune_mbit_per_s=ft_rate,
        knowledge_scale_mbit=k_scale,
        knowledge_decay=k_decay,
        initial_knowledge_mbit=k0,
        cloud_relay_fraction=relay,
        service_names=names,
        service_share=share,
        deadline_lo_s=dl_lo,
        deadline_hi_s=dl_hi,
        in_units_lo=in_lo,
        in_units_hi=in_hi,
        out_units_lo=out_lo,
        out_units_hi=out_hi,
        bits_per_unit=bits_per_unit,
        min_quality_lo=mq_lo,
        min_quality_hi=mq_hi,
        private_prob=priv,
        finetune_gain=gain,
        tier_memory_gb=mem,
        tier_quality=qual,
        tier_work_fixed_s=w_fixed,
        tier_work_per_in_s=w_in,
        tier_work_per_out_s=w_out,
        device_tier=device_tier,
        plan_tiers=plan_tiers,
        plan_finetune=plan_ft,
        plan_sensing=plan_se,
        plan_memory_gb=plan_mem,
        plan_allowed=plan_allowed,
        default_plan=default_plan,
        knowledge_flow=knowledge_flow,
        has_events=bool((~up_sched).any() or (scale_sched != 1.0).any()),
        edge_up_sched=up_sched,
        edge_scale_sched=scale_sched,
        edge_down_at=down_at,
        max_new_requests=max_new,
        ring_slots=math.ceil(max_deadline / slot_s) + 2,
        latency_bins=math.ceil(max_deadline / LATENCY_BIN_S) + 2,
        num_options=num_options,
        num_actions=max(len(plan_rows), num_options),
        channel=_model(cfg, "channel", ChannelModel),
        mobility=_model(cfg, "mobility", MobilityModel),
        arrivals=arrivals,
        reward=_model(cfg, "reward", RewardModel),
    )
