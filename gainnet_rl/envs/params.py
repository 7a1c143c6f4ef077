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

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gainnet_rl.envs import catalog
from gainnet_rl.envs.catalog import TIER_NAMES
from gainnet_rl.envs.checks import build_model, check_finite, fail, mapping, num, val
from gainnet_rl.envs.config import VERSIONS
from gainnet_rl.envs.models.arrivals import ArrivalContext, ArrivalModel
from gainnet_rl.envs.models.channel import ChannelModel
from gainnet_rl.envs.models.mobility import MobilityModel
from gainnet_rl.envs.models.reward import RewardModel
from gainnet_rl.envs.schedule import compile_events

POOLS = ("uplink", "sensing", "backhaul", "edge_compute", "edge_memory", "cloud")
SENSING_POOLS = ("uplink", "finetune_compute", "knowledge")
LATENCY_BIN_S = 0.01  # resolution of the per-episode latency histogram (p95)


@dataclass(frozen=True)
class Params:
    """Static scenario parameters. Shapes: E edges, U devices, S services,
    M = 3 edge tiers, P plans. Units are in the names; times are seconds of
    simulated time, work "stream-seconds" (seconds of one edge stream)."""

    name: str
    deployment: str
    version: int  # GainNet version of the demand: 2 (sec. 13) or 1 (sec. 12)
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
    service_arrival: tuple[str | None, ...]  # (S,) arrival class, "human" | "machine" (sec. 13.1)
    # demand history in the observation (sec. 13.3): exponentially weighted arrival
    # rates per edge and service with these time constants; () leaves it out (v1)
    demand_horizons_s: tuple[float, ...]
    demand_decay: np.ndarray  # (H,) exp(-slot_s / horizon): the weight kept per slot
    demand_ref_hz: np.ndarray  # (S,) mean arrivals per second of service s at one edge at load 1
    # scheduled edge events (SYSTEM_MODEL sec. 10 robustness), (T + 1, E) per slot
    has_events: bool
    edge_up_sched: np.ndarray  # (T + 1, E) bool: the edge's compute server is up in slot t
    edge_scale_sched: np.ndarray  # (T + 1, E) compute multiplier in slot t
    # derived sizes
    max_new_requests: int  # R, per-slot request queue length
    ring_slots: int  # H, event ring length (> max deadline in slots)
    measure_slots: int  # association re-evaluated every this many slots
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


