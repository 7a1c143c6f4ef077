"""The scenario's catalogs: model rows (one per model and precision), services
and their tiers, the tiers devices hold, and the plan catalog with its
default plan. Every value is checked here, with errors naming the field."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gainnet_rl.envs.checks import fail, mapping, num, pair, val
from gainnet_rl.envs.models.arrivals import ARRIVAL_CLASSES

TIER_NAMES = ("small", "medium", "large")
SERVICE_KINDS = ("text", "vision", "image")
KIND_TEXT, KIND_VISION, KIND_IMAGE = 0, 1, 2
MODEL_KINDS = ("llm", "diffusion")
GB = 1e9


@dataclass(frozen=True)
class ModelRow:
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


def model_rows(cfg: dict[str, Any]) -> dict[str, ModelRow]:
    models = mapping(cfg, "models", "models")
    kv_bytes = num(cfg, "kv_bytes", "kv_bytes", lo=0, lo_open=True)
    rows = {}
    for name, mc in models.items():
        f = f"models.{name}"
        if not isinstance(mc, dict):
            fail(f, mc, "a mapping with the model's row")
        mc = dict(mc)
        kind = mc.get("kind")
        if kind not in MODEL_KINDS:
            fail(f"{f}.kind", kind, f"one of {list(MODEL_KINDS)}")
        params_b = num(mc, "params_b", f"{f}.params_b", lo=0, lo_open=True)
        if kind == "llm":
            bits = num(mc, "weight_bits", f"{f}.weight_bits", lo=1, hi=32)
            r1 = num(mc, "decode_tok_s_b1", f"{f}.decode_tok_s_b1", lo=0, lo_open=True)
            r8 = num(mc, "decode_tok_s_b8", f"{f}.decode_tok_s_b8", lo=r1)
            if r8 > 8 * r1:
                fail(f"{f}.decode_tok_s_b8", r8, f"<= 8 x decode_tok_s_b1 = {8 * r1:g} tok/s")
            pre = num(mc, "prefill_tok_s", f"{f}.prefill_tok_s", lo=0, lo_open=True)
            layers = num(mc, "layers", f"{f}.layers", lo=1, integer=True)
            heads = num(mc, "kv_heads", f"{f}.kv_heads", lo=1, integer=True)
            hdim = num(mc, "head_dim", f"{f}.head_dim", lo=1, integer=True)
            # r(B) = r1 / (1 + beta (B - 1)) per stream; aggregate at 8 is 8 r(8)
            beta = (8.0 * r1 / r8 - 1.0) / 7.0
            rows[name] = ModelRow(
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
            rows[name] = ModelRow(
                kind=kind,
                params_b=params_b,
                weights_gb=num(mc, "weights_gb", f"{f}.weights_gb", lo=0, lo_open=True),
                fixed_s=num(mc, "s_per_step_b1", f"{f}.s_per_step_b1", lo=0, lo_open=True),
                in_s=0.0,
                out_s=0.0,
                beta=num(mc, "batch_beta", f"{f}.batch_beta", lo=0),
                kv_fixed_gb=num(mc, "stream_gb", f"{f}.stream_gb", lo=0),
                kv_per_token_gb=0.0,
                flops_per_step=num(mc, "gflops_per_step", f"{f}.gflops_per_step", lo=0) * 1e9,
            )
    return rows


@dataclass(frozen=True)
class Services:
    """Per-service (S,) and per-tier (S, M) arrays of :func:`services` (units
    as in :class:`gainnet_rl.envs.params.Params`; edge times at speed 1)."""

    names: tuple[str, ...]  # service names
    S: int  # number of services
    M: int  # number of edge tiers (3)
    kind_idx: np.ndarray  # (S,) index into SERVICE_KINDS
    share: np.ndarray  # (S,) request share, sums to 1
    dl_lo: np.ndarray  # (S,) deadline range, s
    dl_hi: np.ndarray
    in_lo: np.ndarray  # (S,) prompt tokens range
    in_hi: np.ndarray
    out_lo: np.ndarray  # (S,) generated tokens range (0 for images)
    out_hi: np.ndarray
    vis: np.ndarray  # (S,) visual tokens of a frame (vision)
    bpt: np.ndarray  # (S,) bits per token
    pay_lo: np.ndarray  # (S,) frame (vision) or picture (image) bits range
    pay_hi: np.ndarray
    mq_lo: np.ndarray  # (S,) quality floor range
    mq_hi: np.ndarray
    priv: np.ndarray  # (S,) private probability
    gain: np.ndarray  # (S,) fine-tuning quality gain
    c_q: np.ndarray  # (S,) cloud quality
    c_fixed: np.ndarray  # (S,) cloud s per request (first token, image)
    c_out: np.ndarray  # (S,) cloud s per generated token
    c_usd_fixed: np.ndarray  # (S,) $ per request (image)
    c_usd_in: np.ndarray  # (S,) $ per prompt token
    c_usd_out: np.ndarray  # (S,) $ per generated token
    mem: np.ndarray  # (S, M) weights GB, inf where the tier is undefined
    qual: np.ndarray  # (S, M) tier quality
    t_params: np.ndarray  # (S, M) 1e9 parameters
    t_fixed: np.ndarray  # (S, M) batch-1 s per request (diffusion)
    t_in: np.ndarray  # (S, M) batch-1 s per prefill token
    t_out: np.ndarray  # (S, M) batch-1 s per generated token
    t_beta: np.ndarray  # (S, M) batching slowdown
    kv_fixed: np.ndarray  # (S, M) GB per stream (diffusion)
    kv_tok: np.ndarray  # (S, M) KV GB per token
    fl_fixed: np.ndarray  # (S, M) FLOPs per request (diffusion)
    fl_tok: np.ndarray  # (S, M) FLOPs per token (2 N)
    #: (S,) arrival class "human" | "machine" (sec. 13.1), None: unset
    arrival: tuple[str | None, ...]


def services(cfg: dict[str, Any], models: dict[str, ModelRow]) -> Services:
    """Check and tabulate the scenario's services, their tiers and cloud models."""
    services = cfg.get("services")
    if not isinstance(services, dict) or not services:
        fail("services", services, "a non-empty mapping of service name to its config")
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
    arrivals: list[str | None] = []
    for i, sname in enumerate(names):
        sc = dict(services[sname] or {})
        f = f"services.{sname}"
        kind = sc.get("kind")
        if kind not in SERVICE_KINDS:
            fail(f"{f}.kind", kind, f"one of {list(SERVICE_KINDS)}")
        cls = sc.get("arrival")
        if cls is not None and cls not in ARRIVAL_CLASSES:
            fail(f"{f}.arrival", cls, f"one of {list(ARRIVAL_CLASSES)} (sec. 13.1)")
        arrivals.append(cls)
        kind_idx[i] = SERVICE_KINDS.index(kind)
        share[i] = num(sc, "share", f"{f}.share", lo=0)
        dl_lo[i], dl_hi[i] = pair(sc, "deadline_s", f"{f}.deadline_s", 0, lo_open=True)
        if dl_hi[i] > 600:
            fail(f"{f}.deadline_s[1]", dl_hi[i], "<= 600 s")
        mq_lo[i], mq_hi[i] = pair(sc, "min_quality", f"{f}.min_quality", 0)
        if mq_hi[i] > 1:
            fail(f"{f}.min_quality[1]", mq_hi[i], "<= 1 (quality is in [0, 1])")
        priv[i] = num(sc, "private_prob", f"{f}.private_prob", lo=0, hi=1)
        gain[i] = num(sc, "finetune_gain", f"{f}.finetune_gain", lo=0, hi=1)
        bpt[i] = num(sc, "bits_per_token", f"{f}.bits_per_token", lo=0, lo_open=True)
        in_lo[i], in_hi[i] = pair(sc, "in_tokens", f"{f}.in_tokens", 0)
        if kind == "image":
            pay_lo[i], pay_hi[i] = pair(sc, "image_bits", f"{f}.image_bits", 0)
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
                fail(
                    f"{f}.quality_vs_steps",
                    pts,
                    "a list of [steps, quality] pairs, steps increasing, quality in [0, 1]",
                )
        else:
            out_lo[i], out_hi[i] = pair(sc, "out_tokens", f"{f}.out_tokens", 0)
            if kind == "vision":
                pay_lo[i], pay_hi[i] = pair(sc, "frame_bits", f"{f}.frame_bits", 0)
                vis[i] = num(sc, "visual_tokens", f"{f}.visual_tokens", lo=0, integer=True)
        tiers = sc.get("tiers")
        if not isinstance(tiers, dict) or not tiers:
            fail(f"{f}.tiers", tiers, f"a mapping with keys among {list(TIER_NAMES)}")
        want_kind = "diffusion" if kind == "image" else "llm"
        for tname, tc in tiers.items():
            if tname not in TIER_NAMES:
                fail(f"{f}.tiers", tname, f"keys among {list(TIER_NAMES)}")
            tf = f"{f}.tiers.{tname}"
            if not isinstance(tc, dict):
                fail(tf, tc, "a mapping {model, quality} (or {model, steps} for images)")
            m = TIER_NAMES.index(tname)
            row = models.get(tc.get("model"))
            if row is None or row.kind != want_kind:
                known = [k for k, r in models.items() if r.kind == want_kind]
                fail(f"{tf}.model", tc.get("model"), f"a {want_kind} row of models: {known}")
            mem[i, m] = row.weights_gb
            t_params[i, m] = row.params_b
            t_beta[i, m] = row.beta
            if kind == "image":
                steps = num(tc, "steps", f"{tf}.steps", lo=1, hi=10_000, integer=True)
                t_fixed[i, m] = steps * row.fixed_s
                kv_fixed[i, m] = row.kv_fixed_gb
                fl_fixed[i, m] = steps * row.flops_per_step
                qual[i, m] = float(np.interp(steps, pts_a[:, 0], pts_a[:, 1]))
            else:
                t_in[i, m], t_out[i, m] = row.in_s, row.out_s
                kv_tok[i, m] = row.kv_per_token_gb
                fl_tok[i, m] = 2.0 * row.params_b * 1e9
                qual[i, m] = num(tc, "quality", f"{tf}.quality", lo=0, hi=1)
            if qual[i, m] + gain[i] > 1 + 1e-12:
                fail(
                    f"{f}.finetune_gain",
                    gain[i],
                    f"<= 1 - {tname} quality {qual[i, m]:g} (quality may not exceed 1)",
                )
        cc = mapping(sc, "cloud", f"{f}.cloud")
        cf = f"{f}.cloud"
        c_q[i] = num(cc, "quality", f"{cf}.quality", lo=0, hi=1)
        if c_q[i] + gain[i] > 1 + 1e-12:
            fail(f"{f}.finetune_gain", gain[i], f"<= 1 - cloud quality {c_q[i]:g}")
        if kind == "image":
            c_fixed[i] = num(cc, "s_per_image", f"{cf}.s_per_image", lo=0, lo_open=True)
            c_usd_fixed[i] = num(cc, "usd_per_image", f"{cf}.usd_per_image", lo=0)
        else:
            c_fixed[i] = num(cc, "first_token_s", f"{cf}.first_token_s", lo=0)
            c_out[i] = 1.0 / num(cc, "tok_per_s", f"{cf}.tok_per_s", lo=0, lo_open=True)
            c_usd_in[i] = num(cc, "usd_per_mtok_in", f"{cf}.usd_per_mtok_in", lo=0) / 1e6
            c_usd_out[i] = num(cc, "usd_per_mtok_out", f"{cf}.usd_per_mtok_out", lo=0) / 1e6
    if share.sum() <= 0:
        fail("services.*.share", share.tolist(), "non-negative with a positive sum")
    share = share / share.sum()
    arrival = tuple(arrivals)
    return Services(**{k: v for k, v in locals().items() if k in Services.__dataclass_fields__})


