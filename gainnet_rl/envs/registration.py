"""Gymnasium registration of the GainNet ids (scalar and vector entry points)."""

from __future__ import annotations

import gymnasium as gym

ENV_ID = "gainnet_rl/GainNet-v1"
SCENARIO_IDS = {
    "small": "gainnet_rl/GainNet-small-v1",
    "medium": "gainnet_rl/GainNet-medium-v1",
    "large": "gainnet_rl/GainNet-large-v1",
}
#: the size and load drawn per episode (:class:`gainnet_rl.envs.mixture.GainNetMixEnv`)
MIX_ID = "gainnet_rl/GainNet-mix-v1"


def register_envs() -> None:
    """Register ``gainnet_rl/GainNet-v1``, one id per packaged scenario and
    ``gainnet_rl/GainNet-mix-v1`` (idempotent).

    v1 (SYSTEM_MODEL sec. 12) replaced v0, which is no longer registered."""
    entries = [(ENV_ID, {})] + [(i, {"scenario": s}) for s, i in SCENARIO_IDS.items()]
    for env_id, kwargs in entries:
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point="gainnet_rl.envs.gainnet_env:GainNetEnv",
            vector_entry_point="gainnet_rl.envs.vector_env:GainNetVectorEnv",
            kwargs=kwargs,
            disable_env_checker=False,
        )
    if MIX_ID not in gym.registry:
        gym.register(
            id=MIX_ID,
            entry_point="gainnet_rl.envs.mixture:GainNetMixEnv",
            disable_env_checker=False,
        )
