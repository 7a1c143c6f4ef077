"""Static parameters of a scenario, validated and derived from its config.

``Params`` holds everything that does not change during an episode: counts,
time constants, edge positions, per-service and per-tier arrays, the plan
catalog and the pluggable models. It is the one place where a scenario's
values are checked (:func:`build_params` raises :class:`ConfigError` naming
the field, its value and the allowed range) and where derived constants are
computed (edge layout, plan catalog and memory, KV-cache sizes, batching
slowdowns, the per-device arrival rate that makes ``load`` an offered load,
the cloud's stream count, queue and ring sizes); none is typed into code.

Units: seconds, bits, Hz, W, J, GB (1e9 bytes), $; tokens are model tokens.
"""

from __future__ import annotations

import inspect
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from hydra.utils import get_class
from scipy import stats

from gainnet_rl.config import ConfigError
from gainnet_rl.envs.models.arrivals import ArrivalModel
from gainnet_rl.envs.models.channel import ChannelModel
from gainnet_rl.envs.models.mobility import MobilityModel
from gainnet_rl.envs.models.reward import RewardModel

TIER_NAMES = ("small", "medium", "large")
SERVICE_KINDS = ("text", "vision", "image")
KIND_TEXT, KIND_VISION, KIND_IMAGE = 0, 1, 2
MODEL_KINDS = ("llm", "diffusion")
POOLS = ("uplink", "sensing", "backhaul", "edge_compute", "edge_memory", "cloud")
SENSING_POOLS = ("uplink", "finetune_compute", "knowledge")
LATENCY_BIN_S = 0.01  # resolution of the per-episode latency histogram (p95)
GB = 1e9


def _fail(field: str, value: object, allowed: str) -> None:
    raise ConfigError(f"{field}={value!r} is invalid: must be {allowed}")


def check_finite(cfg: Any, path: str = "") -> None:
    """Raise ConfigError naming the first NaN or infinite number anywhere in ``cfg``."""
    if isinstance(cfg, dict):
        for k, v in cfg.items():
            check_finite(v, f"{path}.{k}" if path else str(k))
    elif isinstance(cfg, (list, tuple)):
        for i, v in enumerate(cfg):
            check_finite(v, f"{path}[{i}]")
    elif isinstance(cfg, float) and not math.isfinite(cfg):
        _fail(path, cfg, "a finite number")


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
    return _val(cfg[key], field, lo, hi, lo_open, integer)


def _val(
    v: Any,
    field: str,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    integer: bool = False,
) -> float:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if integer:
        ok = ok and float(v).is_integer()
    rng_txt = ("an integer " if integer else "a finite number ") + (
        f"{'>' if lo_open else '>='} {lo}" if lo is not None else ""
    )
    if hi is not None:
        rng_txt += f" and <= {hi}"
    if not ok:
        _fail(field, v, rng_txt.strip())
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
    a = _val(v[0], f"{field}[0]", lo=lo, lo_open=lo_open)
    b = _val(v[1], f"{field}[1]", lo=a)
    return a, b


def _mapping(cfg: dict[str, Any], key: str, field: str) -> dict[str, Any]:
    v = cfg.get(key)
    if not isinstance(v, dict):
        _fail(field, v, "a mapping")
    return dict(v)


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
    # numeric arguments (annotated float or int) must be finite numbers
    for arg, param in inspect.signature(cls.__init__).parameters.items():
        ann = str(param.annotation)
        if arg in sub and ann.split(" |")[0] in ("float", "int"):
            v = sub[arg]
            if v is None and "None" in ann:
                continue
            _val(v, f"{key}.{arg}", integer=ann.startswith("int"))
    try:
        return cls(**sub)
    except TypeError as exc:
        raise ConfigError(f"{key}: {exc}") from None


