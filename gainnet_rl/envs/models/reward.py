"""Reward models (SYSTEM_MODEL sections 9 and 12.5).

A reward model maps the outcome of each request (vectorised) to its reward
terms; their sum is the request's reward, credited whole to the step that
decides it. Per-slot overheads not tied to a request (sensing uploads,
fine-tuning) are priced by :meth:`RewardModel.slot_reward`.
"""

from __future__ import annotations

import abc

import numpy as np
from numba import njit

from gainnet_rl.envs.models._validate import checker

_require = checker("reward")

#: Names of the reward terms, in the order :meth:`RewardModel.request_terms` returns them.
TERMS = ("quality", "latency", "energy", "cloud_cost", "drop_miss")


class RewardModel(abc.ABC):
    """Base class of reward models."""

    w_invalid: float

    @abc.abstractmethod
    def request_terms(
        self,
        quality: np.ndarray,
        met: np.ndarray,
        missed: np.ndarray,
        dropped: np.ndarray,
        latency_s: np.ndarray,
        energy_j: np.ndarray,
        cloud_cost_usd: np.ndarray,
    ) -> np.ndarray:
        """Reward terms (..., len(TERMS)) of requests with the given outcomes
        (all arrays the same shape): ``met`` served in time at or above the
        quality floor, ``missed`` served in time below it, ``dropped`` rejected
        or aborted at the deadline."""

    def request_reward(self, *outcome: np.ndarray) -> np.ndarray:
        """Sum of :meth:`request_terms`."""
        return self.request_terms(*outcome).sum(axis=-1)

    @abc.abstractmethod
    def slot_reward(self, energy_j: np.ndarray) -> np.ndarray:
        """Reward of per-slot overheads not tied to a request (sensing, fine-tuning energy)."""


class LinearReward(RewardModel):
    """Terms ``w_q q [met]``, ``- w_lat latency [served]``, ``- w_e energy``,
    ``- w_c cost``, ``- w_drop [dropped] - w_miss [missed]``.

    - A request served below its quality floor earns no quality and pays
      ``w_miss`` (default ``w_drop``), so it always costs more than a reject.
    - Latency counts for served requests; a dropped request pays ``w_drop``
      plus the energy and cloud cost it used until it was aborted.
    - Units: latency in s, energy in J, cloud cost in $ (weights per unit).
    Every weight is required: the scenario YAML is the one source of values.
    """

    def __init__(
        self,
        *,
        w_quality: float,
        w_latency: float,
        w_energy: float,
        w_cloud_cost: float,
        w_drop: float,
        w_miss: float | None,
        w_invalid: float,
    ) -> None:
        if w_miss is None:
            w_miss = w_drop
        for name, value in [
            ("w_quality", w_quality),
            ("w_latency", w_latency),
            ("w_energy", w_energy),
            ("w_cloud_cost", w_cloud_cost),
            ("w_drop", w_drop),
            ("w_miss", w_miss),
            ("w_invalid", w_invalid),
        ]:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            _require(ok and bool(np.isfinite(value)) and value >= 0, name, value, "finite and >= 0")
        self.w_quality = float(w_quality)
        self.w_latency = float(w_latency)
        self.w_energy = float(w_energy)
        self.w_cloud_cost = float(w_cloud_cost)
        self.w_drop = float(w_drop)
        self.w_miss = float(w_miss)
        self.w_invalid = float(w_invalid)

    def request_terms(self, quality, met, missed, dropped, latency_s, energy_j, cloud_cost_usd):  # type: ignore[no-untyped-def]
        shape = np.shape(quality)

        def flat(x: np.ndarray) -> np.ndarray:  # a view where x already has the shape
            x = np.asarray(x)
            return (x if x.shape == shape else np.broadcast_to(x, shape)).reshape(-1)

        terms = np.empty((int(np.prod(shape)), len(TERMS)))
        _linear_terms(
            flat(quality), flat(met), flat(missed), flat(dropped), flat(latency_s),
            flat(energy_j), flat(cloud_cost_usd), self.w_quality, self.w_latency,
            self.w_energy, self.w_cloud_cost, self.w_drop, self.w_miss, terms,
        )  # fmt: skip
        return terms.reshape(*shape, len(TERMS))

    def slot_reward(self, energy_j: np.ndarray) -> np.ndarray:
        return -self.w_energy * energy_j


@njit(cache=True)
def _linear_terms(
    q, met, missed, dropped, lat, en, cost, w_q, w_lat, w_e, w_c, w_drop, w_miss, out
):  # type: ignore[no-untyped-def]  # pragma: no cover
    """The five :class:`LinearReward` terms of each outcome, into ``out`` (n, 5)."""
    for i in range(q.size):
        out[i, 0] = w_q * q[i] * met[i]
        out[i, 1] = -w_lat * lat[i] * (not dropped[i])
        out[i, 2] = -w_e * en[i]
        out[i, 3] = -w_c * cost[i]
        out[i, 4] = -w_drop * dropped[i] - w_miss * missed[i]
