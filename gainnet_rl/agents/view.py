"""The one adapter through which a heuristic reads the simulator behind any env.

Heuristics decide from the simulator's state (queues, channels, each option's
exact outcome), not from the observation. :class:`SimulatorView` finds that
state behind whatever env a learned policy would be given:

- a GainNet env, scalar or vector, under any Gymnasium wrappers
  (``gym.make``, ``gym.make_vec(..., "vector_entry_point")``): read in place;
- the project's SB3 VecEnv (``GainNetSB3VecEnv``), under any SB3
  ``VecEnvWrapper`` (VecNormalize, VecMonitor): read in place;
- an SB3 ``DummyVecEnv`` / ``SubprocVecEnv`` (``make_vec_env(id)``) or a
  Gymnasium ``SyncVectorEnv`` / ``AsyncVectorEnv`` of GainNet envs: each
  sub-env's state fetched with ``get_attr("state")`` before every decision
  (pickled across processes for the subprocess ones) and stacked.

So ``HEURISTICS[name](env).predict(obs)`` works wherever ``model.predict``
does, e.g. under SB3's ``evaluate_policy``.
"""

from __future__ import annotations

from typing import Any

from gainnet_rl.envs import core
from gainnet_rl.envs.engine import Engine
from gainnet_rl.envs.gainnet_env import GainNetEnv


def _live_engine(env: Any) -> tuple[Engine, bool] | None:
    """The engine of the GainNet env inside ``env``'s wrappers (Gymnasium's ``.env``,
    SB3's ``.venv``) and whether that env is scalar; None when there is none in
    this process (a vector env of separate envs)."""
    for _ in range(64):
        engine = getattr(env, "engine", None)
        if isinstance(engine, Engine):
            return engine, isinstance(env, GainNetEnv)
        inner = getattr(env, "venv", None)
        env = inner if inner is not None else getattr(env, "env", None)
        if env is None:
            break
    return None


class SimulatorView:
    """The simulator behind ``env``, as an :class:`Engine` a heuristic reads.

    Attributes:
        engine: the live engine, or a read-only one loaded with the gathered
            sub-env states on :meth:`refresh`.
        scalar: True for a single (non-vector) env: actions are returned unbatched.
    """

    def __init__(self, env: Any) -> None:
        self._remote: Any = None
        live = _live_engine(env)
        if live is not None:
            self.engine, self.scalar = live
            return
        if not hasattr(env, "get_attr") or getattr(env, "num_envs", None) is None:
            raise TypeError(
                "heuristics need a GainNet env: a scalar or vector GainNet env (wrappers "
                "allowed), the SB3 adapter, or an SB3 / Gymnasium vector env of GainNet "
                f"envs; got {type(env)!r}"
            )
        try:
            engines = list(env.get_attr("engine"))
        except AttributeError as exc:
            raise TypeError(f"{type(env)!r} holds no GainNet envs (no engine attribute)") from exc
        first = engines[0]
        if not isinstance(first, Engine):
            raise TypeError(f"{type(env)!r} holds no GainNet envs (its sub-envs have no engine)")
        self._remote = env
        self.engine = Engine(first.params, len(engines), first.action_mode)
        self.scalar = False

    def refresh(self) -> None:
        """Gather the sub-envs' current states (vector envs of separate envs only)."""
        if self._remote is not None:
            self.engine.load_state(core.concat(list(self._remote.get_attr("state"))))