@dataclass(frozen=True)
class Params:
    """Static scenario parameters. Shapes: E edges, U devices, S services,
    M = 3 edge tiers, P plans. Units are in the names; times are seconds of
    simulated time, work "stream-seconds" (seconds of one edge stream)."""

    name: str
    deployment: str
    load: float
    offered_load: float  # rho at this load: offered_load_at_load1 * load
    num_edges: int  # E
    num_devices: int  # U
    max_edges: int  # E_max, padding of observations and actions
    area_m: np.ndarray  # (2,)
    slot_s: float
    frame_slots: int  # K
    episode_slots: int  # T
    edge_xy_m: np.ndarray  # (E, 2)
    binding_pools: tuple[str, ...]
    sensing_binds_through: str
    # radio
    ul_bandwidth_hz: float
    dl_bandwidth_hz: float
    ul_time_share: float
    dl_time_share: float
    ul_subbands: int  # K_ul
    dl_subbands: int  # K_dl
    backhaul_bps: float  # left for requests and relayed sensing: capacity less background
    backhaul_latency_s: float
    # edge module
    edge_speed: float
    edge_peak_flops: float  # FLOP/s
    edge_memory_gb: float
    edge_power_w: float
    max_batch: int  # C streams per edge at most
    reference_batch: int  # B_ref of the offered-load definition
    model_load_gb_per_s: float
    finetune_memory_gb: float
    finetune_efficiency: float
    # cloud
    cloud_capacity_ratio: float  # derived c in C_cloud = c E C_e (requests/s of the mix)
    cloud_streams: int  # round(streams per edge x E), at least 1
    cloud_power_w: float
    # device
    device_flops: float  # FLOP/s = f * FLOPs per cycle
    device_memory_gbps: float  # GB/s the device reads weights at (decode)
    device_power_w: float  # kappa f^3 (kappa f^2 J per cycle at f cycles/s)
    # sensing / knowledge
    sensing_rate_bps: float
    sensing_buffer_bits: float
    tokens_per_mbit: float
    knowledge_scale_tokens: float
    knowledge_decay: float
    initial_knowledge_tokens: float
    cloud_relay_fraction: float
    # services (S,)
    service_names: tuple[str, ...]
    service_kind: np.ndarray  # (S,) int64 index into SERVICE_KINDS
    service_share: np.ndarray  # (S,) sums to 1
    deadline_lo_s: np.ndarray
    deadline_hi_s: np.ndarray
    in_tokens_lo: np.ndarray  # prompt tokens
    in_tokens_hi: np.ndarray
    visual_tokens: np.ndarray  # (S,) prefill tokens of the frame (vision), 0 elsewhere
    out_tokens_lo: np.ndarray  # generated tokens (text, vision), 0 for images
    out_tokens_hi: np.ndarray
    bits_per_token: np.ndarray
    payload_lo_bits: np.ndarray  # frame upload (vision) or picture download (image)
    payload_hi_bits: np.ndarray
    min_quality_lo: np.ndarray
    min_quality_hi: np.ndarray
    private_prob: np.ndarray
    finetune_gain: np.ndarray
    # edge tiers (S, M); unavailable tiers have infinite memory
    tier_memory_gb: np.ndarray  # weights
    tier_quality: np.ndarray
    tier_params_b: np.ndarray  # billions of parameters (fine-tuning FLOPs, device FLOPs)
    tier_fixed_s: np.ndarray  # batch-1 stream-seconds per request (diffusion: steps x s/step)
    tier_in_s: np.ndarray  # batch-1 stream-seconds per prefill token
    tier_out_s: np.ndarray  # batch-1 stream-seconds per generated token
    tier_beta: np.ndarray  # batching slowdown: per-stream time x (1 + beta (n - 1))
    tier_kv_fixed_gb: np.ndarray  # memory per stream (diffusion activations)
    tier_kv_per_token_gb: np.ndarray  # KV cache per token (LLM)
    tier_flops_fixed: np.ndarray  # FLOPs per request on a device (diffusion)
    tier_flops_per_token: np.ndarray  # FLOPs per token on a device (LLM: 2 N)
    tier_device_fixed_s: np.ndarray  # device seconds per request (diffusion: FLOPs / rate)
    tier_device_in_s: np.ndarray  # device seconds per prefill token (compute-bound)
    tier_device_out_s: np.ndarray  # device seconds per generated token (compute or memory)
    device_tier: np.ndarray  # (S,) tier index held by devices, -1 none
    # cloud (S,)
    cloud_quality: np.ndarray
    cloud_fixed_s: np.ndarray  # per request (first token, or the image)
    cloud_out_s: np.ndarray  # per generated token
    cloud_usd_fixed: np.ndarray  # per request (image)
    cloud_usd_in: np.ndarray  # per prompt token (visual tokens included)
    cloud_usd_out: np.ndarray  # per generated token
    # plan catalog (P,)
    plan_tiers: np.ndarray  # (P, S) tier index, -1 none
    plan_finetune: np.ndarray  # (P,)
    plan_sensing: np.ndarray  # (P,)
    plan_memory_gb: np.ndarray  # (P,) weights held + M_ft while fine-tuning
    plan_kv_budget_gb: np.ndarray  # (P,) memory left for streams
    plan_ft_params_b: np.ndarray  # (P,) parameters fine-tuned (every held model)
    plan_allowed: np.ndarray  # (P,) bool: fits the edge memory (and knowledge_flow permits it)
    default_plan: int
    knowledge_flow: bool  # False: plans with sensing or fine-tuning are forbidden
    # load (sec. 12.4)
    ref_tier: np.ndarray  # (S,) tier defining an edge's reference work
    ref_work_s: np.ndarray  # (S,) w_ref: stream-seconds of a mean request at B_ref, default plan
    arrival_rate_hz: float  # lambda per device at load 1 (derived)
    # scheduled edge events (SYSTEM_MODEL sec. 10 robustness), (T + 1, E) per slot
    has_events: bool
    edge_up_sched: np.ndarray  # (T + 1, E) bool: the edge's compute server is up in slot t
    edge_scale_sched: np.ndarray  # (T + 1, E) compute multiplier in slot t
    # derived sizes
    max_new_requests: int  # R, per-slot request queue length
    ring_slots: int  # H, event ring length (> max deadline in slots)
    record_slots: int  # Q, per-sub-env in-flight records kept for events (0 without events)
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

    @property
    def arrival_rate_per_slot(self) -> float:
        """Mean requests per device and slot at this load."""
        return self.arrival_rate_hz * self.load * self.slot_s

    def option_names(self) -> list[str]:
        """Names of the request options: local, edge0..edge{E_max-1}, cloud, reject."""
        return ["local", *(f"edge{i}" for i in range(self.max_edges)), "cloud", "reject"]

    def plan_name(self, p: int) -> str:
        tiers = ",".join(
            f"{s}:{TIER_NAMES[t] if t >= 0 else '-'}"
            for s, t in zip(self.service_names, self.plan_tiers[p], strict=True)
        )
        return f"[{tiers}] ft={self.plan_finetune[p]:g} sense={self.plan_sensing[p]:g}"

    def offered_load_check(self) -> float:
        """rho recomputed from its definition: lambda U sum_s share_s w_ref,s / (E C_e)."""
        lam = self.arrival_rate_hz * self.load
        demand = lam * self.num_devices * float(np.dot(self.service_share, self.ref_work_s))
        return demand / (self.num_edges * self.reference_batch)


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


