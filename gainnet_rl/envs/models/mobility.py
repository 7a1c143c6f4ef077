"""Device mobility models (SYSTEM_MODEL sections 2 and 10).

State arrays carry a leading batch dimension B and a device dimension U:
``pos_m`` (B, U, 2) positions in metres, ``speed_mps`` (B, U) speeds, plus
whatever a model needs. Edge positions do not move.
"""

from __future__ import annotations

import abc

import numpy as np

from gainnet_rl.envs import rng
from gainnet_rl.envs.models._validate import checker

_require = checker("mobility")


class MobilityModel(abc.ABC):
    """Base class of mobility models."""

    @abc.abstractmethod
    def init_state(
        self, key: np.ndarray, num_devices: int, area_m: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Initial positions and speeds of ``key.shape[0]`` sub-envs."""

    @abc.abstractmethod
    def step(
        self,
        state: dict[str, np.ndarray],
        key: np.ndarray,
        slot: np.ndarray,
        slot_s: float,
        area_m: np.ndarray,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Move devices by one slot; returns the new state and (B, U) distance moved (m)."""


class Static(MobilityModel):
    """Devices placed uniformly at random in the area and never move (hospital district)."""

    def init_state(
        self, key: np.ndarray, num_devices: int, area_m: np.ndarray
    ) -> dict[str, np.ndarray]:
        zero = np.zeros(key.shape[0], dtype=np.int64)
        u = rng.uniform(key, zero, rng.Stream.INIT_POSITION, (num_devices, 2))
        return {"pos_m": u * area_m, "speed_mps": np.zeros((key.shape[0], num_devices))}

    def step(self, state, key, slot, slot_s, area_m):  # type: ignore[no-untyped-def]
        return state, np.zeros(state["speed_mps"].shape)


class RandomWaypoint(MobilityModel):
    """Random waypoint: walk straight to a uniform waypoint at a uniform speed
    in [min_speed_mps, max_speed_mps], then draw a new waypoint and speed."""

    def __init__(self, *, min_speed_mps: float, max_speed_mps: float) -> None:
        _require(0 <= min_speed_mps <= 1e3, "min_speed_mps", min_speed_mps, "in [0, 1000] m/s")
        _require(
            min_speed_mps <= max_speed_mps <= 1e3,
            "max_speed_mps",
            max_speed_mps,
            f"in [min_speed_mps ({min_speed_mps}), 1000] m/s",
        )
        self.min_speed_mps = float(min_speed_mps)
        self.max_speed_mps = float(max_speed_mps)

    def init_state(
        self, key: np.ndarray, num_devices: int, area_m: np.ndarray
    ) -> dict[str, np.ndarray]:
        zero = np.zeros(key.shape[0], dtype=np.int64)
        u = rng.uniform(key, zero, rng.Stream.INIT_POSITION, (num_devices, 5))
        span = self.max_speed_mps - self.min_speed_mps
        return {
            "pos_m": u[..., 0:2] * area_m,
            "waypoint_m": u[..., 2:4] * area_m,
            "speed_mps": self.min_speed_mps + span * u[..., 4],
        }

    def step(self, state, key, slot, slot_s, area_m):  # type: ignore[no-untyped-def]
        pos, wp, speed = state["pos_m"], state["waypoint_m"], state["speed_mps"]
        delta = wp - pos
        dx, dy = delta[..., 0], delta[..., 1]
        dist = np.sqrt(dx * dx + dy * dy)
        step_m = np.minimum(speed * slot_s, dist)
        frac = np.divide(step_m, dist, out=np.zeros_like(dist), where=dist > 0)
        delta *= frac[..., None]
        new_pos = pos + delta
        # Devices at their waypoint draw a new one and a new speed.
        b, u = np.nonzero(step_m >= dist)
        if b.size == 0:
            return {"pos_m": new_pos, "waypoint_m": wp, "speed_mps": speed}, step_m
        draw = rng.uniform_at(key[b], slot[b], rng.Stream.MOBILITY, u[:, None] * 3 + _COLS3)
        new_wp, new_speed = wp.copy(), speed.copy()
        new_wp[b, u] = draw[:, 0:2] * area_m
        new_speed[b, u] = (
            self.min_speed_mps + (self.max_speed_mps - self.min_speed_mps) * draw[:, 2]
        )
        return {"pos_m": new_pos, "waypoint_m": new_wp, "speed_mps": new_speed}, step_m


_COLS3 = np.arange(3)[None, :]


class MultiLaneRoad(MobilityModel):
    """Vehicles on a straight multi-lane road along x through the middle of the
    area, alternate lanes in opposite directions, each at a constant speed
    drawn uniformly in [min_speed_mps, max_speed_mps]; a vehicle leaving the
    area re-enters at the other end (a ring road, keeping U constant)."""

    def __init__(
        self,
        *,
        lanes: int,
        lane_width_m: float,
        min_speed_mps: float,
        max_speed_mps: float,
    ) -> None:
        _require(
            isinstance(lanes, int) and 1 <= lanes <= 64, "lanes", lanes, "an integer in [1, 64]"
        )
        _require(0 < lane_width_m <= 100, "lane_width_m", lane_width_m, "in (0, 100] m")
        _require(0 <= min_speed_mps <= 1e3, "min_speed_mps", min_speed_mps, "in [0, 1000] m/s")
        _require(
            min_speed_mps <= max_speed_mps <= 1e3,
            "max_speed_mps",
            max_speed_mps,
            f"in [min_speed_mps ({min_speed_mps}), 1000] m/s",
        )
        self.lanes = int(lanes)
        self.lane_width_m = float(lane_width_m)
        self.min_speed_mps = float(min_speed_mps)
        self.max_speed_mps = float(max_speed_mps)

    def init_state(
        self, key: np.ndarray, num_devices: int, area_m: np.ndarray
    ) -> dict[str, np.ndarray]:
        zero = np.zeros(key.shape[0], dtype=np.int64)
        u = rng.uniform(key, zero, rng.Stream.INIT_POSITION, (num_devices, 3))
        lane = np.minimum((u[..., 1] * self.lanes).astype(np.int64), self.lanes - 1)
        y = area_m[1] / 2 + (lane - (self.lanes - 1) / 2) * self.lane_width_m
        direction = np.where(lane % 2 == 0, 1.0, -1.0)
        span = self.max_speed_mps - self.min_speed_mps
        return {
            "pos_m": np.stack([u[..., 0] * area_m[0], y], axis=-1),
            "speed_mps": self.min_speed_mps + span * u[..., 2],
            "direction": direction,
        }

    def step(self, state, key, slot, slot_s, area_m):  # type: ignore[no-untyped-def]
        step_m = state["speed_mps"] * slot_s
        x = np.mod(state["pos_m"][..., 0] + state["direction"] * step_m, area_m[0])
        pos = np.stack([x, state["pos_m"][..., 1]], axis=-1)
        return {**state, "pos_m": pos}, step_m
