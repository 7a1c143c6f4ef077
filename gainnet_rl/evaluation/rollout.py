"""The one rollout loop, for heuristics and learned agents alike.

:func:`evaluate` runs one episode per seed on the batched vector env (sub-env
i seeded with ``seeds[i]``, so each episode is exactly what a scalar env
reset with that seed would play) and returns each episode's KPIs;
:func:`trace` returns per-frame series of the same episodes.
:func:`gainnet_rl.evaluation.tables.summarize` turns KPIs into means and 95%
confidence intervals.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from gainnet_rl.envs import core
from gainnet_rl.envs.params import Params
from gainnet_rl.envs.vector_env import GainNetVectorEnv

PolicyFactory = Callable[[GainNetVectorEnv], Any]


def evaluate(
    make_policy: PolicyFactory,
    params: Params,
    seeds: Sequence[int],
    action_mode: str = "discrete",
    observation: str = "flat",
    deterministic: bool = True,
    option_outcomes: bool = True,
) -> dict[str, np.ndarray]:
    """Play one episode per seed and return each episode's KPIs.

    Args:
        make_policy: called with the vector env, returns an object with an
            SB3-style ``predict(obs, state, episode_start, deterministic)``
            (a heuristic class, or ``lambda env: model`` for an SB3 model).
            If ``predict`` accepts ``action_masks``, the masks are passed.
        params: scenario parameters (see :func:`gainnet_rl.envs.engine.make_params`).
        seeds: one episode per seed.
        action_mode, observation, option_outcomes: the env encodings the
            policy expects (see ``GainNetEnv``).

    Returns:
        dict of metric name -> (len(seeds),) array (see
        :func:`gainnet_rl.envs.core.episode_metrics`).
    """
    return play(
        make_policy, params, seeds, action_mode, observation, deterministic, option_outcomes
    )


#: ``on_step(env, slot_before, rewards, truncated, infos, live)`` of :func:`play`.
StepHook = Callable[
    [GainNetVectorEnv, np.ndarray, np.ndarray, np.ndarray, dict[str, Any], np.ndarray], None
]


def play(
    make_policy: PolicyFactory,
    params: Params,
    seeds: Sequence[int],
    action_mode: str,
    observation: str,
    deterministic: bool,
    option_outcomes: bool = True,
    on_step: StepHook | None = None,
    on_reset: Callable[[GainNetVectorEnv], None] | None = None,
) -> dict[str, np.ndarray]:
    """The one episode loop of :func:`evaluate` and :func:`trace`: one episode
    per seed on the batched env; ``on_reset`` sees the env after the reset,
    ``on_step`` every step (with the slots the sub-envs were in before it and
    which sub-envs were still in their episode). Returns the episode KPIs."""
    if len(seeds) == 0:
        raise ValueError("seeds is empty: evaluate at least one episode")
    env = GainNetVectorEnv(
        len(seeds),
        autoreset_mode=AutoresetMode.SAME_STEP,
        params=params,
        action_mode=action_mode,
        observation=observation,
        option_outcomes=option_outcomes,
    )
    policy = make_policy(env)
    takes_masks = "action_masks" in inspect.signature(policy.predict).parameters
    obs, _ = env.reset(seed=[int(s) for s in seeds])
    if on_reset is not None:
        on_reset(env)
    n = env.num_envs
    done = np.zeros(n, dtype=bool)
    results: dict[str, np.ndarray] = {}
    episode_start = np.ones(n, dtype=bool)
    state = None
    while not done.all():
        kwargs: dict[str, Any] = {
            "state": state,
            "episode_start": episode_start,
            "deterministic": deterministic,
        }
        if takes_masks:
            kwargs["action_masks"] = env.action_masks()
        actions, state = policy.predict(obs, **kwargs)
        slot = env.engine.state.slot.copy()
        obs, rewards, _, truncated, infos = env.step(actions)
        if on_step is not None:
            on_step(env, slot, rewards, truncated, infos, ~done)
        episode_start = truncated
        newly = truncated & ~done
        if newly.any():
            metrics = infos["final_info"]["episode_metrics"]
            for k, v in metrics.items():
                results.setdefault(k, np.zeros(n))[newly] = v[newly]
            done |= newly
    env.close()
    return results


#: Per-frame series returned by :func:`trace`, each (len(seeds), frames).
TRACE_FIELDS = ("reward", "served", "dropped", "met", "quality", "arrived")


def trace(
    make_policy: PolicyFactory,
    params: Params,
    seeds: Sequence[int],
    action_mode: str = "discrete",
    observation: str = "flat",
    deterministic: bool = True,
    option_outcomes: bool = True,
) -> dict[str, np.ndarray]:
    """Play one episode per seed like :func:`evaluate` and return per-frame series.

    Same batched env, episodes and ``predict`` calling convention as
    :func:`evaluate`. A step advances time at most to the next frame boundary
    (where plan decisions stop it), so everything a step produced happened in
    the frame of the slot it started in: the per-frame sums are exact.

    Args:
        make_policy, params, seeds, action_mode, observation, deterministic,
        option_outcomes: as for :func:`evaluate`.

    Returns:
        ``reward`` (reward units), ``served``, ``dropped``, ``met`` (request
        counts), ``quality`` (sum of the quality of the requests served) and
        ``arrived`` (requests drawn), each (len(seeds), frames) with frame j
        the slots ``[j K, (j + 1) K)`` (K = ``params.frame_slots``, each slot
        ``params.slot_s`` s); and ``pending`` (len(seeds),): requests still in
        flight at the end. Per episode ``arrived.sum() == served.sum() +
        dropped.sum() + pending``, and the sums equal :func:`evaluate`'s.
    """
    K = params.frame_slots
    n, frames = len(seeds), -(-params.episode_slots // K)
    keys = ("served", "dropped", "met", "quality")
    series = np.zeros((len(TRACE_FIELDS), n, frames))  # TRACE_FIELDS order
    col = core.EP_FIELDS.index("arrived")
    drawn = np.zeros(n)  # requests drawn so far, per sub-env

    def on_reset(env: GainNetVectorEnv) -> None:
        drawn[:] = env.engine.state.ep_totals[:, col]
        series[-1, :, 0] = drawn  # drawn in slot 0

    def on_step(
        env: GainNetVectorEnv,
        slot: np.ndarray,
        rewards: np.ndarray,
        truncated: np.ndarray,
        infos: dict[str, Any],
        live: np.ndarray,
    ) -> None:
        rows = np.flatnonzero(live)
        got = np.stack([rewards, *(infos[k] for k in keys)])  # (5, n)
        series[:-1, rows, slot[rows] // K] += got[:, rows]
        # requests are drawn in the slot a step stops in; an ended episode
        # draws none (its state is already the next episode's: autoreset)
        s = env.engine.state
        go = rows[~truncated[rows]]
        series[-1, go, s.slot[go] // K] += s.ep_totals[go, col] - drawn[go]
        drawn[go] = s.ep_totals[go, col]

    ep = play(
        make_policy,
        params,
        seeds,
        action_mode,
        observation,
        deterministic,
        option_outcomes,
        on_step,
        on_reset,
    )
    out = dict(zip(TRACE_FIELDS, series, strict=True))
    out["pending"] = ep["pending"]
    return out
