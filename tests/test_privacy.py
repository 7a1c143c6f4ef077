"""Privacy (SYSTEM_MODEL section 7): a private request never reaches the cloud.
The cloud option is masked for it; forcing it anyway is counted as an invalid
action and the request is rejected, not sent."""

from __future__ import annotations

import numpy as np
import pytest

from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.envs import GainNetEnv, core
from gainnet_rl.envs.config import make_params
from gainnet_rl.envs.engine import Engine

ALL_PRIVATE = {
    "services.text.private_prob": 1.0,
    "services.vision.private_prob": 1.0,
    "services.image.private_prob": 1.0,
}


def _current_request_private(env: GainNetEnv) -> bool:
    s = env.state
    return bool(s.q_private[0, s.req_ptr[0]])


def _cloud(env: GainNetEnv) -> int:
    return env.params.max_edges + 1


@pytest.mark.parametrize("name", ["cloud_only", "random", "least_loaded", "greedy_utility"])
def test_heuristics_never_send_private_requests_to_the_cloud(name: str) -> None:
    env = GainNetEnv(scenario="small", load=2.0, overrides=ALL_PRIVATE)
    policy = HEURISTICS[name](env, seed=0)
    obs, info = env.reset(seed=0)
    n_requests = 0
    while True:
        if info["decision_type"] == core.DECISION_REQUEST:
            n_requests += 1
            assert _current_request_private(env)
            assert not env.action_masks()[_cloud(env)], "cloud not masked for a private request"
        action, _ = policy.predict(obs)
        obs, _, _, truncated, info = env.step(action)
        if truncated:
            break
    ep = info["episode_metrics"]
    assert n_requests > 20
    assert ep["cloud_requests"] == 0
    assert ep["cloud_cost_usd"] == 0
    assert ep["invalid_actions"] == 0
    assert ep["served"] > 0


@pytest.mark.parametrize(
    "overrides",
    [{**ALL_PRIVATE, "sensing.cloud_relay_fraction": 0.0}, {}],
    ids=["all_private", "default_mix"],
)
def test_forcing_the_cloud_rejects_private_requests_and_counts_them(overrides) -> None:  # type: ignore[no-untyped-def]
    env = GainNetEnv(scenario="small", load=4.0, overrides=overrides)
    p = env.params
    cloud = _cloud(env)
    _, info = env.reset(seed=1)
    n_private = n_public = n_out = 0  # n_out: public requests whose links are out
    while True:
        if info["decision_type"] == core.DECISION_REQUEST:
            private = _current_request_private(env)
            out = env.engine.outcomes()
            a = out["assoc"][0]
            # in range, and neither link in a deep fade this slot (airtimes finite)
            reachable = bool(
                out["in_range"][0, a]
                and np.isfinite(out["up_end_s"][0, a])
                and np.isfinite(out["dl_end_s"][0, a])
            )
            assert env.action_masks()[cloud] == (not private and reachable)
            before = env.state.ep["cloud_requests"][0]
            _, _, _, truncated, info = env.step(cloud)
            ok = not private and reachable
            assert info["invalid"] == (0 if ok else 1)
            assert env.state.ep["cloud_requests"][0] == before + (1 if ok else 0)
            n_private += private
            n_public += not private
            n_out += not private and not reachable
        else:
            _, _, _, truncated, info = env.step(p.default_plan)
        if overrides:  # nothing ever goes up a backhaul (no relay here) or into the cloud
            assert not env.state.bh_free_s.any() and not env.state.cloud_free_s.any()
        if truncated:
            break
    ep = info["episode_metrics"]
    assert n_private > (10 if overrides else 3)
    if overrides:
        assert n_public == 0
        assert ep["cloud_cost_usd"] == 0
    else:
        assert n_public > 10
    assert ep["invalid_actions"] == n_private + n_out
    assert ep["rejected"] == n_private + n_out
    assert ep["cloud_requests"] == n_public - n_out
    assert ep["local_requests"] == ep["edge_requests"] == 0


def test_private_request_cloud_outcome_is_marked_invalid_in_core() -> None:
    """The batched core agrees: for a batch of sub-envs, the cloud option is
    valid exactly for the non-private current requests whose device reaches
    its edge (in range, and its link not in a deep fade this slot)."""
    eng = Engine(make_params("medium", load=2.0), 8)
    eng.reset(seeds=list(range(8)))
    rng = np.random.default_rng(0)
    cloud = eng.params.max_edges + 1
    seen = 0
    for _ in range(400):
        s, p = eng.state, eng.params
        req = core.decision_type(s, p) == core.DECISION_REQUEST
        rows = np.flatnonzero(req)
        private = s.q_private[rows, s.req_ptr[rows]]
        out = eng.outcomes()
        a = out["assoc"][rows]
        reach = out["in_range"][rows, a]
        link = ~np.isinf(out["up_end_s"][rows, a])
        np.testing.assert_array_equal(eng.action_masks()[rows, cloud], ~private & reach & link)
        seen += int(private.sum())
        m = eng.action_masks()
        eng.step(np.argmax(np.where(m, rng.random(m.shape), -1.0), axis=1))
    assert seen > 5
