"""Wireless channel models (SYSTEM_MODEL section 4).

A channel model turns device and edge positions into per-(device, edge)
channel gains, batched over sub-environments. Arrays: B sub-envs, U devices,
E edges. Gains are linear power gains (received power / transmitted power).
"""

from __future__ import annotations

import abc

import numpy as np
from scipy.special import j0

from gainnet_rl.envs import rng
from gainnet_rl.envs.models._validate import checker

SPEED_OF_LIGHT_MPS = 299_792_458.0


_require = checker("channel")


class ChannelModel(abc.ABC):
    """Base class of channel models.

    State arrays (all (B, U, E) float64): ``shadow_db`` (log-normal shadowing,
    dB), ``h_re`` and ``h_im`` (small-scale fading coefficient, E|h|^2 = 1).
    """

    device_tx_w: float
    bs_tx_w: float
    bs_noise_w_per_hz: float
    device_noise_w_per_hz: float
    min_snr_db: float
    handover_hysteresis_db: float

    @abc.abstractmethod
    def pathloss_db(self, distance_3d_m: np.ndarray) -> np.ndarray:
        """Path loss in dB at the given 3D distances (m)."""

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
        """(B, U, E) 3D distances between devices (B, U, 2) and edges (E, 2), in m."""
        dx = device_xy[:, :, 0, None] - edge_xy[None, None, :, 0]
        dy = device_xy[:, :, 1, None] - edge_xy[None, None, :, 1]
        d2 = dx * dx
        d2 += dy * dy
        d2 += self.height_diff_m**2
        return np.sqrt(d2, out=d2)

    height_diff_m: float = 0.0

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


class UMaChannel(ChannelModel):
    """3GPP-style macro channel with correlated shadowing and Jakes fading.

    - Path loss ``PL(d) = intercept + slope * log10(d_km)`` dB, d in 3D with
      the base station ``bs_height_m`` and the device ``device_height_m`` high
      (3GPP TR 36.885; defaults 128.1 + 37.6 log10 d_km).
    - Log-normal shadowing, ``shadowing_std_db``; as a device moves dd metres,
      ``S' = a S + sqrt(1 - a^2) N(0, sigma^2)`` with ``a = exp(-dd / d_corr)``
      (Gudmundson).
    - Rayleigh fading, ``h' = rho h + sqrt(1 - rho^2) w``, ``rho = J0(2 pi f_D dt)``
      and ``f_D = v f_c / c`` for moving devices; independent per slot (rho = 0)
      for static ones.
    """

    def __init__(
        self,
        carrier_hz: float = 2.0e9,
        bs_height_m: float = 25.0,
        device_height_m: float = 1.5,
        pathloss_intercept_db: float = 128.1,
        pathloss_slope_db: float = 37.6,
        shadowing_std_db: float = 8.0,
        decorrelation_m: float = 50.0,
        noise_dbm_per_hz: float = -174.0,
        bs_noise_figure_db: float = 5.0,
        device_noise_figure_db: float = 9.0,
        device_tx_dbm: float = 23.0,
        bs_tx_dbm: float = 46.0,
        min_snr_db: float = -5.0,
        handover_hysteresis_db: float = 3.0,
    ) -> None:
        _require(carrier_hz > 0, "carrier_hz", carrier_hz, "> 0 Hz")
        _require(bs_height_m >= 0, "bs_height_m", bs_height_m, ">= 0 m")
        _require(device_height_m >= 0, "device_height_m", device_height_m, ">= 0 m")
        _require(pathloss_slope_db > 0, "pathloss_slope_db", pathloss_slope_db, "> 0 dB/decade")
        _require(shadowing_std_db >= 0, "shadowing_std_db", shadowing_std_db, ">= 0 dB")
        _require(decorrelation_m > 0, "decorrelation_m", decorrelation_m, "> 0 m")
        _require(
            handover_hysteresis_db >= 0, "handover_hysteresis_db", handover_hysteresis_db, ">= 0 dB"
        )
        self.carrier_hz = float(carrier_hz)
        self.height_diff_m = float(bs_height_m - device_height_m)
        self.intercept_db = float(pathloss_intercept_db)
        self.slope_db = float(pathloss_slope_db)
        self.shadowing_std_db = float(shadowing_std_db)
        self.decorrelation_m = float(decorrelation_m)
        self.device_tx_w = 10 ** ((device_tx_dbm - 30.0) / 10.0)
        self.bs_tx_w = 10 ** ((bs_tx_dbm - 30.0) / 10.0)
        self.bs_noise_w_per_hz = 10 ** ((noise_dbm_per_hz + bs_noise_figure_db - 30.0) / 10.0)
        self.device_noise_w_per_hz = 10 ** (
            (noise_dbm_per_hz + device_noise_figure_db - 30.0) / 10.0
        )
        self.min_snr_db = float(min_snr_db)
        self.handover_hysteresis_db = float(handover_hysteresis_db)

    def pathloss_db(self, distance_3d_m: np.ndarray) -> np.ndarray:
        pl = np.asarray(np.maximum(np.asarray(distance_3d_m, dtype=np.float64), 1.0))
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
