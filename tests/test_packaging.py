"""Packaging: the environment works without the training extra (no torch)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

#: modules of the ``train`` and ``plots`` extras, none of which the env may import
TRAIN_ONLY = ("torch", "stable_baselines3", "sb3_contrib", "tensorboard", "matplotlib")

SCRIPT = textwrap.dedent(
    f"""
    import importlib.abc, sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {TRAIN_ONLY!r}:
                raise ImportError(f"{{name}} is blocked: not installed in this test")
            return None

    sys.meta_path.insert(0, Block())
    import gymnasium as gym
    import numpy as np
    import gainnet_rl
    from gainnet_rl.agents.baselines import HEURISTICS

    env = gym.make("gainnet_rl/GainNet-v2")
    obs, info = env.reset(seed=0)
    rng = np.random.default_rng(0)
    total = 0.0
    for _ in range(200):
        mask = info["action_mask"]
        obs, r, term, trunc, info = env.step(int(rng.choice(np.flatnonzero(mask))))
        total += r
        if term or trunc:
            obs, info = env.reset()
    policy = HEURISTICS["greedy_utility"](env.unwrapped, seed=0)
    action, _ = policy.predict(obs)
    env.step(action)
    blocked = [m for m in {TRAIN_ONLY!r} if m in sys.modules]
    assert not blocked, blocked
    print("ok", round(total, 3))
    """
)


def test_env_steps_without_torch() -> None:
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.startswith("ok ")
