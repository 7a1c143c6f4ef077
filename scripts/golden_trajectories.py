"""Record or check golden trajectories of the GainNet env (a semantics guard for
performance work).

For every packaged scenario and encoding, a batch of sub-envs with fixed
seeds is driven by a seeded random valid policy across an autoreset into a
second episode; every step's observations, rewards, truncations, masks, infos
and final episode metrics are hashed (SHA-256 of the raw bytes), and small
float summaries (per-step observation and reward sums, final episode
metrics) are kept for a tolerance comparison.

    python scripts/golden_trajectories.py record   # writes tests/data/golden_trajectories.npz
    python scripts/golden_trajectories.py record --only v2   # (re)records the v2 ones alone
    python scripts/golden_trajectories.py check    # bit-identical? else max abs difference

``tests/test_golden.py`` checks the summaries (to 1e-9, so the test survives
other CPUs' libm); ``check`` here also compares the hashes, i.e. bit for bit.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from gainnet_rl.envs.config import load_scenario
from gainnet_rl.envs.vector_env import GainNetVectorEnv

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "data" / "golden_trajectories.npz"
STEPS = {
    "small": 400,
    "medium": 700,
    "large": 1300,
    "small-bursty-road": 700,
    "medium-static": 700,
    "large-x64": 1200,
    "vehicular": 700,
    "medical-events": 700,
    # GainNet-v2 (SYSTEM_MODEL sec. 13): per-class arrivals, 60 s episodes, demand history
    "small-v2": 450,
    "medium-v2": 950,
    "vehicular-v2": 950,
    "medical-v2": 950,
}
CONFIGS = [
    (scenario, action_mode, observation)
    for scenario in ("small", "medium", "large")
    for action_mode, observation in [
        ("discrete", "flat"),
        ("discrete", "graph"),
        ("continuous", "flat"),
    ]
] + [
    ("small-bursty-road", "discrete", "flat"),
    ("medium-static", "discrete", "flat"),
    ("large-x64", "discrete", "flat"),
    ("vehicular", "discrete", "flat"),
    ("medical-events", "discrete", "flat"),
    ("small-v2", "discrete", "flat"),
    ("small-v2", "discrete", "graph"),
    ("medium-v2", "continuous", "flat"),
    ("vehicular-v2", "discrete", "flat"),
    ("medical-v2", "discrete", "flat"),
]


def _scenario(name: str) -> dict[str, Any]:
    """A packaged scenario with v1's demand (the recordings before v2), a
    variant exercising the other models (bursty arrivals with queue overflow,
    road mobility, static devices, scheduled edge events), or a packaged
    scenario as GainNet-v2 (``-v2``)."""
    if name.endswith("-v2"):
        return load_scenario(name.removesuffix("-v2"))
    if name == "small-bursty-road":
        cfg = load_scenario("small", version=1)
        cfg["load"] = 2.0
        cfg["arrivals"] = {
            "_target_": "gainnet_rl.envs.models.arrivals.BurstyArrivals",
            "burst_factor": 1000.0,
            "p_enter_burst": 0.002,
            "p_leave_burst": 0.5,
        }
        cfg["mobility"] = {
            "_target_": "gainnet_rl.envs.models.mobility.MultiLaneRoad",
            "lanes": 4,
            "lane_width_m": 3.5,
            "min_speed_mps": 10.0,
            "max_speed_mps": 30.0,
        }
        return cfg
    if name == "medical-events":
        cfg = load_scenario("medical", version=1)
        cfg["load"] = 1.5
        cfg["events"] = [
            {"kind": "outage", "edges": [0], "start_s": 4.0, "end_s": 9.0},
            {"kind": "compute_cut", "edges": "all", "start_s": 6.0, "end_s": 14.0, "factor": 0.4},
        ]
        return cfg
    if name == "large-x64":
        return load_scenario("large", version=1)
    if name == "medium-static":
        cfg = load_scenario("medium", version=1)
        cfg["mobility"] = {"_target_": "gainnet_rl.envs.models.mobility.Static"}
        return cfg
    return load_scenario(name, version=1)


NUM_ENVS = 3  # sub-envs per configuration; "-x64" configurations use 64
SEED = 17


def _flat(x: Any) -> list[np.ndarray]:
    """Leaves of a (nested) dict of arrays, in sorted key order."""
    if isinstance(x, dict):
        return [a for k in sorted(x) for a in _flat(x[k])]
    if isinstance(x, np.ndarray) and x.dtype == object:
        return [a for v in x if v is not None for a in _flat(v)]
    a = np.ascontiguousarray(np.asarray(x))
    return [a + 0.0 if a.dtype.kind == "f" else a]  # + 0.0 maps -0.0 to 0.0: hash values


def run(scenario: str, action_mode: str, observation: str, steps: int | None = None) -> dict:
    """Drive the batched env; return per-stream hashes and float summaries."""
    num_envs = 64 if scenario.endswith("-x64") else NUM_ENVS
    env = GainNetVectorEnv(
        num_envs,
        _scenario(scenario),
        action_mode=action_mode,
        observation=observation,
        autoreset_mode=AutoresetMode.SAME_STEP,  # the recordings' autoreset
    )
    policy = np.random.default_rng(SEED)
    hashes = {k: hashlib.sha256() for k in ("obs", "reward", "trunc", "mask", "info", "final")}
    obs, info = env.reset(seed=SEED)
    obs_sum, rewards, finals = [], [], []
    overflow = 0.0
    n = STEPS[scenario] if steps is None else steps
    for _ in range(n):
        for a in _flat(obs):
            hashes["obs"].update(a.tobytes())
        obs_sum.append([float(np.sum(a, dtype=np.float64)) for a in _flat(obs)])
        mask = env.action_masks()
        hashes["mask"].update(mask.tobytes())
        u = policy.random(mask.shape)
        if action_mode == "discrete":
            act = np.argmax(np.where(mask, u, -1.0), axis=1)
        else:
            act = 2.0 * u - 1.0
        obs, reward, _term, trunc, info = env.step(act)
        hashes["reward"].update(reward.tobytes())
        hashes["trunc"].update(trunc.tobytes())
        rewards.append(reward)
        for k in sorted(info):
            if k in ("final_obs", "final_info"):
                continue
            for a in _flat(info[k]):
                hashes["info"].update(a.tobytes())
        if "final_info" in info:
            for a in _flat(info["final_obs"]) + _flat(info["final_info"]):
                hashes["final"].update(a.tobytes())
            m = info["final_info"]["episode_metrics"]
            for i in np.flatnonzero(info["_final_info"]):
                finals.append([float(m[k][i]) for k in sorted(m)])
                overflow += float(m["overflow"][i])
    assert len(finals) >= num_envs, f"{scenario}: no autoreset within {n} steps"
    if scenario == "small-bursty-road":
        assert overflow > 0, "the bursty variant should overflow the request queue"
    return {
        "hashes": {k: h.hexdigest() for k, h in hashes.items()},
        "obs_sum": np.asarray(obs_sum),
        "reward": np.asarray(rewards).sum(axis=1),
        "final_metrics": np.asarray(finals),
    }


def _name(cfg: tuple[str, str, str]) -> str:
    return "-".join(cfg)


def record(path: Path = GOLDEN, only: str | None = None) -> None:
    """Record every configuration, or (``only``) those whose name contains
    ``only``, keeping the file's other recordings."""
    out: dict[str, np.ndarray] = {}
    if only is not None and path.exists():
        with np.load(path) as z:
            out = {k: z[k] for k in z.files}
    for cfg in CONFIGS:
        if only is not None and only not in _name(cfg):
            continue
        r = run(*cfg)
        n = _name(cfg)
        for k, v in r["hashes"].items():
            out[f"{n}/hash/{k}"] = np.array(v)
        for k in ("obs_sum", "reward", "final_metrics"):
            out[f"{n}/{k}"] = r[k]
        print(f"recorded {n}")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **out)
    print(f"wrote {path}")


def check(path: Path = GOLDEN) -> bool:
    ref = np.load(path)
    ok_all = True
    for cfg in CONFIGS:
        r = run(*cfg)
        n = _name(cfg)
        same = [k for k, v in r["hashes"].items() if str(ref[f"{n}/hash/{k}"]) == v]
        diffs = {}
        for k in ("obs_sum", "reward", "final_metrics"):
            a, b = r[k], ref[f"{n}/{k}"]
            diffs[k] = float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")
        if len(same) == len(r["hashes"]):
            print(f"{n}: bit-identical")
        else:
            worst = max(diffs.values())
            ok_all &= worst <= 1e-12
            differ = sorted(set(r["hashes"]) - set(same))
            print(f"{n}: hashes differ in {differ}; max abs diff {diffs}")
    return ok_all


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["record", "check"])
    ap.add_argument("--path", type=Path, default=GOLDEN)
    ap.add_argument(
        "--only", default=None, help="record only configurations whose name contains this"
    )
    args = ap.parse_args(argv)
    if args.mode == "record":
        record(args.path, args.only)
        return 0
    return 0 if check(args.path) else 1


if __name__ == "__main__":
    sys.exit(main())
