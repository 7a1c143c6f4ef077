"""Request arrival models (SYSTEM_MODEL section 7).

An arrival model draws, per slot, how many requests each device issues:
(B, U) non-negative integer counts. ``load`` scales the mean rate.
"""

from __future__ import annotations

import abc

import numpy as np

from gainnet_rl.envs import rng
from gainnet_rl.envs.models._validate import checker

_require = checker("arrivals")


class ArrivalModel(abc.ABC):
    """Base class of arrival models. ``rate_per_device_hz`` is the mean rate at load 1."""

    rate_per_device_hz: float

    def init_state(self, key: np.ndarray, num_devices: int) -> dict[str, np.ndarray]:
        """Initial arrival-process state (none by default)."""
        return {}

    @abc.abstractmethod
    def sample(
        self,
        state: dict[str, np.ndarray],
        key: np.ndarray,
        slot: np.ndarray,
        num_devices: int,
        load: float,
        slot_s: float,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Draw the (B, U) counts of requests arriving in ``slot``; returns (state, counts)."""


class PoissonArrivals(ArrivalModel):
    """Independent Poisson arrivals per device and slot, mean ``rate * load * slot_s``."""

    def __init__(self, rate_per_device_hz: float = 0.25) -> None:
        _require(rate_per_device_hz > 0, "rate_per_device_hz", rate_per_device_hz, "> 0 requests/s")
        self.rate_per_device_hz = float(rate_per_device_hz)

    def sample(self, state, key, slot, num_devices, load, slot_s):  # type: ignore[no-untyped-def]
        u = rng.uniform(key, slot, rng.Stream.ARRIVAL_COUNT, (num_devices,))
        return state, rng.poisson(u, self.rate_per_device_hz * load * slot_s)


class BurstyArrivals(ArrivalModel):
    """Two-state Markov-modulated Poisson process per device.

    In the ``burst`` state the rate is ``burst_factor`` times the calm rate;
    the state flips with per-slot probabilities ``p_enter_burst`` and
    ``p_leave_burst``. The calm rate is set so the long-run mean equals
    ``rate_per_device_hz``.
    """

    def __init__(
        self,
        rate_per_device_hz: float = 0.25,
        burst_factor: float = 5.0,
        p_enter_burst: float = 0.02,
        p_leave_burst: float = 0.1,
    ) -> None:
        _require(rate_per_device_hz > 0, "rate_per_device_hz", rate_per_device_hz, "> 0 requests/s")
        _require(burst_factor >= 1, "burst_factor", burst_factor, ">= 1")
        _require(0 < p_enter_burst <= 1, "p_enter_burst", p_enter_burst, "in (0, 1]")
        _require(0 < p_leave_burst <= 1, "p_leave_burst", p_leave_burst, "in (0, 1]")
        self.rate_per_device_hz = float(rate_per_device_hz)
        self.burst_factor = float(burst_factor)
        self.p_enter = float(p_enter_burst)
        self.p_leave = float(p_leave_burst)
        pi_burst = self.p_enter / (self.p_enter + self.p_leave)
        self.calm_rate_hz = self.rate_per_device_hz / (1 - pi_burst + pi_burst * self.burst_factor)

    def init_state(self, key: np.ndarray, num_devices: int) -> dict[str, np.ndarray]:
        return {"burst": np.zeros((key.shape[0], num_devices), dtype=bool)}

    def sample(self, state, key, slot, num_devices, load, slot_s):  # type: ignore[no-untyped-def]
        u = rng.uniform(key, slot, rng.Stream.ARRIVAL_STATE, (2, num_devices))
        burst = state["burst"]
        flip = np.where(burst, u[:, 0] < self.p_leave, u[:, 0] < self.p_enter)
        burst = burst ^ flip
        rate = self.calm_rate_hz * np.where(burst, self.burst_factor, 1.0)
        return {"burst": burst}, rng.poisson(u[:, 1], rate * load * slot_s)
