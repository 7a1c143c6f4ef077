"""Links drawn lazily (issue 13) have the law of the per-slot process.

The dynamics draw a link only when a slot uses it, jumping ahead exactly
over the slots since its last draw (``channel_kernels.draw_links``). Here a
per-slot reference (numpy, tests only: SYSTEM_MODEL section 4's recursions
applied every slot) and the lazy draws of :class:`UMaChannel` run the same
device speeds, with speed changes inside the gaps and Doppler correlations
positive, negative and zero; at the observation slots their moments and lag
correlations agree with each other and with the closed forms (products of
the per-slot correlations, ``exp(-distance / d_corr)``).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from scipy.special import j0

from gainnet_rl.envs import core
from gainnet_rl.envs.config import ConfigError, load_scenario
from gainnet_rl.envs.models.channel import (
    NEED_MEASURE,
    NEED_REQUEST,
    NEED_SERVING,
    SPEED_OF_LIGHT_MPS,
    UMaChannel,
)
from gainnet_rl.envs.params import build_params

DT, F_C, SIGMA, D_CORR = 0.1, 2.0e9, 8.0, 50.0
T = 12
OBS = (0, 3, 4, 11)  # observation slots: gaps of 3, 1 and 7 slots
# speed (m/s) of a device group before and after slot 6: rho about 0.64 (0.3
# m/s), -0.40 (0.914 m/s, J0's minimum), 0 (static) and about 0.1 (20 m/s)
GROUPS = ((0.3, 0.3), (0.914, 0.914), (0.3, 0.914), (0.0, 0.3), (20.0, 0.0), (0.914, 20.0))
B, PER_GROUP, E = 500, 4, 2
U = len(GROUPS) * PER_GROUP  # 24 devices x 2 edges x 500 sub-envs: 4,000 links per group


def _rho(v: float) -> float:
    return float(j0(2 * np.pi * v * F_C / SPEED_OF_LIGHT_MPS * DT)) if v > 0 else 0.0


def _speed(t: int) -> np.ndarray:
    """(U,) speeds in the slot that ends at slot t."""
    return np.repeat([g[0] if t <= 6 else g[1] for g in GROUPS], PER_GROUP).astype(float)


@pytest.fixture(scope="module")
def ch() -> UMaChannel:
    args = {k: v for k, v in load_scenario("small")["channel"].items() if k != "_target_"}
    return UMaChannel(**args)


def _per_slot_reference() -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Shadowing (dB) and fading (complex) at the observation slots, every link
    advanced every slot by the recursions themselves."""
    gen = np.random.default_rng(2024)
    shape = (B, U, E)
    s = SIGMA * gen.standard_normal(shape)
    h = (gen.standard_normal(shape) + 1j * gen.standard_normal(shape)) * np.sqrt(0.5)
    out = {0: (s.copy(), h.copy())}
    for t in range(1, T + 1):
        v = _speed(t)[None, :, None]
        a = np.exp(-v * DT / D_CORR)
        moved = v > 0
        z = gen.standard_normal(shape)
        s = np.where(moved, a * s + np.sqrt(1 - a * a) * SIGMA * z, s)
        r = np.array([_rho(x) for x in _speed(t)])[None, :, None]
        w = (gen.standard_normal(shape) + 1j * gen.standard_normal(shape)) * np.sqrt(0.5)
        h = r * h + np.sqrt(1 - r * r) * w
        if t in OBS:
            out[t] = (s.copy(), h.copy())
    return out


