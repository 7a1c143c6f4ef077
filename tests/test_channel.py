"""The channel reproduces its formulas (SYSTEM_MODEL sections 4 and 12.1): UMa
path loss 128.1 + 37.6 log10(d_km) over the 3D distance (BS 25 m, device
1.5 m, at least 35 m), TR 38.901 NLOS path loss, log-normal shadowing with
sigma 8 dB and Gudmundson correlation, Rayleigh fading with E|h|^2 = 1 and
Jakes lag-1 correlation J0(2 pi f_D dt), and the truncated-Shannon link:
the LTE 20 MHz uplink peaks (75 Mbit/s with 64QAM, 50 with 16QAM) at short
range and a few Mbit/s at the cell edge."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from scipy.special import j0

from gainnet_rl.envs import core
from gainnet_rl.envs.config import load_scenario
from gainnet_rl.envs.models.channel import NEED_REQUEST, TR38901Channel, UMaChannel
from gainnet_rl.envs.params import build_params

C = 299_792_458.0
F_C = 2.0e9
DT = 0.1


def _channel_args(scenario: str = "small", **over: float) -> dict:
    args = {k: v for k, v in load_scenario(scenario)["channel"].items() if k != "_target_"}
    args.update(over)
    return args


@pytest.fixture(scope="module")
def ch() -> UMaChannel:
    return UMaChannel(**_channel_args())  # the shipped (spec's) numbers


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


def test_env_gain_is_minus_pathloss_without_shadowing() -> None:
    """In the env, the mean gain of every (device, edge) pair is -PL(3D distance)."""
    cfg = load_scenario("medium")
    cfg["channel"]["shadowing_std_db"] = 0.0
    p = build_params(cfg)
    s = core.reset(_keys(3), p)
    pos = s.mobility["pos_m"]  # (B, U, 2)
    d2 = np.sum((pos[:, :, None, :] - p.edge_xy_m[None, None]) ** 2, axis=-1)
    d3_km = np.maximum(np.sqrt(d2 + 23.5**2), 35.0) / 1000.0
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
    st1 = {k: a.copy() for k, a in st0.items()}
    rows = np.arange(B)
    one = np.ones(B, dtype=np.int64)
    ch.advance_rows(st1, keys, one, rows, np.full((B, U), moved_m), np.full((B, U), speed), DT)
    need = np.full((B, U), NEED_REQUEST, np.uint8)
    ch.draw_rows(
        st1, keys, one, rows, need, np.zeros((B, U, 2)), np.array([[0.0, 0.0], [100.0, 0.0]]),
        np.zeros((B, U), np.int64), np.zeros((B, U, 2)),
    )  # fmt: skip
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
        {
            "_target_": target,
            "lanes": 4,
            "lane_width_m": 3.5,
            "min_speed_mps": speed,
            "max_speed_mps": speed,
        }
        if mobility != "Static"
        else {"_target_": target}
    )
    p = build_params(cfg)
    B = 150
    s = core.reset(_keys(B, offset=77), p)
    hs = []
    for _ in range(p.episode_slots):
        core.draw_all_links(s, p)  # the dynamics draw only the links a slot uses
        hs.append(s.channel["h_re"] + 1j * s.channel["h_im"])
        # load 0: each step is the single edge's plan decision, then one slot passes
        s, _, info = core.step(s, np.full(B, p.default_plan), p)
        assert (info["slots_advanced"] == 1).all()
    h = np.stack(hs)  # (T, B, U, E)
    corr = np.mean(h[1:] * np.conj(h[:-1])).real / np.mean(abs(h) ** 2)
    rho = j0(2.0 * np.pi * speed * F_C / C * p.slot_s) if speed > 0 else 0.0
    assert corr == pytest.approx(rho, abs=0.01)
    assert np.mean(abs(h) ** 2) == pytest.approx(1.0, abs=0.015)


def test_compiled_j0_matches_scipy() -> None:
    """The kernels' Bessel J0 (series, Miller recurrence, Hankel expansion) is
    scipy's to 1e-14 over the whole range a Doppler correlation can take."""
    from gainnet_rl.envs.models.channel_kernels import j0 as j0_compiled

    x = np.concatenate([np.linspace(0.0, 60.0, 24001), np.logspace(-8, 4, 2000)])
    got = np.array([j0_compiled(v) for v in x])
    np.testing.assert_allclose(got, j0(x), rtol=0, atol=1e-14)


def test_pathloss_kernel_matches_the_formula_at_every_distance(ch: UMaChannel) -> None:
    d = np.geomspace(0.1, 1e5, 500)
    expected = 128.1 + 37.6 * np.log10(np.maximum(d, ch.min_distance_m) / 1000.0)
    np.testing.assert_allclose(ch.pathloss_db(d), expected, rtol=0, atol=1e-9)


# ------------------------------------------------------------ link abstraction


@pytest.mark.parametrize(("se_max", "peak_mbps"), [(3.75, 75.0), (2.5, 50.0)])
def test_lte_20mhz_uplink_peak_at_short_range(se_max: float, peak_mbps: float) -> None:
    """A device 50 m from the site over the whole 20 MHz carrier reaches the LTE
    uplink peak: 75 Mbit/s with 64QAM (3.75 bit/s/Hz), 50 Mbit/s with 16QAM."""
    ch = UMaChannel(**_channel_args(ul_se_max=se_max))
    gain = 10 ** (-ch.pathloss_db(np.array(50.0)) / 10)
    rate = ch.uplink_rate_bps(np.array(gain), np.array(20e6), 1.0)
    assert rate / 1e6 == pytest.approx(peak_mbps, rel=1e-12)


def test_cell_edge_uplink_is_a_few_mbit_per_second(ch: UMaChannel) -> None:
    """At the corner of a 500 m x 500 m cell (354 m), with no shadowing, a
    request sub-band (20 MHz / 4) carries a few Mbit/s; 1 km away, much less."""
    rate = lambda d, bw: float(
        ch.uplink_rate_bps(np.array(10 ** (-ch.pathloss_db(np.array(d)) / 10)), np.array(bw), 1.0)
    )
    edge = rate(354.0, 5e6)
    assert 2e6 < edge < 10e6, edge
    assert rate(1000.0, 5e6) < edge / 2
    # truncated: below SINR_min (-10 dB) nothing gets through
    assert rate(20_000.0, 5e6) == 0.0


def test_truncated_shannon_formula(ch: UMaChannel) -> None:
    sinr = np.array([0.01, 0.1, 1.0, 10.0, 1e3, 1e6])
    from gainnet_rl.envs.models.channel_kernels import se1

    se = np.array([se1(x, *ch.ul_link) for x in sinr])
    expected = np.where(sinr >= 0.1, np.minimum(0.4 * np.log2(1 + sinr), 3.75), 0.0)
    np.testing.assert_allclose(se, expected, rtol=1e-12)


def test_tr38901_umi_nlos_pathloss_at_3p5_ghz() -> None:
    args = _channel_args("vehicular")
    args.pop("scenario")
    ch = TR38901Channel(scenario="UMi", **args)
    for d in (50.0, 200.0, 500.0):
        nlos = 22.4 + 35.3 * np.log10(d) + 21.3 * np.log10(3.5)
        los = 32.4 + 21.0 * np.log10(d) + 20.0 * np.log10(3.5)
        assert ch.pathloss_db(np.array(d)) == pytest.approx(max(nlos, los), abs=1e-9)
