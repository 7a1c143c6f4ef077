"""The GainNet environment: batched dynamics (``core``), pluggable models
(``models``), and the scalar and vector Gymnasium shells."""

from gainnet_rl.envs.gainnet_env import GainNetEnv
from gainnet_rl.envs.vector_env import GainNetVectorEnv

__all__ = ["GainNetEnv", "GainNetVectorEnv"]