def _lazy(ch: UMaChannel) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The same observations drawn lazily, only at the observation slots."""
    keys = np.arange(1, B + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    st = ch.init_state(keys, (U, E))
    rows = np.arange(B)
    pos, edges = np.zeros((B, U, 2)), np.array([[0.0, 0.0], [300.0, 0.0]])
    gain, assoc = np.zeros((B, U, E)), np.zeros((B, U), np.int64)
    need = np.full((B, U), NEED_REQUEST, np.uint8)
    out = {0: (st["shadow_db"].copy(), st["h_re"] + 1j * st["h_im"])}
    for t in range(1, T + 1):
        slot = np.full(B, t, np.int64)
        v = np.broadcast_to(_speed(t), (B, U)).copy()
        ch.advance_rows(st, keys, slot, rows, v * DT, v, DT)
        if t in OBS:
            ch.draw_rows(st, keys, slot, rows, need, pos, edges, assoc, gain)
            out[t] = (st["shadow_db"].copy(), st["h_re"] + 1j * st["h_im"])
    return out


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    """Normalised E[x conj(y)] over the links of one group (real part)."""
    norm = np.sqrt(np.mean(abs(x) ** 2) * np.mean(abs(y) ** 2))
    return float(np.mean(x * np.conj(y)).real / norm)


def _expected_fading(g: int, t0: int, t1: int) -> float:
    return float(np.prod([_rho(_speed(t)[g * PER_GROUP]) for t in range(t0 + 1, t1 + 1)]))


def _expected_shadow(g: int, t0: int, t1: int) -> float:
    d = sum(_speed(t)[g * PER_GROUP] * DT for t in range(t0 + 1, t1 + 1))
    return float(np.exp(-d / D_CORR))


@pytest.fixture(scope="module")
def both(ch: UMaChannel) -> tuple[dict, dict]:
    return _per_slot_reference(), _lazy(ch)


PAIRS = [(0, 3), (3, 4), (4, 11), (0, 11)]


@pytest.mark.parametrize("g", range(len(GROUPS)))
def test_lag_correlations_match_the_per_slot_process(both: tuple[dict, dict], g: int) -> None:
    """Fading and shadowing correlations between observation slots: lazy and
    per-slot agree with the closed form (4,000 links: 4 standard errors 0.065)."""
    sl = slice(g * PER_GROUP, (g + 1) * PER_GROUP)
    for t0, t1 in PAIRS:
        want_h, want_s = _expected_fading(g, t0, t1), _expected_shadow(g, t0, t1)
        for name, obs in zip(("per-slot", "lazy"), both, strict=True):
            (s0, h0), (s1, h1) = obs[t0], obs[t1]
            got_h = _corr(h1[:, sl], h0[:, sl])
            assert got_h == pytest.approx(want_h, abs=0.065), (name, GROUPS[g], t0, t1)
            if want_s < 1.0:
                got_s = float(np.corrcoef(s0[:, sl].ravel(), s1[:, sl].ravel())[0, 1])
                assert got_s == pytest.approx(want_s, abs=0.065), (name, GROUPS[g], t0, t1)
            else:  # a static device's shadowing does not change
                np.testing.assert_array_equal(s0[:, sl], s1[:, sl])


def test_negative_correlation_keeps_its_sign(both: tuple[dict, dict]) -> None:
    """At 0.914 m/s a slot's rho is about -0.40: one slot apart the lazy draw
    is anti-correlated, three apart rho^3 is negative and small."""
    _, lazy = both
    sl = slice(PER_GROUP, 2 * PER_GROUP)
    assert _corr(lazy[4][1][:, sl], lazy[3][1][:, sl]) == pytest.approx(_rho(0.914), abs=0.065)
    assert _rho(0.914) < -0.39


@pytest.mark.parametrize("t", OBS)
def test_marginals_match_the_per_slot_process(both: tuple[dict, dict], t: int) -> None:
    """At every observation: shadowing N(0, 8^2) dB and Rayleigh fading
    (E|h|^2 = 1, P(|h|^2 > 1) = 1/e) for both processes."""
    for obs in both:
        s, h = obs[t]
        g = abs(h) ** 2
        assert s.mean() == pytest.approx(0.0, abs=0.15)
        assert s.std() == pytest.approx(SIGMA, abs=0.15)
        assert g.mean() == pytest.approx(1.0, abs=0.03)
        assert np.mean(g > 1.0) == pytest.approx(np.exp(-1.0), abs=0.01)


def test_a_link_is_drawn_once_per_slot_whoever_asks(ch: UMaChannel) -> None:
    """Drawing a slot's links again, or asking for more links, leaves a drawn
    link's values as they are: the serving link drawn alone equals it drawn
    with every link, and a second draw in the slot changes nothing."""
    keys = np.arange(1, 9, dtype=np.uint64)
    rows, one = np.arange(8), np.ones(8, np.int64)
    pos = np.random.default_rng(0).uniform(0, 500, (8, 5, 2))
    edges = np.array([[0.0, 0.0], [500.0, 0.0], [0.0, 500.0]])
    assoc = np.random.default_rng(1).integers(0, 3, (8, 5))

    def run(flags: list[int]) -> tuple[dict, np.ndarray]:
        st, gain = ch.init_state(keys, (5, 3)), np.zeros((8, 5, 3))
        ch.advance_rows(st, keys, one, rows, np.full((8, 5), 1.0), np.full((8, 5), 10.0), DT)
        for f in flags:
            ch.draw_rows(st, keys, one, rows, np.full((8, 5), f, np.uint8), pos, edges, assoc, gain)
        return st, gain

    alone, g_alone = run([NEED_SERVING])
    every, g_every = run([NEED_REQUEST, NEED_SERVING, NEED_MEASURE, NEED_REQUEST])
    b, u = np.meshgrid(np.arange(8), np.arange(5), indexing="ij")
    for k in ("h_re", "h_im", "shadow_db"):
        np.testing.assert_array_equal(alone[k][b, u, assoc], every[k][b, u, assoc])
    np.testing.assert_array_equal(g_alone[b, u, assoc], g_every[b, u, assoc])
    # the other links were not drawn by the serving-only call
    other = (assoc + 1) % 3
    assert (alone["gain_slot"][b, u, other] == -1).all()
    assert (every["gain_slot"] == 1).all() and (every["fade_slot"] == 1).all()


def _vehicular(**channel: float) -> dict:
    cfg = copy.deepcopy(load_scenario("vehicular"))
    cfg["channel"].update(channel)
    return cfg


def test_association_changes_only_at_measurement_slots() -> None:
    """Handover is re-evaluated every measurement_period_s (200 ms: 2 slots);
    vehicles at road speeds do hand over, never in between."""
    p = build_params(_vehicular())
    assert p.measure_slots == 2
    B = 16
    s = core.reset(np.arange(1, B + 1, dtype=np.uint64) * np.uint64(7919), p)
    changed_at = []
    while (s.slot < p.episode_slots).any():
        before, t = s.assoc.copy(), s.slot.copy()
        mask = core.action_mask(s, p)
        s, _, _ = core.step(s, np.argmax(mask, axis=1), p)
        moved = (s.assoc != before).any(axis=1) & (s.slot == t + 1)
        changed_at += list(s.slot[moved])
    assert changed_at, "no handover on the road"
    assert all(t % 2 == 0 for t in changed_at)
    assert s.ep_totals[:, core.EP_FIELDS.index("handovers")].sum() > 0


@pytest.mark.parametrize("period", [0.15, 0.0, -1.0, 20.0])
def test_measurement_period_must_be_whole_slots(period: float) -> None:
    with pytest.raises(ConfigError, match="measurement_period_s"):
        build_params(_vehicular(measurement_period_s=period))
