"""A user-written mobility model with its own compiled kernel, plugged into a
scenario by ``mobility._target_: plugin_models.Circle`` (tests/test_plugins.py
and docs/extending.md)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from gainnet_rl.envs import rng
from gainnet_rl.envs.config import ConfigError
from gainnet_rl.envs.models.mobility import MobilityModel


class Circle(MobilityModel):
    """Devices circle the area's centre at ``radius_m``, ``speed_mps`` each,
    from a uniform random phase."""

    def __init__(self, *, radius_m: float, speed_mps: float) -> None:
        if not (0 < radius_m <= 1e4):
            raise ConfigError(f"mobility.radius_m={radius_m!r} is invalid: must be in (0, 1e4] m")
        self.radius_m, self.speed_mps = float(radius_m), float(speed_mps)

    def init_state(self, key, num_devices, area_m):  # type: ignore[no-untyped-def]
        zero = np.zeros(key.shape[0], dtype=np.int64)
        phase = 2 * np.pi * rng.uniform(key, zero, rng.Stream.INIT_POSITION, (num_devices,))
        pos = np.empty((*phase.shape, 2))
        _place(pos, phase, self.radius_m, area_m)
        return {"pos_m": pos, "speed_mps": np.full(phase.shape, self.speed_mps), "phase": phase}

    def advance_rows(self, state, key, slot, rows, slot_s, area_m, moved_m):  # type: ignore[no-untyped-def]
        step_rad = self.speed_mps * slot_s / self.radius_m
        _circle_rows(state["pos_m"], state["phase"], rows, self.radius_m, step_rad, area_m, moved_m)


@njit(cache=True)
def _place(pos, phase, radius, area):  # type: ignore[no-untyped-def]
    for b in range(phase.shape[0]):
        for u in range(phase.shape[1]):
            pos[b, u, 0] = area[0] / 2 + radius * math.cos(phase[b, u])
            pos[b, u, 1] = area[1] / 2 + radius * math.sin(phase[b, u])


@njit(cache=True)
def _circle_rows(pos, phase, rows, radius, step_rad, area, moved):  # type: ignore[no-untyped-def]
    for i in range(rows.size):
        b = rows[i]
        for u in range(pos.shape[1]):
            phase[b, u] += step_rad
            pos[b, u, 0] = area[0] / 2 + radius * math.cos(phase[b, u])
            pos[b, u, 1] = area[1] / 2 + radius * math.sin(phase[b, u])
            moved[i, u] = radius * step_rad  # the arc length, m
