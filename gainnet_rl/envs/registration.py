"""Gymnasium registration of the GainNet ids (scalar and vector entry points).

Two versions are registered, differing only in their demand (SYSTEM_MODEL
sections 12 and 13): ``-v2`` (the default: arrivals shaped like measured GAI
traffic, 60 s episodes, the demand history in the observation) and ``-v1``
(Poisson arrivals, 20 s episodes), kept so v1's published numbers stay
reproducible.
"""

from __future__ import annotations

import gymnasium as gym

ENV_ID = "gainnet_rl/GainNet-v2"
SCENARIO_IDS = {
    "small": "gainnet_rl/GainNet-small-v2",
    "medium": "gainnet_rl/GainNet-medium-v2",
    "large": "gainnet_rl/GainNet-large-v2",
}
#: the size and load drawn per episode (:class:`gainnet_rl.envs.mixture.GainNetMixEnv`)
MIX_ID = "gainnet_rl/GainNet-mix-v2"
#: GainNet-v1's ids (SYSTEM_MODEL sec. 12): the same scenarios with v1's demand
V1_ENV_ID = "gainnet_rl/GainNet-v1"
V1_SCENARIO_IDS = {s: i.replace("-v2", "-v1") for s, i in SCENARIO_IDS.items()}
V1_MIX_ID = "gainnet_rl/GainNet-mix-v1"


def register_envs() -> None:
    """Register ``gainnet_rl/GainNet-v2``, one id per packaged size, and
    ``gainnet_rl/GainNet-mix-v2``, and the same ids of v1 (idempotent).

    v0 is no longer registered (v1 replaced its dynamics)."""
    entries = [(ENV_ID, {})] + [(i, {"scenario": s}) for s, i in SCENARIO_IDS.items()]
    entries += [(V1_ENV_ID, {"version": 1})]
    entries += [(i, {"scenario": s, "version": 1}) for s, i in V1_SCENARIO_IDS.items()]
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
    for env_id, kwargs in ((MIX_ID, {}), (V1_MIX_ID, {"version": 1})):
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point="gainnet_rl.envs.mixture:GainNetMixEnv",
                kwargs=kwargs,
                disable_env_checker=False,
            )
