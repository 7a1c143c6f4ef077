"""VecEnv wrappers used by the training CLI."""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnvWrapper


class TimeAwareTermination(VecEnvWrapper):
    """Treat the end of a GainNet episode as terminal for value targets.

    ``GainNetSB3VecEnv`` reports the end of an episode as a time-limit
    truncation (``infos[i]["TimeLimit.truncated"] = True``), so SB3
    bootstraps the value of the final observation. But the observation holds
    the time left in the episode, so the end is a true terminal of this
    time-aware MDP (Pardo et al., "Time Limits in Reinforcement Learning",
    ICML 2018), and the final observation (decision type "none") never occurs
    as a training state: its value is never fitted. Off-policy critics that
    bootstrap from it drift, and the error spreads backwards until the
    Q-values diverge (seen with SAC here). This wrapper drops the flag, so
    ``done`` ends the return.
    """

    def reset(self) -> Any:
        return self.venv.reset()

    def step_wait(self) -> tuple[Any, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, rewards, dones, infos = self.venv.step_wait()
        for info in infos:
            info.pop("TimeLimit.truncated", None)
        return obs, rewards, dones, infos