def device_tiers(cfg: dict[str, Any], sv: Services) -> np.ndarray:
    """(S,) tier index each device holds per service (``services.<s>.device_tier``), -1 none."""
    names, mem = sv.names, sv.mem
    device_tier = np.full(sv.S, -1, dtype=np.int64)
    for s_i, sname in enumerate(names):
        tname = (cfg["services"][sname] or {}).get("device_tier")
        if tname is None:
            continue
        if tname not in TIER_NAMES or not np.isfinite(mem[s_i, TIER_NAMES.index(tname)]):
            defined = [t for m, t in enumerate(TIER_NAMES) if np.isfinite(mem[s_i, m])]
            fail(
                f"services.{sname}.device_tier", tname, f"null or a tier of the service: {defined}"
            )
        device_tier[s_i] = TIER_NAMES.index(tname)
    return device_tier


def edge_tiers(cfg: dict[str, Any], sv: Services) -> list[list[int]]:
    """Per service, the tier indices a plan may place on an edge (``services.<s>.edge_tiers``),
    led by -1 (the service not held)."""
    choices_per: list[list[int]] = []
    for s_i, sname in enumerate(sv.names):
        f = f"services.{sname}.edge_tiers"
        allowed = (cfg["services"][sname] or {}).get("edge_tiers", [])
        if not isinstance(allowed, (list, tuple)):
            fail(f, allowed, "a list of tier names (empty: never on an edge)")
        defined = [t for m, t in enumerate(TIER_NAMES) if np.isfinite(sv.mem[s_i, m])]
        ch = [-1]
        for t in allowed:
            if t not in defined:
                fail(f, t, f"a tier of the service: {defined}")
            ch.append(TIER_NAMES.index(t))
        choices_per.append(ch)
    return choices_per


