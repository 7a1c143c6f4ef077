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
from numba import njit

from gainnet_rl.envs import rng
from gainnet_rl.envs.models._validate import checker

_require = checker("arrivals")


class ArrivalModel(abc.ABC):
    """Base class of arrival models."""

    def init_state(self, key: np.ndarray, num_devices: int) -> dict[str, np.ndarray]:
        """Initial arrival-process state (none by default)."""
        return {}

    @abc.abstractmethod
    def sample_rows(
        self,
        state: dict[str, np.ndarray],
        key: np.ndarray,
        slot: np.ndarray,
        rows: np.ndarray,
        mean_per_slot: float,
        counts: np.ndarray,
    ) -> None:
        """Draw the requests arriving in each row's slot, in place.

        ``state`` holds whole-batch arrays; ``slot`` (n,) and ``counts`` (n,
        U) int64 are aligned with ``rows``: ``counts[i, u]`` receives the
        number of requests device u of sub-env ``rows[i]`` issues,
        ``mean_per_slot`` per device on average. Implementations call a
        compiled kernel (docs/extending.md).
        """


class PoissonArrivals(ArrivalModel):
    """Independent Poisson arrivals per device and slot."""

    def sample_rows(self, state, key, slot, rows, mean_per_slot, counts):  # type: ignore[no-untyped-def]
        _poisson_rows(key, slot, rows, rng.poisson_cdf(mean_per_slot), counts)


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

    def sample_rows(self, state, key, slot, rows, mean_per_slot, counts):  # type: ignore[no-untyped-def]
        calm = mean_per_slot * self.calm_fraction
        _bursty_rows(
            state["burst"], key, slot, rows, self.p_enter, self.p_leave, calm,
            self.burst_factor, counts,
        )  # fmt: skip


# ---------------------------------------------------------------- compiled kernels


@njit(cache=True)
def _poisson_rows(key, slot, rows, cdf, counts):  # pragma: no cover - compiled
    """Poisson counts by inversion of uniform u of stream ARRIVAL_COUNT (table ``cdf``)."""
    U = counts.shape[1]
    for i in range(rows.size):
        head = rng.head1(key[rows[i]], slot[i], rng.Stream.ARRIVAL_COUNT)
        for u in range(U):
            counts[i, u] = rng.poisson_table1(rng.uniform1(head, u), cdf)


@njit(cache=True)
def _bursty_rows(
    burst, key, slot, rows, p_enter, p_leave, calm_rate, factor, counts
):  # pragma: no cover
    """MMPP slot: flip the state with uniform u, then a Poisson count with uniform U + u
    (stream ARRIVAL_STATE)."""
    U = counts.shape[1]
    for i in range(rows.size):
        b = rows[i]
        head = rng.head1(key[b], slot[i], rng.Stream.ARRIVAL_STATE)
        for u in range(U):
            x = rng.uniform1(head, u)
            flip = x < p_leave if burst[b, u] else x < p_enter
            burst[b, u] = burst[b, u] ^ flip
            rate = calm_rate * (factor if burst[b, u] else 1.0)
            counts[i, u] = rng.poisson1(rng.uniform1(head, U + u), rate)
