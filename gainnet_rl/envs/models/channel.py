"""Wireless channel models (SYSTEM_MODEL sections 4 and 12.1).

A channel model turns device and edge positions into per-(device, edge)
channel gains, batched over sub-environments, and owns the link abstraction
that turns a gain and a bandwidth into a rate. Arrays: B sub-envs, U
devices, E edges. Gains are linear power gains (received / transmitted
power); powers in W, noise densities in W/Hz, rates in bit/s.
"""

from __future__ import annotations

import abc
import functools
import math

import numpy as np

from gainnet_rl.envs import rng
from gainnet_rl.envs.models._validate import checker
from gainnet_rl.envs.models.channel_kernels import (
    NEED_MEASURE,
    NEED_REQUEST,
    NEED_SERVING,
    SPEED_OF_LIGHT_MPS,
    advance_devices,
    dl_rate_array,
    draw_links,
    pathloss_array,
    ul_rate_array,
)

__all__ = [
    "NEED_MEASURE",
    "NEED_REQUEST",
    "NEED_SERVING",
    "SPEED_OF_LIGHT_MPS",
    "ChannelModel",
    "TR38901Channel",
    "UMaChannel",
]


_require = checker("channel")


def _dbm_to_w(dbm: float, field: str, lo: float, hi: float) -> float:
    """dBm to W, for a finite value in [lo, hi] dBm (else ConfigError naming ``field``)."""
    _require(math.isfinite(dbm) and lo <= dbm <= hi, field, dbm, f"a finite value in [{lo}, {hi}]")
    return 10 ** ((dbm - 30.0) / 10.0)