@dataclass(frozen=True)
class Plans:
    """The plan catalog (P,) of :func:`plans` and its default plan."""

    plan_rows: list[tuple[Any, float, float]]  # (tiers, fine-tuning, sensing) per plan
    plan_tiers: np.ndarray  # (P, S) tier index, -1 none
    plan_ft: np.ndarray  # (P,) fine-tuning share
    plan_se: np.ndarray  # (P,) sensing share
    held: np.ndarray  # (P, S) bool: the plan holds the service
    plan_mem: np.ndarray  # (P,) weights + fine-tuning memory, GB
    kv_budget: np.ndarray  # (P,) GB left for streams
    ft_params: np.ndarray  # (P,) parameters fine-tuned, 1e9
    need: np.ndarray  # (P,) GB of one stream of each held service
    plan_allowed: np.ndarray  # (P,) bool: fits (and knowledge_flow permits it)
    knowledge_flow: bool
    ft_mid: float  # the default plan fine-tuning share
    se_mid: float  # and sensing share
    chosen: list[int]  # the default plan tier per service
    default_plan: int
    medium: int  # the medium tier index
    choices_per: list[list[int]]  # allowed tiers per service (-1: none)


def plans(cfg: dict[str, Any], sv: Services, edge_memory_gb: float, ft_mem: float) -> Plans:
    """Check the plan levels and build the catalog: every combination of (per
    service none or one of its ``edge_tiers``) x fine-tuning share x sensing share; a
    plan fits if it leaves memory for one stream of each service it holds."""
    names, S, mem, share = sv.names, sv.S, sv.mem, sv.share
    t_params, kv_fixed, kv_tok = sv.t_params, sv.kv_fixed, sv.kv_tok
    in_hi, vis, out_hi = sv.in_hi, sv.vis, sv.out_hi
    # ---- plan catalog: per service none or an allowed tier, x fine-tuning x sensing levels
    plans_cfg = mapping(cfg, "plans", "plans")
    choices_per = edge_tiers(cfg, sv)
    levels = {}
    for fname in ("finetune_levels", "sensing_levels"):
        lv = plans_cfg.get(fname)
        if not isinstance(lv, (list, tuple)) or not lv:
            fail(f"plans.{fname}", lv, "a non-empty list of levels in [0, 1)")
        levels[fname] = [val(x, f"plans.{fname}[{j}]", lo=0, hi=0.99) for j, x in enumerate(lv)]
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
        fail("knowledge_flow", knowledge_flow, "true or false")
    ft_mid, se_mid = ft_levels[len(ft_levels) // 2], se_levels[len(se_levels) // 2]
    plan_allowed = plan_fits.copy()
    if not knowledge_flow:  # sensing and fine-tuning off: only the 0.0 levels are allowed
        for lv, fname in [(ft_levels, "finetune_levels"), (se_levels, "sensing_levels")]:
            if 0.0 not in lv:
                fail(f"plans.{fname}", lv, "levels including 0.0 when knowledge_flow is false")
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
        fail(
            "network.edge_memory_gb",
            edge_memory_gb,
            f">= {least:.3g} GB: the default plan must hold a tier, with its fine-tuning "
            "memory and one stream",
        )

    return Plans(**{k: v for k, v in locals().items() if k in Plans.__dataclass_fields__})
