"""Reward models (SYSTEM_MODEL section 9).

A reward model maps the outcome of each request (vectorised) to its reward,
credited to the slot in which the request completes or is dropped.
"""

from __future__ import annotations

import abc

import numpy as np


class RewardModel(abc.ABC):
    """Base class of reward models."""

    w_invalid: float

    @abc.abstractmethod
    def request_reward(
        self,
        quality: np.ndarray,
        met: np.ndarray,
        dropped: np.ndarray,
        latency_s: np.ndarray,
        energy_j: np.ndarray,
        cloud_cost_usd: np.ndarray,
    ) -> np.ndarray:
        """Reward of requests with the given outcomes (all arrays the same shape)."""

    @abc.abstractmethod
    def slot_reward(self, energy_j: np.ndarray) -> np.ndarray:
        """Reward of per-slot overheads not tied to a request (sensing, fine-tuning energy)."""


class LinearReward(RewardModel):
    """``w_q q [met] - w_lat latency - w_e energy - w_c cost - w_drop [dropped]``.

    - ``met``: served within its deadline with quality at or above its floor.
    - latency counts for served requests only; a dropped request costs
      ``w_drop`` plus the energy and cloud cost it consumed.
    - Units: latency in s, energy in J, cloud cost in $ (weights per unit).
    """

    def __init__(
        self,
        w_quality: float = 1.0,
        w_latency: float = 0.05,
        w_energy: float = 0.0005,
        w_cloud_cost: float = 200.0,
        w_drop: float = 0.5,
        w_invalid: float = 0.1,
    ) -> None:
        for name, value in [
            ("w_quality", w_quality),
            ("w_latency", w_latency),
            ("w_energy", w_energy),
            ("w_cloud_cost", w_cloud_cost),
            ("w_drop", w_drop),
            ("w_invalid", w_invalid),
        ]:
            if not (value >= 0 and np.isfinite(value)):
                from gainnet_rl.config import ConfigError

                raise ConfigError(f"reward.{name}={value!r} is invalid: must be finite and >= 0")
        self.w_quality = float(w_quality)
        self.w_latency = float(w_latency)
        self.w_energy = float(w_energy)
        self.w_cloud_cost = float(w_cloud_cost)
        self.w_drop = float(w_drop)
        self.w_invalid = float(w_invalid)

    def request_reward(self, quality, met, dropped, latency_s, energy_j, cloud_cost_usd):  # type: ignore[no-untyped-def]
        return (
            self.w_quality * quality * met
            - self.w_latency * latency_s * ~dropped
            - self.w_energy * energy_j
            - self.w_cloud_cost * cloud_cost_usd
            - self.w_drop * dropped
        )

    def slot_reward(self, energy_j: np.ndarray) -> np.ndarray:
        return -self.w_energy * energy_j
