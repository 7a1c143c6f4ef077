"""Request arrival models (SYSTEM_MODEL sections 7 and 12.4).

An arrival model draws, per slot, how many requests each device issues:
(B, U) non-negative integer counts with a given mean per device and slot.
The mean is not a model argument: the Params builder derives it from the
scenario's offered load (``load`` x ``offered_load_at_load1`` of the edges'
capacity), so ``load`` means the same at every network size.
"""

from __future__ import annotations

import abc

import numpy as np

from gainnet_rl.envs import rng
from gainnet_rl.envs.models._validate import checker

_require = checker("arrivals")


class ArrivalModel(abc.ABC):
    """Base class of arrival models."""

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
        mean_per_slot: float,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Draw the (B, U) counts of requests arriving in ``slot``, ``mean_per_slot``
        requests per device on average; returns (state, counts)."""


class PoissonArrivals(ArrivalModel):
    """Independent Poisson arrivals per device and slot."""

    def sample(self, state, key, slot, num_devices, mean_per_slot):  # type: ignore[no-untyped-def]
        u = rng.uniform(key, slot, rng.Stream.ARRIVAL_COUNT, (num_devices,))
        return state, rng.poisson(u, mean_per_slot)


class BurstyArrivals(ArrivalModel):
    """Two-state Markov-modulated Poisson process per device.

    In the ``burst`` state the rate is ``burst_factor`` times the calm rate;
    the state flips with per-slot probabilities ``p_enter_burst`` and
    ``p_leave_burst``. The calm rate is set so the long-run mean is the mean
    the env asks for.
    """

    def __init__(self, *, burst_factor: float, p_enter_burst: float, p_leave_burst: float) -> None:
        _require(1 <= burst_factor <= 1e3, "burst_factor", burst_factor, "in [1, 1000]")
        _require(0 < p_enter_burst <= 1, "p_enter_burst", p_enter_burst, "in (0, 1]")
        _require(0 < p_leave_burst <= 1, "p_leave_burst", p_leave_burst, "in (0, 1]")
        self.burst_factor = float(burst_factor)
        self.p_enter = float(p_enter_burst)
        self.p_leave = float(p_leave_burst)
        pi_burst = self.p_enter / (self.p_enter + self.p_leave)
        self.calm_fraction = 1.0 / (1 - pi_burst + pi_burst * self.burst_factor)

    def init_state(self, key: np.ndarray, num_devices: int) -> dict[str, np.ndarray]:
        return {"burst": np.zeros((key.shape[0], num_devices), dtype=bool)}

    def sample(self, state, key, slot, num_devices, mean_per_slot):  # type: ignore[no-untyped-def]
        u = rng.uniform(key, slot, rng.Stream.ARRIVAL_STATE, (2, num_devices))
        burst = state["burst"]
        flip = np.where(burst, u[:, 0] < self.p_leave, u[:, 0] < self.p_enter)
        burst = burst ^ flip
        rate = mean_per_slot * self.calm_fraction * np.where(burst, self.burst_factor, 1.0)
        return {"burst": burst}, rng.poisson(u[:, 1], rate)
