"""The channel reproduces its formulas (SYSTEM_MODEL section 4): UMa path loss
128.1 + 37.6 log10(d_km) over the 3D distance (BS 25 m, device 1.5 m),
log-normal shadowing with sigma 8 dB and Gudmundson correlation, Rayleigh
fading with E|h|^2 = 1 and Jakes lag-1 correlation J0(2 pi f_D dt)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from scipy.special import j0

from gainnet_rl.config import load_scenario
from gainnet_rl.envs import core
from gainnet_rl.envs.models.channel import UMaChannel
from gainnet_rl.envs.params import build_params

C = 299_792_458.0
F_C = 2.0e9
DT = 0.1


@pytest.fixture(scope="module")
def ch() -> UMaChannel:
    return UMaChannel()  # the defaults are the spec's numbers


def _keys(n: int, offset: int = 0) -> np.ndarray:
    return np.arange(offset + 1, offset + n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)


def test_pathloss_known_values(ch: UMaChannel) -> None:
    d = np.array([100.0, 250.0, 1000.0, 10_000.0])
    np.testing.assert_allclose(
        ch.pathloss_db(d), [90.5, 128.1 + 37.6 * np.log10(0.25), 128.1, 165.7], atol=1e-9
    )


@pytest.mark.parametrize("d_km", [0.035, 0.1, 0.3, 0.75, 1.0, 2.5])
def test_pathloss_formula(ch: UMaChannel, d_km: float) -> None:
    assert ch.pathloss_db(np.array(d_km * 1000.0)) == pytest.approx(
        128.1 + 37.6 * np.log10(d_km), abs=1e-9
    )


def test_distance_is_3d_with_bs_and_device_heights(ch: UMaChannel) -> None:
    devices = np.array([[[0.0, 0.0], [30.0, 40.0], [1000.0, 0.0]]])  # (B=1, U=3, 2)
    edges = np.array([[30.0, 40.0], [0.0, 0.0]])  # (E=2, 2)
    d = ch.distance_3d_m(devices, edges)
    h = 25.0 - 1.5
    expected = np.sqrt(
        np.array([[50.0**2, 0.0], [0.0, 50.0**2], [970.0**2 + 40.0**2, 1000.0**2]]) + h * h
    )
    np.testing.assert_allclose(d[0], expected, rtol=1e-12)
    assert d[0, 1, 0] == pytest.approx(23.5)  # right below the base station


def test_env_gain_is_minus_pathloss_without_shadowing() -> None:
    """In the env, the mean gain of every (device, edge) pair is -PL(3D distance)."""
    cfg = load_scenario("medium")
    cfg["channel"]["shadowing_std_db"] = 0.0
    p = build_params(cfg)
    s = core.reset(_keys(3), p)
    pos = s.mobility["pos_m"]  # (B, U, 2)
    d2 = np.sum((pos[:, :, None, :] - p.edge_xy_m[None, None]) ** 2, axis=-1)
    d3_km = np.sqrt(d2 + 23.5**2) / 1000.0
    np.testing.assert_allclose(s.gain_db, -(128.1 + 37.6 * np.log10(d3_km)), atol=1e-9)


def test_initial_fading_and_shadowing_statistics(ch: UMaChannel) -> None:
    st = ch.init_state(_keys(2000), (50, 4))  # 400k samples
    g = st["h_re"] ** 2 + st["h_im"] ** 2
    assert g.mean() == pytest.approx(1.0, abs=0.01)
    # Rayleigh: |h|^2 ~ Exp(1), so P(|h|^2 > 1) = e^-1 and var = 1
    assert np.mean(g > 1.0) == pytest.approx(np.exp(-1.0), abs=0.005)
    assert g.var() == pytest.approx(1.0, abs=0.03)
    sh = st["shadow_db"]
    assert sh.mean() == pytest.approx(0.0, abs=0.05)
    assert sh.std() == pytest.approx(8.0, abs=0.05)


def _lag1(ch: UMaChannel, speed: float, moved_m: float, n_keys: int = 2000):  # type: ignore[no-untyped-def]
    keys = _keys(n_keys, offset=10_000)
    st0 = ch.init_state(keys, (50, 2))
    B, U = n_keys, 50
    st1 = ch.evolve(
        st0,
        keys,
        np.ones(B, dtype=np.int64),
        np.full((B, U), moved_m),
        np.full((B, U), speed),
        DT,
    )
    h0 = st0["h_re"] + 1j * st0["h_im"]
    h1 = st1["h_re"] + 1j * st1["h_im"]
    corr = np.mean(h1 * np.conj(h0)).real / np.sqrt(np.mean(abs(h0) ** 2) * np.mean(abs(h1) ** 2))
    return st0, st1, corr


@pytest.mark.parametrize("speed", [0.3, 0.5, 1.0, 1.5, 20.0])
def test_fading_lag1_correlation_is_jakes(ch: UMaChannel, speed: float) -> None:
    _, st1, corr = _lag1(ch, speed, moved_m=speed * DT)
    rho = j0(2.0 * np.pi * speed * F_C / C * DT)
    assert corr == pytest.approx(rho, abs=0.01)
    # the process stays stationary: mean gain still 1
    assert np.mean(st1["h_re"] ** 2 + st1["h_im"] ** 2) == pytest.approx(1.0, abs=0.01)


def test_fading_of_static_devices_is_independent_per_slot(ch: UMaChannel) -> None:
    st0, st1, corr = _lag1(ch, 0.0, moved_m=0.0)
    assert corr == pytest.approx(0.0, abs=0.01)
    # no movement, no shadowing change
    np.testing.assert_array_equal(st0["shadow_db"], st1["shadow_db"])


@pytest.mark.parametrize("moved_m", [1.0, 10.0, 50.0, 150.0])
def test_shadowing_spatial_correlation(ch: UMaChannel, moved_m: float) -> None:
    st0, st1, _ = _lag1(ch, moved_m / DT, moved_m=moved_m)
    c = np.corrcoef(st0["shadow_db"].ravel(), st1["shadow_db"].ravel())[0, 1]
    assert c == pytest.approx(np.exp(-moved_m / 50.0), abs=0.01)
    assert st1["shadow_db"].std() == pytest.approx(8.0, abs=0.08)


@pytest.mark.parametrize(
    ("mobility", "speed"),
    [("MultiLaneRoad", 0.4), ("MultiLaneRoad", 1.2), ("Static", 0.0)],
)
def test_env_fading_correlation_follows_device_speed(mobility: str, speed: float) -> None:
    """Through the env's dynamics: vehicles at a constant speed have slot-to-slot
    fading correlation J0(2 pi v f_c / c dt); static devices have none."""
    cfg = copy.deepcopy(load_scenario("small"))
    cfg.update(num_edges=1, num_devices=50, load=0.0, frame_slots=1, episode_slots=30)
    target = f"gainnet_rl.envs.models.mobility.{mobility}"
    cfg["mobility"] = (
        {"_target_": target, "min_speed_mps": speed, "max_speed_mps": speed}
        if mobility != "Static"
        else {"_target_": target}
    )
    p = build_params(cfg)
    B = 150
    s = core.reset(_keys(B, offset=77), p)
    hs = []
    for _ in range(p.episode_slots):
        hs.append(s.channel["h_re"] + 1j * s.channel["h_im"])
        # load 0: each step is the single edge's plan decision, then one slot passes
        s, _, info = core.step(s, np.full(B, p.default_plan), p)
        assert (info["slots_advanced"] == 1).all()
    h = np.stack(hs)  # (T, B, U, E)
    corr = np.mean(h[1:] * np.conj(h[:-1])).real / np.mean(abs(h) ** 2)
    rho = j0(2.0 * np.pi * speed * F_C / C * p.slot_s) if speed > 0 else 0.0
    assert corr == pytest.approx(rho, abs=0.01)
    assert np.mean(abs(h) ** 2) == pytest.approx(1.0, abs=0.015)
