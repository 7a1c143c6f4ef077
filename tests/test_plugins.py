"""A model written outside the package, with its own compiled kernel, plugs
into a scenario by Hydra ``_target_`` and drives the dynamics (the recipe of
docs/extending.md)."""

from __future__ import annotations

import numpy as np
import pytest

from gainnet_rl.envs import core
from gainnet_rl.envs.config import load_scenario
from gainnet_rl.envs.gainnet_env import GainNetEnv
from gainnet_rl.envs.params import build_params
from gainnet_rl.envs.vector_env import GainNetVectorEnv

CIRCLE = {"_target_": "plugin_models.Circle", "radius_m": 200.0, "speed_mps": 5.0}


def _cfg() -> dict:
    cfg = load_scenario("small")
    cfg["mobility"] = dict(CIRCLE)
    return cfg


def test_plugged_mobility_kernel_moves_the_devices() -> None:
    p = build_params(_cfg())
    keys = np.arange(1, 4, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    s = core.reset(keys, p)
    phase0 = s.mobility["phase"].copy()
    while (s.slot < 15).any():
        s, _, _ = core.step(s, core.action_mask(s, p).argmax(axis=1), p)
    centre = np.asarray(p.area_m) / 2
    radius = np.linalg.norm(s.mobility["pos_m"] - centre, axis=-1)
    np.testing.assert_allclose(radius, 200.0, rtol=1e-12)
    step = 5.0 * p.slot_s / 200.0
    moved = s.mobility["phase"] - phase0
    np.testing.assert_allclose(
        moved, np.broadcast_to(s.slot[:, None] * step, moved.shape), rtol=1e-9
    )
    # the channel saw the movement: gains are those of the new positions
    d = np.linalg.norm(s.mobility["pos_m"][:, :, None] - p.edge_xy_m[None, None], axis=-1)
    pl = p.channel.pathloss_db(np.sqrt(d**2 + p.channel.height_diff_m**2))
    np.testing.assert_allclose(s.gain_db, -pl + s.channel["shadow_db"], atol=1e-9)


def test_plugged_model_keeps_batched_and_scalar_parity() -> None:
    vec = GainNetVectorEnv(3, _cfg())
    obs_v, info_v = vec.reset(seed=11)
    envs = [GainNetEnv(_cfg()) for _ in range(3)]
    for i, e in enumerate(envs):
        np.testing.assert_array_equal(e.reset(seed=11 + i)[0], obs_v[i])
    for _ in range(60):
        act = info_v["action_mask"].argmax(axis=1)
        obs_v, r_v, _, _, info_v = vec.step(act)
        for i, e in enumerate(envs):
            o, r, *_ = e.step(int(act[i]))
            np.testing.assert_array_equal(o, obs_v[i])
            assert r == r_v[i]


def test_a_bad_plugged_argument_names_the_field() -> None:
    cfg = _cfg()
    cfg["mobility"]["radius_m"] = -1.0
    with pytest.raises(Exception, match="radius_m"):
        build_params(cfg)
