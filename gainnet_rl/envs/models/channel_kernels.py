"""Compiled kernels of the built-in channel models (numba): Bessel J0 for the
Doppler correlation, path loss, the truncated-Shannon link, and the per-slot
pass over every link of a sub-env (:class:`~gainnet_rl.envs.models.channel.UMaChannel`).
Units: m, dB, Hz, W, bit/s."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from gainnet_rl.envs import rng

SPEED_OF_LIGHT_MPS = 299_792_458.0
_DB_TO_LN = math.log(10.0) / 10.0


@njit(cache=True, inline="always")
def db_to_linear1(x_db: float) -> float:  # pragma: no cover - compiled
    """``10 ** (x / 10)`` as ``exp(x ln10 / 10)``, as :func:`state.db_to_linear`."""
    return math.exp(x_db * _DB_TO_LN)


@njit(cache=True)
def j0(x: float) -> float:  # pragma: no cover - compiled
    """Bessel function of the first kind, order 0, to about 1e-15 (absolute).

    Power series below 1, Miller's backward recurrence (normalised by
    ``J0 + 2 sum J_2k = 1``) up to 25, the Hankel asymptotic expansion above.
    """
    x = abs(x)
    if x < 1.0:
        q = -0.25 * x * x
        term, total = 1.0, 1.0
        for k in range(1, 20):
            term *= q / (k * k)
            total += term
        return total
    if x > 25.0:
        # P, Q of the asymptotic expansion: a_n = a_{n-1} (2n - 1)^2 / (8 n x)
        a, p, q = 1.0, 1.0, 0.0
        for n in range(1, 30):
            a *= (2 * n - 1) ** 2 / (8.0 * n * x)
            if n % 2 == 0:  # P = sum (-1)^k a_2k
                p += -a if (n // 2) % 2 == 1 else a
            else:  # Q = sum (-1)^(k + 1) a_(2k+1)
                q += -a if (n // 2) % 2 == 0 else a
        chi = x - 0.25 * math.pi
        return math.sqrt(2.0 / (math.pi * x)) * (p * math.cos(chi) - q * math.sin(chi))
    n_top = 2 * ((int(x) + 40) // 2)
    b_next, b, norm = 0.0, 1e-30, 0.0
    for k in range(n_top, 0, -1):
        b_prev = 2.0 * k / x * b - b_next
        b_next, b = b, b_prev
        if b > 1e250 or b < -1e250:  # rescale the recurrence
            b, b_next, norm = b * 1e-250, b_next * 1e-250, norm * 1e-250
        if (k - 1) % 2 == 0 and k - 1 > 0:
            norm += 2.0 * b
    return b / (b + norm)


@njit(cache=True, inline="always")
def doppler1(speed_mps: float, carrier_hz: float, slot_s: float) -> float:  # pragma: no cover
    """Fading correlation per slot of a device at ``speed_mps``: J0(2 pi f_D dt), 0 if static."""
    if speed_mps > 0:
        return j0(2.0 * math.pi * (speed_mps * carrier_hz / SPEED_OF_LIGHT_MPS) * slot_s)
    return 0.0


@njit(cache=True, inline="always")
def pathloss1(d: float, min_d: float, mode: int, c: np.ndarray) -> float:  # pragma: no cover
    """Path loss (dB) at 3D distance ``d`` (m): the formula ``mode`` with coefficients ``c``."""
    d = max(d, min_d)
    if mode == 0:
        return math.log10(d / 1000.0) * c[0] + c[1]
    lg = math.log10(d)
    return max(c[0] + c[1] * lg, c[2] + c[3] * lg)


@njit(cache=True)
def pathloss_array(
    d: np.ndarray, min_d: float, mode: int, c: np.ndarray
) -> np.ndarray:  # pragma: no cover
    out = np.empty_like(d)
    for i in range(d.size):
        out[i] = pathloss1(d[i], min_d, mode, c)
    return out


@njit(cache=True)
def advance_links(  # pragma: no cover - compiled
    shadow, h_re, h_im, rho, rho_speed, gain_db, pos, moved, speed, key, slot, rows,
    edge_xy, slot_s, std_db, decorr_m, carrier_hz, hd2, min_d, mode, c,
):  # fmt: skip
    """One slot of Gudmundson shadowing, Gauss-Markov fading and path loss for
    every link of sub-envs ``rows`` (see :class:`UMaChannel`), in place.

    Shadowing moves only for devices that moved (``a = exp(-dd / d_corr)``,
    ``S' = a S + sqrt(1 - a^2) sigma z``); fading ``h' = rho h + sqrt((1 -
    rho^2) / 2) (z_re, z_im)`` with ``rho`` recomputed when a device's speed
    changes. Draws: :func:`rng.normal` of shape (U, E) (shadowing) and (2, U, E)
    (fading) at the row's slot, element for element.
    """
    U, E = shadow.shape[1], shadow.shape[2]
    n_links = U * E
    half = (n_links + 1) // 2
    for i in range(rows.size):
        b = rows[i]
        t = slot[i]
        any_moved = False
        for u in range(U):
            if moved[i, u] > 0:
                any_moved = True
            if speed[b, u] != rho_speed[b, u]:
                rho[b, u] = doppler1(speed[b, u], carrier_hz, slot_s)
                rho_speed[b, u] = speed[b, u]
        if any_moved:
            head = rng.head1(key[b], t, rng.Stream.SHADOWING)
            for j in range(half):
                z0, z1 = rng.normal_pair1(head, j)
                for link, z in ((j, z0), (j + half, z1)):
                    if link < n_links:
                        u, e = link // E, link % E
                        m = moved[i, u]
                        if m > 0:
                            a = math.exp(-m / decorr_m)
                            shadow[b, u, e] = (
                                z * (math.sqrt(1.0 - a * a) * std_db) + a * shadow[b, u, e]
                            )
        head = rng.head1(key[b], t, rng.Stream.FADING)
        for link in range(n_links):
            u, e = link // E, link % E
            z_re, z_im = rng.normal_pair1(head, link)
            r = rho[b, u]
            w = math.sqrt(0.5 * (1.0 - r * r))
            h_re[b, u, e] = r * h_re[b, u, e] + z_re * w
            h_im[b, u, e] = r * h_im[b, u, e] + z_im * w
        for u in range(U):
            for e in range(E):
                dx = pos[b, u, 0] - edge_xy[e, 0]
                dy = pos[b, u, 1] - edge_xy[e, 1]
                d2 = dx * dx
                d2 += dy * dy
                d2 += hd2
                d2 = max(d2, min_d * min_d)
                gain_db[b, u, e] = -pathloss1(math.sqrt(d2), min_d, mode, c) + shadow[b, u, e]


@njit(cache=True, inline="always")
def se1(sinr: float, alpha: float, sinr_min: float, se_max: float) -> float:  # pragma: no cover
    """Truncated-Shannon spectral efficiency (bit/s/Hz) at linear ``sinr``."""
    if sinr >= sinr_min:
        return min(alpha * math.log2(1.0 + sinr), se_max)
    return 0.0


@njit(cache=True, inline="always")
def ul_rate1(  # pragma: no cover - compiled
    gain: float, bw_hz: float, share: float, tx_w: float, n0: float,
    alpha: float, sinr_min: float, se_max: float,
) -> float:  # fmt: skip
    """Uplink rate (bit/s): ``share bw se(tx g / (N0 bw))``, as ``uplink_rate_bps``."""
    sinr = tx_w * gain / (n0 * max(bw_hz, 1e-9))
    return share * bw_hz * se1(sinr, alpha, sinr_min, se_max)


@njit(cache=True)
def ul_rate_array(g, bw, share, tx_w, n0, alpha, sinr_min, se_max):  # pragma: no cover
    out = np.empty_like(g)
    for i in range(g.size):
        out[i] = ul_rate1(g[i], bw[i], share, tx_w, n0, alpha, sinr_min, se_max)
    return out


@njit(cache=True)
def dl_rate_array(g, bw_hz, share, tx_w, n0_carrier, alpha, sinr_min, se_max):  # pragma: no cover
    out = np.empty_like(g)
    for i in range(g.size):
        out[i] = share * bw_hz * se1(tx_w * g[i] / n0_carrier, alpha, sinr_min, se_max)
    return out
