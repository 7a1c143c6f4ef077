"""The GainNet environment: batched dynamics (``core``), pluggable models
(``models``), and the scalar and vector Gymnasium shells."""

from gainnet_rl.envs._malloc import tune_malloc
from gainnet_rl.envs.gainnet_env import GainNetEnv
from gainnet_rl.envs.vector_env import GainNetVectorEnv

tune_malloc()

__all__ = ["GainNetEnv", "GainNetVectorEnv"]
