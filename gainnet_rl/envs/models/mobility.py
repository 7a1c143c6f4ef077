"""Device mobility models (SYSTEM_MODEL sections 2 and 10).

State arrays carry a leading batch dimension B and a device dimension U:
``pos_m`` (B, U, 2) positions in metres, ``speed_mps`` (B, U) speeds, plus
whatever a model needs. Edge positions do not move.
"""

from __future__ import annotations

import abc

import numpy as np
from numba import njit

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
    def advance_rows(
        self,
        state: dict[str, np.ndarray],
        key: np.ndarray,
        slot: np.ndarray,
        rows: np.ndarray,
        slot_s: float,
        area_m: np.ndarray,
        moved_m: np.ndarray,
    ) -> None:
        """Move the devices of sub-envs ``rows`` by one slot, in place.

        ``state`` holds whole-batch arrays; ``slot`` (n,) is each row's new
        slot (the draws' counter) and ``moved_m`` (n, U), aligned with
        ``rows``, receives the distance each device moved (m), positive
        whenever its position changed (the channel keeps the gains of the
        devices that did not move). Implementations call a compiled kernel
        (docs/extending.md).
        """


class Static(MobilityModel):
    """Devices placed uniformly at random in the area and never move (hospital district)."""

    def init_state(
        self, key: np.ndarray, num_devices: int, area_m: np.ndarray
    ) -> dict[str, np.ndarray]:
        zero = np.zeros(key.shape[0], dtype=np.int64)
        u = rng.uniform(key, zero, rng.Stream.INIT_POSITION, (num_devices, 2))
        return {"pos_m": u * area_m, "speed_mps": np.zeros((key.shape[0], num_devices))}

    def advance_rows(self, state, key, slot, rows, slot_s, area_m, moved_m):  # type: ignore[no-untyped-def]
        moved_m[:] = 0.0


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

    def advance_rows(self, state, key, slot, rows, slot_s, area_m, moved_m):  # type: ignore[no-untyped-def]
        _waypoint_rows(
            state["pos_m"], state["waypoint_m"], state["speed_mps"], key, slot, rows,
            slot_s, area_m, self.min_speed_mps, self.max_speed_mps, moved_m,
        )  # fmt: skip


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

    def advance_rows(self, state, key, slot, rows, slot_s, area_m, moved_m):  # type: ignore[no-untyped-def]
        _road_rows(
            state["pos_m"], state["speed_mps"], state["direction"], rows, slot_s, area_m, moved_m
        )


# ---------------------------------------------------------------- compiled kernels


@njit(cache=True)
def _waypoint_rows(
    pos, wp, speed, key, slot, rows, slot_s, area_m, v_min, v_max, moved
):  # pragma: no cover
    """Random-waypoint slot of sub-envs ``rows``: walk ``min(v dt, distance)``
    towards the waypoint; on arrival draw a new waypoint and speed (uniforms
    3u, 3u + 1, 3u + 2 of stream MOBILITY at the new slot)."""
    U = pos.shape[1]
    for i in range(rows.size):
        b = rows[i]
        head = rng.head1(key[b], slot[i], rng.Stream.MOBILITY)
        for u in range(U):
            dx = wp[b, u, 0] - pos[b, u, 0]
            dy = wp[b, u, 1] - pos[b, u, 1]
            dist = np.sqrt(dx * dx + dy * dy)
            step_m = min(speed[b, u] * slot_s, dist)
            frac = step_m / dist if dist > 0 else 0.0
            pos[b, u, 0] = pos[b, u, 0] + dx * frac
            pos[b, u, 1] = pos[b, u, 1] + dy * frac
            moved[i, u] = step_m
            if step_m >= dist:
                wp[b, u, 0] = rng.uniform1(head, 3 * u) * area_m[0]
                wp[b, u, 1] = rng.uniform1(head, 3 * u + 1) * area_m[1]
                speed[b, u] = v_min + (v_max - v_min) * rng.uniform1(head, 3 * u + 2)


@njit(cache=True)
def _road_rows(pos, speed, direction, rows, slot_s, area_m, moved):  # pragma: no cover
    """Ring-road slot of sub-envs ``rows``: x advances by ``direction v dt`` modulo the length."""
    U = pos.shape[1]
    for i in range(rows.size):
        b = rows[i]
        for u in range(U):
            step_m = speed[b, u] * slot_s
            pos[b, u, 0] = np.mod(pos[b, u, 0] + direction[b, u] * step_m, area_m[0])
            moved[i, u] = step_m