def _events(
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
    for a in (up, scale):
        a.flags.writeable = False
    return up, scale


@dataclass(frozen=True)
class _ModelRow:
    """One (model, precision) row of the scenario's ``models`` catalog."""

    kind: str
    params_b: float
    weights_gb: float
    fixed_s: float  # batch-1 seconds per request at a given step count: per step (diffusion)
    in_s: float
    out_s: float
    beta: float
    kv_fixed_gb: float
    kv_per_token_gb: float
    flops_per_step: float


def _models(cfg: dict[str, Any]) -> dict[str, _ModelRow]:
    models = _mapping(cfg, "models", "models")
    kv_bytes = _num(cfg, "kv_bytes", "kv_bytes", lo=0, lo_open=True)
    rows = {}
    for name, mc in models.items():
        f = f"models.{name}"
        if not isinstance(mc, dict):
            _fail(f, mc, "a mapping with the model's row")
        mc = dict(mc)
        kind = mc.get("kind")
        if kind not in MODEL_KINDS:
            _fail(f"{f}.kind", kind, f"one of {list(MODEL_KINDS)}")
        params_b = _num(mc, "params_b", f"{f}.params_b", lo=0, lo_open=True)
        if kind == "llm":
            bits = _num(mc, "weight_bits", f"{f}.weight_bits", lo=1, hi=32)
            r1 = _num(mc, "decode_tok_s_b1", f"{f}.decode_tok_s_b1", lo=0, lo_open=True)
            r8 = _num(mc, "decode_tok_s_b8", f"{f}.decode_tok_s_b8", lo=r1)
            if r8 > 8 * r1:
                _fail(f"{f}.decode_tok_s_b8", r8, f"<= 8 x decode_tok_s_b1 = {8 * r1:g} tok/s")
            pre = _num(mc, "prefill_tok_s", f"{f}.prefill_tok_s", lo=0, lo_open=True)
            layers = _num(mc, "layers", f"{f}.layers", lo=1, integer=True)
            heads = _num(mc, "kv_heads", f"{f}.kv_heads", lo=1, integer=True)
            hdim = _num(mc, "head_dim", f"{f}.head_dim", lo=1, integer=True)
            # r(B) = r1 / (1 + beta (B - 1)) per stream; aggregate at 8 is 8 r(8)
            beta = (8.0 * r1 / r8 - 1.0) / 7.0
            rows[name] = _ModelRow(
                kind=kind,
                params_b=params_b,
                weights_gb=params_b * bits / 8.0,
                fixed_s=0.0,
                in_s=1.0 / pre,
                out_s=1.0 / r1,
                beta=beta,
                kv_fixed_gb=0.0,
                kv_per_token_gb=2.0 * layers * heads * hdim * kv_bytes / GB,
                flops_per_step=0.0,
            )
        else:
            rows[name] = _ModelRow(
                kind=kind,
                params_b=params_b,
                weights_gb=_num(mc, "weights_gb", f"{f}.weights_gb", lo=0, lo_open=True),
                fixed_s=_num(mc, "s_per_step_b1", f"{f}.s_per_step_b1", lo=0, lo_open=True),
                in_s=0.0,
                out_s=0.0,
                beta=_num(mc, "batch_beta", f"{f}.batch_beta", lo=0),
                kv_fixed_gb=_num(mc, "stream_gb", f"{f}.stream_gb", lo=0),
                kv_per_token_gb=0.0,
                flops_per_step=_num(mc, "gflops_per_step", f"{f}.gflops_per_step", lo=0) * 1e9,
            )
    return rows


def _poisson_quantile(mean: float, tail: float) -> int:
    """Smallest R with P(Poisson(mean) > R) <= tail."""
    if mean <= 0:
        return 1
    return max(1, int(stats.poisson.isf(tail, mean)))


def build_params(cfg: dict[str, Any]) -> Params:
    """Validate a scenario config (as from :func:`gainnet_rl.config.load_scenario`)
    and derive the static parameters. Raises :class:`ConfigError` naming the
    offending field, its value and the allowed range."""
    check_finite(cfg)
    name = str(cfg.get("name", "custom"))
    deployment = " ".join(str(cfg.get("deployment", "")).split())
    load = _num(cfg, "load", "load", lo=0.0, hi=100.0)
    rho1 = _num(cfg, "offered_load_at_load1", "offered_load_at_load1", lo=0, lo_open=True, hi=10)
    num_edges = _num(cfg, "num_edges", "num_edges", lo=1, hi=64, integer=True)
    max_edges = _num(cfg, "max_edges", "max_edges", lo=num_edges, hi=64, integer=True)
    num_devices = _num(cfg, "num_devices", "num_devices", lo=1, hi=100_000, integer=True)
    area = cfg.get("area_m")
    if not (isinstance(area, (list, tuple)) and len(area) == 2):
        _fail("area_m", area, "a [width, height] pair in m")
    area_m = np.array([_val(a, f"area_m[{i}]", lo=0, lo_open=True) for i, a in enumerate(area)])
    slot_s = _num(cfg, "slot_s", "slot_s", lo=0, lo_open=True, hi=10.0)
    frame_slots = _num(cfg, "frame_slots", "frame_slots", lo=1, integer=True)
    episode_slots = _num(cfg, "episode_slots", "episode_slots", lo=1, hi=1_000_000, integer=True)
    overflow_p = _num(cfg, "queue_overflow_prob", "queue_overflow_prob", lo=0, lo_open=True, hi=0.5)
    pools = cfg.get("binding_pools") or []
    if not isinstance(pools, (list, tuple)) or any(x not in POOLS for x in pools):
        _fail("binding_pools", pools, f"a list of pools among {list(POOLS)}")
    sensing_through = cfg.get("sensing_binds_through")
    if sensing_through not in SENSING_POOLS:
        _fail("sensing_binds_through", sensing_through, f"one of {list(SENSING_POOLS)}")

    net = _mapping(cfg, "network", "network")
    g = lambda k, **kw: _num(net, k, f"network.{k}", **kw)
    ul_bw = g("ul_bandwidth_hz", lo=0, lo_open=True, hi=1e10)
    dl_bw = g("dl_bandwidth_hz", lo=0, lo_open=True, hi=1e10)
    ul_ts = g("ul_time_share", lo=0, lo_open=True, hi=1)
    dl_ts = g("dl_time_share", lo=0, lo_open=True, hi=1)
    if ul_ts + dl_ts > 1 + 1e-9 and not (ul_ts == 1 and dl_ts == 1):
        _fail(
            "network.dl_time_share",
            dl_ts,
            f"<= 1 - ul_time_share = {1 - ul_ts:g} (TDD), or both 1 (FDD)",
        )
    ul_k = int(g("ul_subbands", lo=1, hi=256, integer=True))
    dl_k = int(g("dl_subbands", lo=1, hi=256, integer=True))
    backhaul_total_bps = g("backhaul_bps", lo=0, lo_open=True)
    background_bps = g("backhaul_background_bps", lo=0)
    if background_bps >= backhaul_total_bps:
        _fail(
            "network.backhaul_background_bps",
            background_bps,
            f"< network.backhaul_bps = {backhaul_total_bps:g} bit/s (requests need some of it)",
        )
    backhaul_bps = backhaul_total_bps - background_bps
    backhaul_latency_s = g("backhaul_latency_s", lo=0, hi=10)
    edge_speed = g("edge_speed", lo=0, lo_open=True, hi=1e6)
    peak_flops = g("edge_peak_tflops", lo=0, lo_open=True) * 1e12
    edge_memory_gb = g("edge_memory_gb", lo=0, lo_open=True)
    edge_power_w = g("edge_power_w", lo=0)
    max_batch = int(g("max_batch", lo=1, hi=256, integer=True))
    ref_batch = int(g("reference_batch", lo=1, hi=max_batch, integer=True))
    model_load = g("model_load_gb_per_s", lo=0, lo_open=True)
    ft_mem = g("finetune_memory_gb", lo=0)
    ft_eff = g("finetune_efficiency", lo=0, hi=1)
    cloud_per_edge = g("cloud_streams_per_edge", lo=0, lo_open=True, hi=1024)
    cloud_power_w = g("cloud_power_w", lo=0)
    device_hz = g("device_cpu_hz", lo=0, lo_open=True, hi=1e11)
    device_fpc = g("device_flops_per_cycle", lo=0, lo_open=True)
    device_kappa = g("device_kappa", lo=0, hi=1e-20)
    device_bw = g("device_memory_gbps", lo=0, lo_open=True, hi=1e5)

    sen = _mapping(cfg, "sensing", "sensing")
    h = lambda k, **kw: _num(sen, k, f"sensing.{k}", **kw)
    sensing_rate = h("rate_bps", lo=0)
    sensing_buffer = h("buffer_bits", lo=0)
    tokens_per_mbit = h("tokens_per_mbit", lo=0)
    k_scale = h("knowledge_scale_tokens", lo=0, lo_open=True)
    k_decay = h("knowledge_decay", lo=0, hi=1)
    k0 = h("initial_knowledge_tokens", lo=0)
    relay = h("cloud_relay_fraction", lo=0, hi=1)

    models = _models(cfg)
    services = cfg.get("services")
    if not isinstance(services, dict) or not services:
        _fail("services", services, "a non-empty mapping of service name to its config")
    names = tuple(services)
    S, M = len(names), len(TIER_NAMES)
    z = lambda: np.zeros(S)
    kind_idx = np.zeros(S, dtype=np.int64)
    share, dl_lo, dl_hi, in_lo, in_hi, out_lo, out_hi = z(), z(), z(), z(), z(), z(), z()
    vis, bpt, pay_lo, pay_hi, mq_lo, mq_hi, priv, gain = z(), z(), z(), z(), z(), z(), z(), z()
    c_q, c_fixed, c_out, c_usd_fixed, c_usd_in, c_usd_out = z(), z(), z(), z(), z(), z()
    zm = lambda: np.zeros((S, M))
    mem = np.full((S, M), np.inf)
    qual, t_params, t_fixed, t_in, t_out, t_beta = zm(), zm(), zm(), zm(), zm(), zm()
    kv_fixed, kv_tok, fl_fixed, fl_tok = zm(), zm(), zm(), zm()
    for i, sname in enumerate(names):
        sc = dict(services[sname] or {})
        f = f"services.{sname}"
        kind = sc.get("kind")
        if kind not in SERVICE_KINDS:
            _fail(f"{f}.kind", kind, f"one of {list(SERVICE_KINDS)}")
        kind_idx[i] = SERVICE_KINDS.index(kind)
        share[i] = _num(sc, "share", f"{f}.share", lo=0)
        dl_lo[i], dl_hi[i] = _range(sc, "deadline_s", f"{f}.deadline_s", 0, lo_open=True)
        if dl_hi[i] > 600:
            _fail(f"{f}.deadline_s[1]", dl_hi[i], "<= 600 s")
        mq_lo[i], mq_hi[i] = _range(sc, "min_quality", f"{f}.min_quality", 0)
        if mq_hi[i] > 1:
            _fail(f"{f}.min_quality[1]", mq_hi[i], "<= 1 (quality is in [0, 1])")
        priv[i] = _num(sc, "private_prob", f"{f}.private_prob", lo=0, hi=1)
        gain[i] = _num(sc, "finetune_gain", f"{f}.finetune_gain", lo=0, hi=1)
        bpt[i] = _num(sc, "bits_per_token", f"{f}.bits_per_token", lo=0, lo_open=True)
        in_lo[i], in_hi[i] = _range(sc, "in_tokens", f"{f}.in_tokens", 0)
        if kind == "image":
            pay_lo[i], pay_hi[i] = _range(sc, "image_bits", f"{f}.image_bits", 0)
            pts = sc.get("quality_vs_steps")
            ok = isinstance(pts, (list, tuple)) and len(pts) >= 1
            ok = ok and all(
                isinstance(r, (list, tuple))
                and len(r) == 2
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in r)
                for r in pts
            )
            if ok:
                pts_a = np.asarray(pts, dtype=float)
                ok = bool(np.all(np.diff(pts_a[:, 0]) > 0)) and bool(
                    np.all((pts_a[:, 1] >= 0) & (pts_a[:, 1] <= 1))
                )
            if not ok:
                _fail(
                    f"{f}.quality_vs_steps",
                    pts,
                    "a list of [steps, quality] pairs, steps increasing, quality in [0, 1]",
                )
        else:
            out_lo[i], out_hi[i] = _range(sc, "out_tokens", f"{f}.out_tokens", 0)
            if kind == "vision":
                pay_lo[i], pay_hi[i] = _range(sc, "frame_bits", f"{f}.frame_bits", 0)
                vis[i] = _num(sc, "visual_tokens", f"{f}.visual_tokens", lo=0, integer=True)
        tiers = sc.get("tiers")
        if not isinstance(tiers, dict) or not tiers:
            _fail(f"{f}.tiers", tiers, f"a mapping with keys among {list(TIER_NAMES)}")
        want_kind = "diffusion" if kind == "image" else "llm"
        for tname, tc in tiers.items():
            if tname not in TIER_NAMES:
                _fail(f"{f}.tiers", tname, f"keys among {list(TIER_NAMES)}")
            tf = f"{f}.tiers.{tname}"
            if not isinstance(tc, dict):
                _fail(tf, tc, "a mapping {model, quality} (or {model, steps} for images)")
            m = TIER_NAMES.index(tname)
            row = models.get(tc.get("model"))
            if row is None or row.kind != want_kind:
                known = [k for k, r in models.items() if r.kind == want_kind]
                _fail(f"{tf}.model", tc.get("model"), f"a {want_kind} row of models: {known}")
            mem[i, m] = row.weights_gb
            t_params[i, m] = row.params_b
            t_beta[i, m] = row.beta
            if kind == "image":
                steps = _num(tc, "steps", f"{tf}.steps", lo=1, hi=10_000, integer=True)
                t_fixed[i, m] = steps * row.fixed_s
                kv_fixed[i, m] = row.kv_fixed_gb
                fl_fixed[i, m] = steps * row.flops_per_step
                qual[i, m] = float(np.interp(steps, pts_a[:, 0], pts_a[:, 1]))
            else:
                t_in[i, m], t_out[i, m] = row.in_s, row.out_s
                kv_tok[i, m] = row.kv_per_token_gb
                fl_tok[i, m] = 2.0 * row.params_b * 1e9
                qual[i, m] = _num(tc, "quality", f"{tf}.quality", lo=0, hi=1)
            if qual[i, m] + gain[i] > 1 + 1e-12:
                _fail(
                    f"{f}.finetune_gain",
                    gain[i],
                    f"<= 1 - {tname} quality {qual[i, m]:g} (quality may not exceed 1)",
                )
        cc = _mapping(sc, "cloud", f"{f}.cloud")
        cf = f"{f}.cloud"
        c_q[i] = _num(cc, "quality", f"{cf}.quality", lo=0, hi=1)
        if c_q[i] + gain[i] > 1 + 1e-12:
            _fail(f"{f}.finetune_gain", gain[i], f"<= 1 - cloud quality {c_q[i]:g}")
        if kind == "image":
            c_fixed[i] = _num(cc, "s_per_image", f"{cf}.s_per_image", lo=0, lo_open=True)
            c_usd_fixed[i] = _num(cc, "usd_per_image", f"{cf}.usd_per_image", lo=0)
        else:
            c_fixed[i] = _num(cc, "first_token_s", f"{cf}.first_token_s", lo=0)
            c_out[i] = 1.0 / _num(cc, "tok_per_s", f"{cf}.tok_per_s", lo=0, lo_open=True)
            c_usd_in[i] = _num(cc, "usd_per_mtok_in", f"{cf}.usd_per_mtok_in", lo=0) / 1e6
            c_usd_out[i] = _num(cc, "usd_per_mtok_out", f"{cf}.usd_per_mtok_out", lo=0) / 1e6
    if share.sum() <= 0:
        _fail("services.*.share", share.tolist(), "non-negative with a positive sum")
    share = share / share.sum()
    # the device: prefill at its FLOP rate, decode also bound by reading the weights
    dev_flops = device_hz * device_fpc
    dev_fixed = fl_fixed / dev_flops
    dev_in = fl_tok / dev_flops
    dev_out = np.maximum(fl_tok / dev_flops, np.where(np.isfinite(mem), mem, 0.0) / device_bw)
    dev_out = np.where(fl_tok > 0, dev_out, 0.0)
    # edge rates scale with edge_speed
    t_fixed, t_in, t_out = t_fixed / edge_speed, t_in / edge_speed, t_out / edge_speed
    peak_flops *= edge_speed

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

    # ---- plan catalog: per service none or an allowed tier, x fine-tuning x sensing levels
    plans = _mapping(cfg, "plans", "plans")
    et = plans.get("edge_tiers")
    if isinstance(et, (list, tuple)):
        et = {s: list(et) for s in names}
    if not isinstance(et, dict):
        _fail("plans.edge_tiers", et, "a list of tier names or a mapping service -> list")
    choices_per: list[list[int]] = []
    for s_i, sname in enumerate(names):
        allowed = et.get(sname, [])
        if not isinstance(allowed, (list, tuple)):
            _fail(f"plans.edge_tiers.{sname}", allowed, "a list of tier names")
        ch = [-1]
        for t in allowed:
            if t not in TIER_NAMES or not np.isfinite(mem[s_i, TIER_NAMES.index(t)]):
                _fail(f"plans.edge_tiers.{sname}", t, "a tier the service defines")
            ch.append(TIER_NAMES.index(t))
        choices_per.append(ch)
    for k in et:
        if k not in names:
            _fail("plans.edge_tiers", k, f"a service among {list(names)}")
    levels = {}
    for fname in ("finetune_levels", "sensing_levels"):
        lv = plans.get(fname)
        if not isinstance(lv, (list, tuple)) or not lv:
            _fail(f"plans.{fname}", lv, "a non-empty list of levels in [0, 1)")
        levels[fname] = [_val(x, f"plans.{fname}[{j}]", lo=0, hi=0.99) for j, x in enumerate(lv)]
    ft_levels, se_levels = levels["finetune_levels"], levels["sensing_levels"]
    combos = list(itertools.product(*choices_per))
    plan_rows = [(tc, fl, sl) for tc in combos for fl in ft_levels for sl in se_levels]
    plan_tiers = np.array([r[0] for r in plan_rows], dtype=np.int64).reshape(-1, S)
    plan_ft = np.array([r[1] for r in plan_rows])
    plan_se = np.array([r[2] for r in plan_rows])
    held = plan_tiers >= 0
    svc = np.arange(S)[None, :]
    tier0 = np.maximum(plan_tiers, 0)
    mem0 = np.where(np.isfinite(mem), mem, 0.0)
    weights = np.where(held, mem0[svc, tier0], 0.0).sum(axis=1)
    plan_mem = weights + ft_mem * (plan_ft > 0)
    kv_budget = edge_memory_gb - plan_mem
    ft_params = np.where(held, t_params[svc, tier0], 0.0).sum(axis=1)
    # a plan fits if it leaves memory for one stream of every service it holds
    one_stream = kv_fixed + kv_tok * (in_hi + vis + out_hi)[:, None]  # (S, M) worst request
    need = np.where(held, one_stream[svc, tier0], 0.0).max(axis=1)
    plan_fits = kv_budget >= need - 1e-9

    knowledge_flow = cfg.get("knowledge_flow", True)
    if not isinstance(knowledge_flow, bool):
        _fail("knowledge_flow", knowledge_flow, "true or false")
    ft_mid, se_mid = ft_levels[len(ft_levels) // 2], se_levels[len(se_levels) // 2]
    plan_allowed = plan_fits.copy()
    if not knowledge_flow:  # sensing and fine-tuning off: only the 0.0 levels are allowed
        for lv, fname in [(ft_levels, "finetune_levels"), (se_levels, "sensing_levels")]:
            if 0.0 not in lv:
                _fail(f"plans.{fname}", lv, "levels including 0.0 when knowledge_flow is false")
        ft_mid = se_mid = 0.0
        plan_allowed &= (plan_ft == 0.0) & (plan_se == 0.0)
    # Default plan (SYSTEM_MODEL sec. 8): services in order of request share take
    # the medium tier (GainNet: medium models on edge servers), or the largest
    # smaller tier, while the plan still fits; middle fine-tuning and sensing levels.
    chosen = [-1] * S
    medium = TIER_NAMES.index("medium")
    index = {(tuple(r[0]), r[1], r[2]): i for i, r in enumerate(plan_rows)}
    for s_i in np.argsort(-share, kind="stable"):
        for t in sorted((c for c in choices_per[s_i][1:] if c <= medium), reverse=True):
            trial = list(chosen)
            trial[s_i] = t
            if plan_allowed[index[(tuple(trial), ft_mid, se_mid)]]:
                chosen = trial
                break
    default_plan = index[(tuple(chosen), ft_mid, se_mid)]
    if not plan_allowed[default_plan] or all(c < 0 for c in chosen):
        serving = (plan_ft == ft_mid) & (plan_se == se_mid) & held.any(axis=1)
        least = float(np.min((plan_mem + need)[serving])) if serving.any() else math.inf
        _fail(
            "network.edge_memory_gb",
            edge_memory_gb,
            f">= {least:.3g} GB: the default plan must hold a tier, with its fine-tuning "
            "memory and one stream",
        )

    # ---- offered load (sec. 12.4): w_ref,s at the default-plan tier (else medium,
    # else the smallest tier) at batch B_ref = reference_batch; C_e = B_ref streams.
    ref_tier = np.array(
        [
            chosen[s]
            if chosen[s] >= 0
            else (medium if np.isfinite(mem[s, medium]) else int(np.argmax(np.isfinite(mem[s]))))
            for s in range(S)
        ],
        dtype=np.int64,
    )
    mean_in = (in_lo + in_hi) / 2 + vis
    mean_out = (out_lo + out_hi) / 2
    rt = (np.arange(S), ref_tier)
    w1 = t_fixed[rt] + t_in[rt] * mean_in + t_out[rt] * mean_out
    # C_e is the inference capacity: the default plan's fine-tuning share is not
    ref_work = w1 * (1.0 + t_beta[rt] * (ref_batch - 1)) / (1.0 - plan_ft[default_plan])
    demand_per_request = float(np.dot(share, ref_work))
    lam1 = rho1 * num_edges * ref_batch / (num_devices * demand_per_request)
    # the cloud: streams per edge x E (so it grows with the network), at least 1;
    # c = C_cloud / (E C_e) in requests/s of the service mix is derived
    cloud_time = float(np.dot(share, c_fixed + c_out * mean_out))
    cloud_streams = max(1, round(cloud_per_edge * num_edges))
    cloud_c = cloud_streams * demand_per_request / (num_edges * ref_batch * cloud_time)

    up_sched, scale_sched = _events(cfg.get("events") or [], num_edges, slot_s, episode_slots)
    has_events = bool((~up_sched).any() or (scale_sched != 1.0).any())

    arrivals = _model(cfg, "arrivals", ArrivalModel)
    mean_slot = lam1 * max(load, 1.0) * slot_s * num_devices  # Poisson tail at the mean rate
    max_new = _poisson_quantile(mean_slot, overflow_p)
    max_deadline = float(dl_hi.max())
    ring_slots = math.ceil(max_deadline / slot_s) + 2
    num_options = max_edges + 3
    return Params(
        name=name,
        deployment=deployment,
        load=load,
        offered_load=rho1 * load,
        num_edges=num_edges,
        num_devices=num_devices,
        max_edges=max_edges,
        area_m=area_m,
        slot_s=slot_s,
        frame_slots=frame_slots,
        episode_slots=episode_slots,
        edge_xy_m=edge_layout(num_edges, area_m),
        binding_pools=tuple(pools),
        sensing_binds_through=sensing_through,
        ul_bandwidth_hz=ul_bw,
        dl_bandwidth_hz=dl_bw,
        ul_time_share=ul_ts,
        dl_time_share=dl_ts,
        ul_subbands=ul_k,
        dl_subbands=dl_k,
        backhaul_bps=backhaul_bps,
        backhaul_latency_s=backhaul_latency_s,
        edge_speed=edge_speed,
        edge_peak_flops=peak_flops,
        edge_memory_gb=edge_memory_gb,
        edge_power_w=edge_power_w,
        max_batch=max_batch,
        reference_batch=ref_batch,
        model_load_gb_per_s=model_load,
        finetune_memory_gb=ft_mem,
        finetune_efficiency=ft_eff,
        cloud_capacity_ratio=cloud_c,
        cloud_streams=int(cloud_streams),
        cloud_power_w=cloud_power_w,
        device_flops=dev_flops,
        device_memory_gbps=device_bw,
        device_power_w=device_kappa * device_hz**3,
        sensing_rate_bps=sensing_rate,
        sensing_buffer_bits=sensing_buffer,
        tokens_per_mbit=tokens_per_mbit,
        knowledge_scale_tokens=k_scale,
        knowledge_decay=k_decay,
        initial_knowledge_tokens=k0,
        cloud_relay_fraction=relay,
        service_names=names,
        service_kind=kind_idx,
        service_share=share,
        deadline_lo_s=dl_lo,
        deadline_hi_s=dl_hi,
        in_tokens_lo=in_lo,
        in_tokens_hi=in_hi,
        visual_tokens=vis,
        out_tokens_lo=out_lo,
        out_tokens_hi=out_hi,
        bits_per_token=bpt,
        payload_lo_bits=pay_lo,
        payload_hi_bits=pay_hi,
        min_quality_lo=mq_lo,
        min_quality_hi=mq_hi,
        private_prob=priv,
        finetune_gain=gain,
        tier_memory_gb=mem,
        tier_quality=qual,
        tier_params_b=t_params,
        tier_fixed_s=t_fixed,
        tier_in_s=t_in,
        tier_out_s=t_out,
        tier_beta=t_beta,
        tier_kv_fixed_gb=kv_fixed,
        tier_kv_per_token_gb=kv_tok,
        tier_flops_fixed=fl_fixed,
        tier_flops_per_token=fl_tok,
        tier_device_fixed_s=dev_fixed,
        tier_device_in_s=dev_in,
        tier_device_out_s=dev_out,
        device_tier=device_tier,
        cloud_quality=c_q,
        cloud_fixed_s=c_fixed,
        cloud_out_s=c_out,
        cloud_usd_fixed=c_usd_fixed,
        cloud_usd_in=c_usd_in,
        cloud_usd_out=c_usd_out,
        plan_tiers=plan_tiers,
        plan_finetune=plan_ft,
        plan_sensing=plan_se,
        plan_memory_gb=plan_mem,
        plan_kv_budget_gb=kv_budget,
        plan_ft_params_b=ft_params,
        plan_allowed=plan_allowed,
        default_plan=default_plan,
        knowledge_flow=knowledge_flow,
        ref_tier=ref_tier,
        ref_work_s=ref_work,
        arrival_rate_hz=lam1,
        has_events=has_events,
        edge_up_sched=up_sched,
        edge_scale_sched=scale_sched,
        max_new_requests=max_new,
        ring_slots=ring_slots,
        record_slots=max_new * ring_slots if has_events else 0,
        latency_bins=math.ceil(max_deadline / LATENCY_BIN_S) + 2,
        num_options=num_options,
        num_actions=max(len(plan_rows), num_options),
        channel=_model(cfg, "channel", ChannelModel),
        mobility=_model(cfg, "mobility", MobilityModel),
        arrivals=arrivals,
        reward=_model(cfg, "reward", RewardModel),
    )
