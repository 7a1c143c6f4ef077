"""Compiled kernels of the built-in channel models (numba): Bessel J0 for the
Doppler correlation, path loss, the truncated-Shannon link, the per-slot
device bookkeeping and the lazy, exact jump-ahead draw of the links a slot
uses (:class:`~gainnet_rl.envs.models.channel.UMaChannel`).
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
def pathloss_d2(d2: float, mode: int, c: np.ndarray) -> float:  # pragma: no cover - compiled
    """Path loss (dB) from the squared 3D distance ``d2`` (m^2, already at least
    the minimum distance's square): the formula ``mode`` with coefficients
    ``c``, ``log10 d = log10(d2) / 2`` (no square root)."""
    lg = 0.5 * math.log10(d2)
    if mode == 0:
        return (lg - 3.0) * c[0] + c[1]
    return max(c[0] + c[1] * lg, c[2] + c[3] * lg)


@njit(cache=True)
def pathloss_array(
    d: np.ndarray, min_d: float, mode: int, c: np.ndarray
) -> np.ndarray:  # pragma: no cover
    """Path loss (dB) at each 3D distance ``d`` (m), at least ``min_d``."""
    out = np.empty_like(d)
    for i in range(d.size):
        x = max(d[i], min_d)
        out[i] = pathloss_d2(x * x, mode, c)
    return out


#: correlations below exp(-50) (about 2e-22) count as exp(-50): a static
#: device's fading (rho = 0) stays independent per slot to within that
LOG_RHO_FLOOR = -50.0
#: what :func:`draw_links` draws for a device (bit flags of ``need``)
NEED_SERVING = 1  # its serving link: large-scale gain and fading
NEED_MEASURE = 2  # every link's large-scale gain (a handover measurement)
NEED_REQUEST = 4  # every link: large-scale gain and fading (a request's options)


@njit(cache=True)
def advance_devices(  # pragma: no cover - compiled
    odometer, speed_seen, log_rho, neg_rho, cum_log_rho, sign_rho, moved, speed, rows,
    carrier_hz, slot_s,
):  # fmt: skip
    """One slot of the per-device bookkeeping that lets links be drawn lazily
    (:func:`draw_links`), for sub-envs ``rows``, in place: O(U), no draws.

    ``odometer`` (B, U) adds the distance moved (m); the slot's fading
    correlation ``rho = J0(2 pi f_D dt)`` (recomputed when a device's speed
    changes, 0 if static) adds ``log|rho|`` (at least :data:`LOG_RHO_FLOOR`)
    to ``cum_log_rho`` and flips the parity ``sign_rho`` when it is negative,
    so the correlation over any run of slots is a difference of two sums
    (and its sign a comparison of two parities).
    """
    U = odometer.shape[1]
    for i in range(rows.size):
        b = rows[i]
        for u in range(U):
            odometer[b, u] += moved[i, u]
            if speed[b, u] != speed_seen[b, u]:
                r = doppler1(speed[b, u], carrier_hz, slot_s)
                log_rho[b, u] = max(math.log(abs(r)), LOG_RHO_FLOOR) if r != 0.0 else LOG_RHO_FLOOR
                neg_rho[b, u] = 1 if r < 0.0 else 0
                speed_seen[b, u] = speed[b, u]
            cum_log_rho[b, u] += log_rho[b, u]
            sign_rho[b, u] ^= neg_rho[b, u]


@njit(cache=True)
def draw_links(  # pragma: no cover - compiled
    shadow, h_re, h_im, gain_slot, fade_slot, odo_at, log_at, sign_at, odometer, cum_log_rho,
    sign_rho, gain_db, pos, key, slot, rows, need, assoc, edge_xy, std_db, decorr_m, hd2,
    min_d, mode, c,
):  # fmt: skip
    """Draw the links that ``need`` (n, U) asks for at each row's ``slot`` (n,),
    jumping ahead exactly over the slots since each link was last drawn.

    Shadowing (Gudmundson) over the ``dd`` metres a device moved since the
    link's last draw: ``a = exp(-dd / d_corr)``, ``S' = a S + sqrt(1 - a^2)
    sigma z`` (the per-slot recursion composed, since ``prod exp(-dd_k / d)
    = exp(-sum dd_k / d)``); unchanged if it did not move. Fading
    (Gauss-Markov) over the slots since: ``P = prod rho_k`` from the
    device's running sums, ``h' = P h + sqrt((1 - P^2) / 2) (z_re, z_im)``
    (the per-slot recursion composed: its noise variances telescope to ``1 -
    P^2``). ``gain_db`` gets minus the path loss at the device's position plus
    the shadowing. A link is drawn at most once per slot (``gain_slot``,
    ``fade_slot``), from :func:`rng.normal_pair1` of streams SHADOWING
    (element ``l % 2`` of pair ``l // 2``, link ``l = u E + e``) and FADING
    (pair ``l``) at the slot, so a link's values do not depend on which other
    links were drawn.
    """
    U, E = shadow.shape[1], shadow.shape[2]
    min_d2 = min_d * min_d
    for i in range(rows.size):
        b = rows[i]
        t = slot[i]
        hs = rng.head1(key[b], t, rng.Stream.SHADOWING)
        hf = rng.head1(key[b], t, rng.Stream.FADING)
        pair, z_pair = -1, (0.0, 0.0)  # the last shadowing pair drawn (links 2k, 2k + 1)
        for u in range(U):
            f = need[i, u]
            if f == 0:
                continue
            serving = assoc[b, u]
            every = (f & (NEED_MEASURE | NEED_REQUEST)) != 0
            dd_last, a, w_s = -1.0, 1.0, 0.0  # exp(-dd / d_corr) of the last distance seen
            for e in range(E if every else 1):
                if not every:
                    e = serving
                link = u * E + e
                g_slot = gain_slot[b, u, e]
                if g_slot != t:
                    dd = odometer[b, u] - odo_at[b, u, e]
                    # not moved since its last draw: the same shadowing and path loss
                    if dd > 0.0 or g_slot < 0:
                        if dd > 0.0:
                            if dd != dd_last:
                                a, dd_last = math.exp(-dd / decorr_m), dd
                                w_s = math.sqrt(1.0 - a * a) * std_db
                            if link // 2 != pair:
                                pair = link // 2
                                z_pair = rng.normal_pair1(hs, pair)
                            shadow[b, u, e] = z_pair[link % 2] * w_s + a * shadow[b, u, e]
                            odo_at[b, u, e] = odometer[b, u]
                        dx = pos[b, u, 0] - edge_xy[e, 0]
                        dy = pos[b, u, 1] - edge_xy[e, 1]
                        d2 = max(dx * dx + dy * dy + hd2, min_d2)
                        gain_db[b, u, e] = shadow[b, u, e] - pathloss_d2(d2, mode, c)
                    gain_slot[b, u, e] = t
                fade = (f & NEED_REQUEST) != 0 or ((f & NEED_SERVING) != 0 and e == serving)
                if fade and fade_slot[b, u, e] != t:
                    r = math.exp(cum_log_rho[b, u] - log_at[b, u, e])
                    if sign_rho[b, u] != sign_at[b, u, e]:
                        r = -r
                    w = math.sqrt(0.5 * (1.0 - r * r))
                    z_re, z_im = rng.normal_pair1(hf, link)
                    h_re[b, u, e] = r * h_re[b, u, e] + z_re * w
                    h_im[b, u, e] = r * h_im[b, u, e] + z_im * w
                    fade_slot[b, u, e] = t
                    log_at[b, u, e] = cum_log_rho[b, u]
                    sign_at[b, u, e] = sign_rho[b, u]


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
