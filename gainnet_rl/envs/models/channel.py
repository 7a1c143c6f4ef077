"""Wireless channel models (SYSTEM_MODEL sections 4 and 12.1).

A channel model turns device and edge positions into per-(device, edge)
channel gains, batched over sub-environments, and owns the link abstraction
that turns a gain and a bandwidth into a rate. Arrays: B sub-envs, U
devices, E edges. Gains are linear power gains (received / transmitted
power); powers in W, noise densities in W/Hz, rates in bit/s.
"""

from __future__ import annotations

import abc
import math

import numpy as np
from scipy.special import j0

from gainnet_rl.envs import rng
from gainnet_rl.envs.models._validate import checker

SPEED_OF_LIGHT_MPS = 299_792_458.0


_require = checker("channel")


def _dbm_to_w(dbm: float, field: str, lo: float, hi: float) -> float:
    """dBm to W, for a finite value in [lo, hi] dBm (else ConfigError naming ``field``)."""
    _require(math.isfinite(dbm) and lo <= dbm <= hi, field, dbm, f"a finite value in [{lo}, {hi}]")
    return 10 ** ((dbm - 30.0) / 10.0)


class ChannelModel(abc.ABC):
    """Base class of channel models.

    State arrays (all (B, U, E) float64): ``shadow_db`` (log-normal shadowing,
    dB), ``h_re`` and ``h_im`` (small-scale fading coefficient, E|h|^2 = 1).

    The link abstraction is truncated Shannon (3GPP TR 36.942 Annex A.2):
    spectral efficiency ``min(alpha log2(1 + SINR), se_max)`` bit/s/Hz, zero
    below ``sinr_min``; noise is ``N0 + NF + interference margin`` over the
    bandwidth used.
    """

    device_tx_w: float
    bs_tx_w: float
    bs_noise_w_per_hz: float  # N0 x NF x interference margin at the base station
    device_noise_w_per_hz: float  # at the device
    handover_hysteresis_db: float
    height_diff_m: float = 0.0
    min_distance_m: float = 1.0
    ul_link: tuple[float, float, float] = (1.0, 0.0, np.inf)  # alpha, sinr_min (linear), se_max
    dl_link: tuple[float, float, float] = (1.0, 0.0, np.inf)

    @abc.abstractmethod
    def pathloss_db(self, distance_3d_m: np.ndarray) -> np.ndarray:
        """Path loss in dB at the given 3D distances (m), at least ``min_distance_m``."""

    @abc.abstractmethod
    def init_state(self, key: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
        """Initial shadowing and fading of ``key.shape[0]`` sub-envs, ``shape`` = (U, E)."""

    @abc.abstractmethod
    def evolve(
        self,
        state: dict[str, np.ndarray],
        key: np.ndarray,
        slot: np.ndarray,
        moved_m: np.ndarray,
        speed_mps: np.ndarray,
        slot_s: float,
    ) -> dict[str, np.ndarray]:
        """Advance shadowing and fading by one slot; ``moved_m`` and ``speed_mps`` are (B, U)."""

    def distance_3d_m(self, device_xy: np.ndarray, edge_xy: np.ndarray) -> np.ndarray:
        """(B, U, E) 3D distances between devices (B, U, 2) and edges (E, 2), in m,
        at least ``min_distance_m``."""
        dx = device_xy[:, :, 0, None] - edge_xy[None, None, :, 0]
        dy = device_xy[:, :, 1, None] - edge_xy[None, None, :, 1]
        d2 = dx * dx
        d2 += dy * dy
        d2 += self.height_diff_m**2
        np.maximum(d2, self.min_distance_m**2, out=d2)
        return np.sqrt(d2, out=d2)

    def large_scale_gain_db(
        self, state: dict[str, np.ndarray], device_xy: np.ndarray, edge_xy: np.ndarray
    ) -> np.ndarray:
        """(B, U, E) mean channel gain in dB: minus path loss plus shadowing."""
        gain = self.pathloss_db(self.distance_3d_m(device_xy, edge_xy))
        np.negative(gain, out=gain)
        gain += state["shadow_db"]
        return gain

    @staticmethod
    def fading_gain(state: dict[str, np.ndarray]) -> np.ndarray:
        """(B, U, E) small-scale power gain |h|^2 (mean 1)."""
        return state["h_re"] ** 2 + state["h_im"] ** 2

    @staticmethod
    def _se(sinr: np.ndarray, link: tuple[float, float, float]) -> np.ndarray:
        alpha, sinr_min, se_max = link
        se = np.minimum(alpha * np.log2(1.0 + sinr), se_max)
        return np.where(sinr >= sinr_min, se, 0.0)

    def uplink_rate_bps(
        self, gain: np.ndarray, bandwidth_hz: np.ndarray, time_share: float
    ) -> np.ndarray:
        """Uplink rate (bit/s) of a device at full power over ``bandwidth_hz``
        with linear channel ``gain``, transmitting a ``time_share`` of the time (TDD)."""
        bw = np.maximum(bandwidth_hz, 1e-9)
        sinr = self.device_tx_w * gain / (self.bs_noise_w_per_hz * bw)
        return time_share * bandwidth_hz * self._se(sinr, self.ul_link)

    def downlink_rate_bps(
        self, gain: np.ndarray, carrier_hz: float, bandwidth_hz: float, time_share: float
    ) -> np.ndarray:
        """Downlink rate (bit/s) over ``bandwidth_hz`` of a ``carrier_hz`` carrier
        whose base-station power is spread evenly over it (so the SINR is the
        carrier's), sending a ``time_share`` of the time (TDD)."""
        sinr = self.bs_tx_w * gain / (self.device_noise_w_per_hz * carrier_hz)
        return time_share * bandwidth_hz * self._se(sinr, self.dl_link)

    def ul_range_gain_db(self, bandwidth_hz: float) -> float:
        """Smallest mean gain (dB) at which a device reaches ``sinr_min`` on ``bandwidth_hz``."""
        sinr_min = self.ul_link[1]
        return 10 * math.log10(sinr_min * self.bs_noise_w_per_hz * bandwidth_hz / self.device_tx_w)


class UMaChannel(ChannelModel):
    """Log-distance macro channel with correlated shadowing and Jakes fading.

    - Path loss ``PL(d) = intercept + slope * log10(d_km)`` dB, d in 3D with
      the base station ``bs_height_m`` and the device ``device_height_m`` high,
      at least ``min_distance_m`` (3GPP TR 36.942 / TR 36.885: 128.1 + 37.6
      log10 d_km at 2 GHz).
    - Log-normal shadowing, ``shadowing_std_db``; as a device moves dd metres,
      ``S' = a S + sqrt(1 - a^2) N(0, sigma^2)`` with ``a = exp(-dd / d_corr)``
      (Gudmundson).
    - Rayleigh fading, ``h' = rho h + sqrt(1 - rho^2) w``, ``rho = J0(2 pi f_D dt)``
      and ``f_D = v f_c / c`` for moving devices; independent per slot (rho = 0)
      for static ones.
    - Link: truncated Shannon with ``ul_alpha``, ``ul_sinr_min_db``, ``ul_se_max``
      (and ``dl_*``), noise ``noise_dbm_per_hz`` plus the receiver's noise
      figure plus ``interference_margin_db``.

    Every argument is required: the scenario YAML is the one source of values.
    """

    def __init__(
        self,
        *,
        carrier_hz: float,
        bs_height_m: float,
        device_height_m: float,
        min_distance_m: float,
        pathloss_intercept_db: float,
        pathloss_slope_db: float,
        shadowing_std_db: float,
        decorrelation_m: float,
        noise_dbm_per_hz: float,
        bs_noise_figure_db: float,
        device_noise_figure_db: float,
        interference_margin_db: float,
        device_tx_dbm: float,
        bs_tx_dbm: float,
        handover_hysteresis_db: float,
        ul_alpha: float,
        ul_sinr_min_db: float,
        ul_se_max: float,
        dl_alpha: float,
        dl_sinr_min_db: float,
        dl_se_max: float,
    ) -> None:
        fin = lambda v: isinstance(v, (int, float)) and math.isfinite(v)
        _require(
            fin(carrier_hz) and 1e8 <= carrier_hz <= 1e11,
            "carrier_hz",
            carrier_hz,
            "in [1e8, 1e11] Hz",
        )
        _require(
            fin(bs_height_m) and 0 <= bs_height_m <= 500,
            "bs_height_m",
            bs_height_m,
            "in [0, 500] m",
        )
        _require(
            fin(device_height_m) and 0 <= device_height_m <= 100,
            "device_height_m",
            device_height_m,
            "in [0, 100] m",
        )
        _require(
            fin(min_distance_m) and min_distance_m > 0, "min_distance_m", min_distance_m, "> 0 m"
        )
        _require(
            fin(pathloss_intercept_db),
            "pathloss_intercept_db",
            pathloss_intercept_db,
            "finite (dB)",
        )
        _require(
            fin(pathloss_slope_db) and pathloss_slope_db > 0,
            "pathloss_slope_db",
            pathloss_slope_db,
            "> 0 dB/decade",
        )
        _require(
            fin(shadowing_std_db) and 0 <= shadowing_std_db <= 30,
            "shadowing_std_db",
            shadowing_std_db,
            "in [0, 30] dB",
        )
        _require(
            fin(decorrelation_m) and decorrelation_m > 0,
            "decorrelation_m",
            decorrelation_m,
            "> 0 m",
        )
        _require(
            fin(noise_dbm_per_hz) and -250 <= noise_dbm_per_hz <= -100,
            "noise_dbm_per_hz",
            noise_dbm_per_hz,
            "in [-250, -100] dBm/Hz",
        )
        for name, v in [
            ("bs_noise_figure_db", bs_noise_figure_db),
            ("device_noise_figure_db", device_noise_figure_db),
            ("interference_margin_db", interference_margin_db),
        ]:
            _require(fin(v) and 0 <= v <= 40, name, v, "in [0, 40] dB")
        _require(
            fin(handover_hysteresis_db) and 0 <= handover_hysteresis_db <= 40,
            "handover_hysteresis_db",
            handover_hysteresis_db,
            "in [0, 40] dB",
        )
        links = []
        for prefix, alpha, sinr_min_db, se_max in [
            ("ul", ul_alpha, ul_sinr_min_db, ul_se_max),
            ("dl", dl_alpha, dl_sinr_min_db, dl_se_max),
        ]:
            _require(fin(alpha) and 0 < alpha <= 1, f"{prefix}_alpha", alpha, "in (0, 1]")
            _require(
                fin(sinr_min_db) and -40 <= sinr_min_db <= 40,
                f"{prefix}_sinr_min_db",
                sinr_min_db,
                "in [-40, 40] dB",
            )
            _require(
                fin(se_max) and 0 < se_max <= 30, f"{prefix}_se_max", se_max, "in (0, 30] bit/s/Hz"
            )
            links.append((float(alpha), 10 ** (sinr_min_db / 10), float(se_max)))
        self.ul_link, self.dl_link = links[0], links[1]
        self.carrier_hz = float(carrier_hz)
        self.height_diff_m = float(bs_height_m - device_height_m)
        self.device_height_m = float(device_height_m)
        self.min_distance_m = float(min_distance_m)
        self.intercept_db = float(pathloss_intercept_db)
        self.slope_db = float(pathloss_slope_db)
        self.shadowing_std_db = float(shadowing_std_db)
        self.decorrelation_m = float(decorrelation_m)
        self.device_tx_w = _dbm_to_w(device_tx_dbm, "device_tx_dbm", -40.0, 40.0)
        self.bs_tx_w = _dbm_to_w(bs_tx_dbm, "bs_tx_dbm", -40.0, 70.0)
        extra = interference_margin_db - 30.0
        self.bs_noise_w_per_hz = 10 ** ((noise_dbm_per_hz + bs_noise_figure_db + extra) / 10.0)
        self.device_noise_w_per_hz = 10 ** (
            (noise_dbm_per_hz + device_noise_figure_db + extra) / 10.0
        )
        self.handover_hysteresis_db = float(handover_hysteresis_db)

    def pathloss_db(self, distance_3d_m: np.ndarray) -> np.ndarray:
        pl = np.array(np.maximum(np.asarray(distance_3d_m, dtype=np.float64), self.min_distance_m))
        pl /= 1000.0  # d_km
        np.log10(pl, out=pl)
        pl *= self.slope_db
        pl += self.intercept_db
        return pl if pl.ndim else pl[()]

    def doppler_correlation(self, speed_mps: np.ndarray, slot_s: float) -> np.ndarray:
        """Fading correlation rho per slot: J0(2 pi f_D dt) if moving, else 0."""
        f_d = np.asarray(speed_mps) * self.carrier_hz / SPEED_OF_LIGHT_MPS
        return np.where(np.asarray(speed_mps) > 0, j0(2.0 * np.pi * f_d * slot_s), 0.0)

    def init_state(self, key: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
        zero = np.zeros(key.shape[0], dtype=np.int64)
        shadow = self.shadowing_std_db * rng.normal(key, zero, rng.Stream.INIT_SHADOWING, shape)
        h = rng.normal(key, zero, rng.Stream.INIT_FADING, (2, *shape)) * np.sqrt(0.5)
        return {"shadow_db": shadow, "h_re": h[:, 0].copy(), "h_im": h[:, 1].copy()}

    def evolve(
        self,
        state: dict[str, np.ndarray],
        key: np.ndarray,
        slot: np.ndarray,
        moved_m: np.ndarray,
        speed_mps: np.ndarray,
        slot_s: float,
    ) -> dict[str, np.ndarray]:
        shape = state["shadow_db"].shape[1:]
        if moved_m.any():
            a = np.exp(-moved_m / self.decorrelation_m)[:, :, None]
            shadow = rng.normal(key, slot, rng.Stream.SHADOWING, shape)
            shadow *= np.sqrt(1.0 - a * a) * self.shadowing_std_db
            shadow += a * state["shadow_db"]
        else:  # a = 1: S' = S exactly, no draw needed
            shadow = state["shadow_db"].copy()
        rho = self.doppler_correlation(speed_mps, slot_s)[:, :, None]
        w = rng.normal(key, slot, rng.Stream.FADING, (2, *shape))
        w *= np.sqrt(0.5 * (1.0 - rho * rho))[:, None]
        h_re, h_im = rho * state["h_re"], rho * state["h_im"]
        h_re += w[:, 0]
        h_im += w[:, 1]
        return {"shadow_db": shadow, "h_re": h_re, "h_im": h_im}


class TR38901Channel(UMaChannel):
    """3GPP TR 38.901 (Table 7.4.1-1) NLOS path loss for NR carriers, with
    the shadowing, fading and link abstraction of :class:`UMaChannel`.

    ``scenario="UMa"``: ``PL = max(PL_LOS, 13.54 + 39.08 log10 d + 20 log10 fc
    - 0.6 (h_UT - 1.5))`` with ``PL_LOS = 28 + 22 log10 d + 20 log10 fc``;
    ``scenario="UMi"`` (street canyon): ``PL = max(PL_LOS, 22.4 + 35.3 log10 d
    + 21.3 log10 fc - 0.3 (h_UT - 1.5))`` with ``PL_LOS = 32.4 + 21 log10 d +
    20 log10 fc``; d the 3D distance in m, fc in GHz. The LOS break point is
    not modelled (the NLOS curve dominates beyond it). Intercept and slope are
    derived from the scenario and carrier; the constructor takes the other
    :class:`UMaChannel` arguments.
    """

    _FORMULAS = {
        # NLOS: (const, slope per decade of d, per decade of fc, per m of h_UT - 1.5)
        # LOS:  (const, slope, per decade of fc)
        "UMa": ((13.54, 39.08, 20.0, -0.6), (28.0, 22.0, 20.0)),
        "UMi": ((22.4, 35.3, 21.3, -0.3), (32.4, 21.0, 20.0)),
    }

    def __init__(self, *, scenario: str, **kwargs: float) -> None:
        _require(scenario in self._FORMULAS, "scenario", scenario, f"one of {list(self._FORMULAS)}")
        super().__init__(pathloss_intercept_db=0.0, pathloss_slope_db=1.0, **kwargs)
        fc = math.log10(self.carrier_hz / 1e9)
        (c, s, sf, sh), (lc, ls, lf) = self._FORMULAS[scenario]
        self.scenario = scenario
        self._nlos = (c + sf * fc + sh * (self.device_height_m - 1.5), s)
        self._los = (lc + lf * fc, ls)

    def pathloss_db(self, distance_3d_m: np.ndarray) -> np.ndarray:
        d = np.maximum(np.asarray(distance_3d_m, dtype=np.float64), self.min_distance_m)
        lg = np.log10(d)
        pl = np.maximum(self._nlos[0] + self._nlos[1] * lg, self._los[0] + self._los[1] * lg)
        return pl if pl.ndim else pl[()]