def build_params(cfg: dict[str, Any]) -> Params:
    """Validate a scenario config (as from :func:`gainnet_rl.envs.config.load_scenario`)
    and derive the static parameters. Raises :class:`ConfigError` naming the
    offending field, its value and the allowed range."""
    check_finite(cfg)
    name = str(cfg.get("name", "custom"))
    deployment = " ".join(str(cfg.get("deployment", "")).split())
    version = cfg.get("version", 1)  # configs written before v2 hold v1's demand
    if isinstance(version, bool) or version not in VERSIONS:
        fail("version", version, f"one of {list(VERSIONS)} (the GainNet version of the demand)")
    load = num(cfg, "load", "load", lo=0.0, hi=100.0)
    rho1 = num(cfg, "offered_load_at_load1", "offered_load_at_load1", lo=0, lo_open=True, hi=10)
    num_edges = num(cfg, "num_edges", "num_edges", lo=1, hi=64, integer=True)
    max_edges = num(cfg, "max_edges", "max_edges", lo=num_edges, hi=64, integer=True)
    num_devices = num(cfg, "num_devices", "num_devices", lo=1, hi=100_000, integer=True)
    area = cfg.get("area_m")
    if not (isinstance(area, (list, tuple)) and len(area) == 2):
        fail("area_m", area, "a [width, height] pair in m")
    area_m = np.array([val(a, f"area_m[{i}]", lo=0, lo_open=True) for i, a in enumerate(area)])
    slot_s = num(cfg, "slot_s", "slot_s", lo=0, lo_open=True, hi=10.0)
    frame_slots = num(cfg, "frame_slots", "frame_slots", lo=1, integer=True)
    episode_slots = num(cfg, "episode_slots", "episode_slots", lo=1, hi=1_000_000, integer=True)
    overflow_p = num(cfg, "queue_overflow_prob", "queue_overflow_prob", lo=0, lo_open=True, hi=0.5)
    pools = cfg.get("binding_pools") or []
    if not isinstance(pools, (list, tuple)) or any(x not in POOLS for x in pools):
        fail("binding_pools", pools, f"a list of pools among {list(POOLS)}")
    sensing_through = cfg.get("sensing_binds_through")
    if sensing_through not in SENSING_POOLS:
        fail("sensing_binds_through", sensing_through, f"one of {list(SENSING_POOLS)}")

    net = mapping(cfg, "network", "network")
    g = lambda k, **kw: num(net, k, f"network.{k}", **kw)
    ul_bw = g("ul_bandwidth_hz", lo=0, lo_open=True, hi=1e10)
    dl_bw = g("dl_bandwidth_hz", lo=0, lo_open=True, hi=1e10)
    ul_ts = g("ul_time_share", lo=0, lo_open=True, hi=1)
    dl_ts = g("dl_time_share", lo=0, lo_open=True, hi=1)
    if ul_ts + dl_ts > 1 + 1e-9 and not (ul_ts == 1 and dl_ts == 1):
        fail(
            "network.dl_time_share",
            dl_ts,
            f"<= 1 - ul_time_share = {1 - ul_ts:g} (TDD), or both 1 (FDD)",
        )
    ul_k = int(g("ul_subbands", lo=1, hi=256, integer=True))
    dl_k = int(g("dl_subbands", lo=1, hi=256, integer=True))
    backhaul_total_bps = g("backhaul_bps", lo=0, lo_open=True)
    background_bps = g("backhaul_background_bps", lo=0)
    if background_bps >= backhaul_total_bps:
        fail(
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

    sen = mapping(cfg, "sensing", "sensing")
    h = lambda k, **kw: num(sen, k, f"sensing.{k}", **kw)
    sensing_rate = h("rate_bps", lo=0)
    sensing_buffer = h("buffer_bits", lo=0)
    tokens_per_mbit = h("tokens_per_mbit", lo=0)
    k_scale = h("knowledge_scale_tokens", lo=0, lo_open=True)
    k_decay = h("knowledge_decay", lo=0, hi=1)
    k0 = h("initial_knowledge_tokens", lo=0)
    relay = h("cloud_relay_fraction", lo=0, hi=1)

    models = catalog.model_rows(cfg)
    sv = catalog.services(cfg, models)
    # the device: prefill at its FLOP rate, decode also bound by reading the weights
    dev_flops = device_hz * device_fpc
    dev_fixed = sv.fl_fixed / dev_flops
    dev_in = sv.fl_tok / dev_flops
    dev_out = np.maximum(
        sv.fl_tok / dev_flops, np.where(np.isfinite(sv.mem), sv.mem, 0.0) / device_bw
    )
    dev_out = np.where(sv.fl_tok > 0, dev_out, 0.0)
    # edge rates scale with edge_speed
    t_fixed, t_in, t_out = sv.t_fixed / edge_speed, sv.t_in / edge_speed, sv.t_out / edge_speed
    peak_flops *= edge_speed

    device_tier = catalog.device_tiers(cfg, sv)
    pl = catalog.plans(cfg, sv, edge_memory_gb, ft_mem)

    # ---- offered load (sec. 12.4): w_ref,s at the default-plan tier (else medium,
    # else the smallest tier) at batch B_ref = reference_batch; C_e = B_ref streams.
    ref_tier = np.array(
        [
            pl.chosen[s]
            if pl.chosen[s] >= 0
            else (
                pl.medium
                if np.isfinite(sv.mem[s, pl.medium])
                else int(np.argmax(np.isfinite(sv.mem[s])))
            )
            for s in range(sv.S)
        ],
        dtype=np.int64,
    )
    mean_in = (sv.in_lo + sv.in_hi) / 2 + sv.vis
    mean_out = (sv.out_lo + sv.out_hi) / 2
    rt = (np.arange(sv.S), ref_tier)
    w1 = t_fixed[rt] + t_in[rt] * mean_in + t_out[rt] * mean_out
    # C_e is the inference capacity: the default plan's fine-tuning sv.share is not
    ref_work = w1 * (1.0 + sv.t_beta[rt] * (ref_batch - 1)) / (1.0 - pl.plan_ft[pl.default_plan])
    demand_per_request = float(np.dot(sv.share, ref_work))
    lam1 = rho1 * num_edges * ref_batch / (num_devices * demand_per_request)
    # the cloud: streams per edge x E (so it grows with the network), at least 1;
    # c = C_cloud / (E C_e) in requests/s of the service mix is derived
    cloud_time = float(np.dot(sv.share, sv.c_fixed + sv.c_out * mean_out))
    cloud_streams = max(1, round(cloud_per_edge * num_edges))
    cloud_c = cloud_streams * demand_per_request / (num_edges * ref_batch * cloud_time)

    up_sched, scale_sched = compile_events(
        cfg.get("events") or [], num_edges, slot_s, episode_slots
    )
    has_events = bool((~up_sched).any() or (scale_sched != 1.0).any())

    arrivals = build_model(cfg, "arrivals", ArrivalModel)
    arrivals.bind(
        ArrivalContext(slot_s, num_edges, num_devices, sv.names, sv.share.copy(), sv.arrival)
    )
    mean_slot = lam1 * max(load, 1.0) * slot_s * num_devices  # the model's tail at this mean
    max_new = arrivals.slot_quantile(mean_slot, overflow_p)
    horizons = cfg.get("demand_horizons_s") or []
    if not isinstance(horizons, (list, tuple)) or len(horizons) > 8:
        fail("demand_horizons_s", horizons, "a list of at most 8 time constants in s")
    horizons = tuple(
        val(h, f"demand_horizons_s[{i}]", lo=slot_s, hi=3600.0) for i, h in enumerate(horizons)
    )
    max_deadline = float(sv.dl_hi.max())
    ring_slots = math.ceil(max_deadline / slot_s) + 2
    num_options = max_edges + 3
    channel = build_model(cfg, "channel", ChannelModel)
    measure_slots = round(channel.measurement_period_s / slot_s)
    if measure_slots < 1 or abs(measure_slots * slot_s - channel.measurement_period_s) > 1e-9:
        fail(
            "channel.measurement_period_s",
            channel.measurement_period_s,
            f"a whole number (>= 1) of slots of slot_s={slot_s} s",
        )
    return Params(
        name=name,
        deployment=deployment,
        version=int(version),
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
        service_names=sv.names,
        service_kind=sv.kind_idx,
        service_share=sv.share,
        deadline_lo_s=sv.dl_lo,
        deadline_hi_s=sv.dl_hi,
        in_tokens_lo=sv.in_lo,
        in_tokens_hi=sv.in_hi,
        visual_tokens=sv.vis,
        out_tokens_lo=sv.out_lo,
        out_tokens_hi=sv.out_hi,
        bits_per_token=sv.bpt,
        payload_lo_bits=sv.pay_lo,
        payload_hi_bits=sv.pay_hi,
        min_quality_lo=sv.mq_lo,
        min_quality_hi=sv.mq_hi,
        private_prob=sv.priv,
        finetune_gain=sv.gain,
        tier_memory_gb=sv.mem,
        tier_quality=sv.qual,
        tier_params_b=sv.t_params,
        tier_fixed_s=t_fixed,
        tier_in_s=t_in,
        tier_out_s=t_out,
        tier_beta=sv.t_beta,
        tier_kv_fixed_gb=sv.kv_fixed,
        tier_kv_per_token_gb=sv.kv_tok,
        tier_flops_fixed=sv.fl_fixed,
        tier_flops_per_token=sv.fl_tok,
        tier_device_fixed_s=dev_fixed,
        tier_device_in_s=dev_in,
        tier_device_out_s=dev_out,
        device_tier=device_tier,
        cloud_quality=sv.c_q,
        cloud_fixed_s=sv.c_fixed,
        cloud_out_s=sv.c_out,
        cloud_usd_fixed=sv.c_usd_fixed,
        cloud_usd_in=sv.c_usd_in,
        cloud_usd_out=sv.c_usd_out,
        plan_tiers=pl.plan_tiers,
        plan_finetune=pl.plan_ft,
        plan_sensing=pl.plan_se,
        plan_memory_gb=pl.plan_mem,
        plan_kv_budget_gb=pl.kv_budget,
        plan_ft_params_b=pl.ft_params,
        plan_allowed=pl.plan_allowed,
        default_plan=pl.default_plan,
        knowledge_flow=pl.knowledge_flow,
        ref_tier=ref_tier,
        ref_work_s=ref_work,
        arrival_rate_hz=lam1,
        service_arrival=sv.arrival,
        demand_horizons_s=horizons,
        demand_decay=np.exp(-slot_s / np.array(horizons, dtype=np.float64)),
        demand_ref_hz=lam1 * num_devices / num_edges * sv.share,
        has_events=has_events,
        edge_up_sched=up_sched,
        edge_scale_sched=scale_sched,
        max_new_requests=max_new,
        ring_slots=ring_slots,
        measure_slots=measure_slots,
        record_slots=max_new * ring_slots if has_events else 0,
        latency_bins=math.ceil(max_deadline / LATENCY_BIN_S) + 2,
        num_options=num_options,
        num_actions=max(len(pl.plan_rows), num_options),
        channel=channel,
        mobility=build_model(cfg, "mobility", MobilityModel),
        arrivals=arrivals,
        reward=build_model(cfg, "reward", RewardModel),
    )