class ChannelModel(abc.ABC):
    """Base class of channel models.

    State arrays: at least ``h_re`` and ``h_im`` (B, U, E), the small-scale
    fading coefficient (E|h|^2 = 1) of each link at its last draw.

    Links are drawn lazily: :meth:`advance_rows` does a slot's per-device
    bookkeeping, :meth:`draw_rows` draws the links a slot uses (a request's
    device, every link at a handover measurement, a sensing upload's link),
    exactly as if every link had been drawn every slot (SYSTEM_MODEL section 4).
    Association is re-evaluated every ``measurement_period_s``.

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
    measurement_period_s: float
    height_diff_m: float = 0.0
    min_distance_m: float = 1.0
    ul_link: tuple[float, float, float] = (1.0, 0.0, np.inf)  # alpha, sinr_min (linear), se_max
    dl_link: tuple[float, float, float] = (1.0, 0.0, np.inf)

    @abc.abstractmethod
    def pathloss_db(self, distance_3d_m: np.ndarray) -> np.ndarray:
        """Path loss in dB at the given 3D distances (m), at least ``min_distance_m``."""

    @abc.abstractmethod
    def init_state(self, key: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
        """Initial shadowing and fading of ``key.shape[0]`` sub-envs, ``shape`` = (U, E),
        at slot 0; no link's large-scale gain drawn yet."""

    @abc.abstractmethod
    def advance_rows(
        self,
        state: dict[str, np.ndarray],
        key: np.ndarray,
        slot: np.ndarray,
        rows: np.ndarray,
        moved_m: np.ndarray,
        speed_mps: np.ndarray,
        slot_s: float,
    ) -> None:
        """Advance the channel of sub-envs ``rows`` by one slot, in place,
        without drawing any link (O(U) bookkeeping; links are drawn by
        :meth:`draw_rows` when used).

        ``state`` and ``speed_mps`` (B, U) are whole-batch arrays (the
        devices have already moved); ``slot`` (n,) is each row's new slot and
        ``moved_m`` (n, U) the distance each device moved in the slot (m),
        both aligned with ``rows``.
        """

    @abc.abstractmethod
    def draw_rows(
        self,
        state: dict[str, np.ndarray],
        key: np.ndarray,
        slot: np.ndarray,
        rows: np.ndarray,
        need: np.ndarray,
        device_xy: np.ndarray,
        edge_xy: np.ndarray,
        assoc: np.ndarray,
        gain_db: np.ndarray,
    ) -> None:
        """Draw, at each row's ``slot`` (n,), the links that ``need`` (n, U, uint8
        bit flags :data:`NEED_SERVING`, :data:`NEED_MEASURE`,
        :data:`NEED_REQUEST`) asks for, in place: the large-scale gain (dB,
        minus path loss plus shadowing) into ``gain_db`` (B, U, E) and the
        fading into ``state``. A link drawn is exact in law at that slot
        (the per-slot process jumped ahead over the slots since its last
        draw); links not asked for keep their last values. ``device_xy`` (B,
        U, 2) m, ``edge_xy`` (E, 2) m, ``assoc`` (B, U) the serving edges.
        Implementations call a compiled kernel (see :func:`draw_links` and
        docs/extending.md).
        """

    def uplink_rate_bps(
        self, gain: np.ndarray, bandwidth_hz: np.ndarray, time_share: float
    ) -> np.ndarray:
        """Uplink rate (bit/s) of a device at full power over ``bandwidth_hz``
        with linear channel ``gain``, transmitting a ``time_share`` of the time (TDD)."""
        g, bw = np.broadcast_arrays(np.asarray(gain, float), np.asarray(bandwidth_hz, float))
        alpha, sinr_min, se_max = self.ul_link
        tx, n0 = self.device_tx_w, self.bs_noise_w_per_hz
        out = ul_rate_array(g.ravel(), bw.ravel(), time_share, tx, n0, alpha, sinr_min, se_max)
        return out.reshape(g.shape)

    def downlink_rate_bps(
        self, gain: np.ndarray, carrier_hz: float, bandwidth_hz: float, time_share: float
    ) -> np.ndarray:
        """Downlink rate (bit/s) over ``bandwidth_hz`` of a ``carrier_hz`` carrier
        whose base-station power is spread evenly over it (so the SINR is the
        carrier's), sending a ``time_share`` of the time (TDD)."""
        g = np.asarray(gain, float)
        n0 = self.device_noise_w_per_hz * carrier_hz
        alpha, sinr_min, se_max = self.dl_link
        out = dl_rate_array(
            g.ravel(), bandwidth_hz, time_share, self.bs_tx_w, n0, alpha, sinr_min, se_max
        )
        return out.reshape(g.shape)

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
    - Links drawn lazily with exact jump-ahead (:func:`draw_links`); the
      association is re-evaluated every ``measurement_period_s`` (handover
      when another edge's large-scale gain is ``handover_hysteresis_db``
      stronger).
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
        measurement_period_s: float,
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
        _require(
            fin(measurement_period_s) and 0 < measurement_period_s <= 10,
            "measurement_period_s",
            measurement_period_s,
            "in (0, 10] s (a whole number of slots)",
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
        self.measurement_period_s = float(measurement_period_s)

    #: path-loss formula of the compiled kernel: 0 log-distance (c0 slope, c1
    #: intercept, d in km), 1 TR 38.901 max of two lines in log10 d (m)
    _pl_mode = 0

    def _pl_coeffs(self) -> np.ndarray:
        return np.array([self.slope_db, self.intercept_db, 0.0, 0.0])

    @functools.cached_property
    def _coeffs(self) -> np.ndarray:
        """The kernels' path-loss coefficients, computed once."""
        return self._pl_coeffs()

    def pathloss_db(self, distance_3d_m: np.ndarray) -> np.ndarray:
        d = np.asarray(distance_3d_m, dtype=np.float64)
        pl = pathloss_array(d.ravel(), self.min_distance_m, self._pl_mode, self._coeffs)
        return pl.reshape(d.shape) if d.ndim else pl[0]

    def init_state(self, key: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
        zero = np.zeros(key.shape[0], dtype=np.int64)
        shadow = self.shadowing_std_db * rng.normal(key, zero, rng.Stream.INIT_SHADOWING, shape)
        h = rng.normal(key, zero, rng.Stream.INIT_FADING, (2, *shape)) * np.sqrt(0.5)
        links, devices = (key.shape[0], *shape), (key.shape[0], shape[0])
        return {
            "shadow_db": shadow,  # shadowing at the link's last draw, dB
            "h_re": h[:, 0].copy(),
            "h_im": h[:, 1].copy(),
            "gain_slot": np.full(links, -1, np.int32),  # slot of the last large-scale draw
            "fade_slot": np.zeros(links, np.int32),  # slot of the last fading draw
            "odo_at_m": np.zeros(links),  # the device's odometer at the last shadowing draw
            "log_rho_at": np.zeros(links),  # its cum_log_rho at the last fading draw
            "sign_rho_at": np.zeros(links, np.uint8),  # its sign_rho then
            "odometer_m": np.zeros(devices),  # distance moved since reset, m
            "speed_seen_mps": np.full(devices, -1.0),  # speed of log_rho (-1: none yet)
            "log_rho": np.zeros(devices),  # log|rho| of a slot at that speed
            "neg_rho": np.zeros(devices, np.uint8),  # 1 if that rho < 0
            "cum_log_rho": np.zeros(devices),  # sum of the slots' log|rho| since reset
            "sign_rho": np.zeros(devices, np.uint8),  # parity of the negative rho since reset
        }

    def advance_rows(  # type: ignore[no-untyped-def]
        self, state, key, slot, rows, moved_m, speed_mps, slot_s
    ) -> None:
        advance_devices(
            state["odometer_m"], state["speed_seen_mps"], state["log_rho"], state["neg_rho"],
            state["cum_log_rho"], state["sign_rho"], moved_m, speed_mps, rows,
            self.carrier_hz, slot_s,
        )  # fmt: skip

    def draw_rows(  # type: ignore[no-untyped-def]
        self, state, key, slot, rows, need, device_xy, edge_xy, assoc, gain_db
    ) -> None:
        c = state
        draw_links(
            c["shadow_db"], c["h_re"], c["h_im"], c["gain_slot"], c["fade_slot"], c["odo_at_m"],
            c["log_rho_at"], c["sign_rho_at"], c["odometer_m"], c["cum_log_rho"],
            c["sign_rho"], gain_db, device_xy, key, slot, rows, need, assoc, edge_xy,
            self.shadowing_std_db, self.decorrelation_m, self.height_diff_m**2,
            self.min_distance_m, self._pl_mode, self._coeffs,
        )  # fmt: skip


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

    _pl_mode = 1

    def _pl_coeffs(self) -> np.ndarray:
        return np.array([*self._nlos, *self._los])
