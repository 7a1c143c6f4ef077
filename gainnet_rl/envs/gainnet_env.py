"""The scalar Gymnasium environment: a thin shell over a batch of one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from gainnet_rl.envs import core
from gainnet_rl.envs.engine import Engine, make_params
from gainnet_rl.envs.params import Params


def _scalar_info(info: Mapping[str, np.ndarray], i: int) -> dict[str, Any]:
    out = {}
    for k, v in info.items():
        x = v[i]
        out[k] = x.item() if isinstance(x, np.generic) else x
    return out


class GainNetEnv(gym.Env):
    """GaiRom-ISCC orchestration of a cloud-edge-end generative-AI network.

    ## Description
    One cloud, E edge servers (base stations with compute, memory and a
    bandwidth pool) and U end devices that issue generative-AI requests
    (text summarisation, image generation) and sense data. The agent is the
    orchestrator of GainNet (Chen et al., IEEE Network 2024). It makes the
    decisions of the "Z-shaped" two timescales one per step:

    - at every frame boundary (every K = 10 slots), a **plan** per edge, in
      edge order: which tier of each service's model the edge holds (changing
      it costs a load delay), its fine-tuning share of compute and its
      sensing share of bandwidth (the knowledge flow);
    - then, every slot (0.1 s), a **target** per newly arrived request, in
      arrival order: local, one of the edges, the cloud, or reject.

    When the slot's decisions are made, time advances one slot: devices move,
    channels fade, queues drain, sensed data flows, requests complete or are
    dropped at their deadline. The full model, with the source of every
    default, is in ``docs/model.md``.

    ## Action Space
    ``N = max(P, E_max + 3)`` where P is the plan-catalog size (64 by default)
    and E_max = ``max_edges`` (8). With ``action_mode="discrete"``,
    ``Discrete(N)``; with ``"continuous"``, ``Box(-1, 1, (N,))`` scores, the
    decision being the best-scored valid option. For a plan decision, action
    ``i < P`` is plan i (``env.unwrapped.params.plan_name(i)``). For a request
    decision: ``0`` local, ``1 + e`` edge e, ``E_max + 1`` cloud,
    ``E_max + 2`` reject. ``action_masks()`` gives the valid ones (for
    MaskablePPO): plans that fit the edge memory; for requests, the device if
    it holds a tier of the service, an edge in range (mean SNR above
    ``channel.min_snr_db``) holding a ready tier, the cloud unless the request
    is private, and reject (always). A forbidden action is executed as
    *reject* (requests) or *keep the current plan* (plans), counted in
    ``info["invalid"]`` and penalised by ``reward.w_invalid``. A wrong shape,
    NaN, or a value outside the space raises ``ValueError``.

    ## Observation Space
    ``observation="flat"``: ``Box(-10, 10, (D,), float32)`` with D = 188
    for the default scenarios (S = 2 services, E_max = 8), the concatenation of

    - global (8): is-plan, is-request, time in frame, time in episode, cloud
      wait / max deadline, cloud knowledge factor, load / 2,
      log(1 + undecided requests) / 3;
    - plan (E_max + S + 2): one-hot of the edge being planned, its current
      tiers, fine-tuning and sensing shares;
    - request (S + 7): service one-hot, log10 input and output bits / 7,
      deadline / max deadline, quality floor, private flag, local tier,
      device wait / max deadline;
    - edges (E_max x (11 + S)): real, up, being planned, compute and uplink
      waits / max deadline, knowledge factor, fine-tuning and sensing
      shares, SNR dB / 30 to the current device, associated with it, share
      of devices associated, ready tier per service;
    - options ((E_max + 3) x 5): per request option, valid, latency /
      deadline (at most 3), quality, meets deadline and floor, expected
      reward.

    Padded edges are zero. ``observation="graph"``: a ``Dict`` with ``nodes``
    (device, E_max edges, cloud) x features, ``node_mask``, ``edges``
    (request-to-node features, as the options block) and ``globals``.

    ## Rewards
    Credited to the step that advances a slot, for every request completed or
    dropped in that slot: ``w_q * quality * [met deadline and quality floor]
    - w_lat * latency - w_e * energy - w_c * cloud cost - w_drop * [dropped]``,
    plus ``- w_e *`` the slot's sensing and fine-tuning energy, and ``-
    w_invalid`` per forbidden action (on the step that took it). Other
    decision steps earn 0. Weights are in the scenario's ``reward`` block.

    ## Starting State
    Devices placed by the mobility model, channels drawn, every edge holding
    the default plan (loaded), empty queues, knowledge at its initial value;
    slot 0 is a frame boundary, so the first decisions are the edges' plans.

    ## Episode End
    Never terminated; truncated when slot T (``episode_slots``, 200 = 20 s)
    is reached. Requests still in flight then are counted as pending in
    ``info["episode_metrics"]``, given on the truncating step.

    ## Arguments
    ``gymnasium.make("gainnet_rl/GainNet-v0", scenario="small", load=None,
    action_mode="discrete", observation="flat", render_mode=None,
    overrides=None)``: ``scenario`` a packaged name (small, medium, large) or
    a config mapping; ``load`` overrides the scenario's arrival multiplier
    (>= 0); ``overrides`` a mapping of dotted config keys to values;
    ``render_mode`` ``"ansi"`` or ``"rgb_array"``. Per-scenario ids:
    ``gainnet_rl/GainNet-small-v0``, ``-medium-v0``, ``-large-v0``.

    ## Version History
    - v0: initial release.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 10}

    def __init__(
        self,
        scenario: str | Mapping[str, Any] = "small",
        load: float | None = None,
        action_mode: str = "discrete",
        observation: str = "flat",
        option_outcomes: bool = True,
        render_mode: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        params: Params | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is invalid: must be None or one of "
                f"{self.metadata['render_modes']}"
            )
        self.params = params if params is not None else make_params(scenario, load, overrides)
        self.engine = Engine(self.params, 1, action_mode, observation, option_outcomes)
        self.action_space = self.engine.action_space
        self.observation_space = self.engine.observation_space
        self.render_mode = render_mode

    @property
    def state(self) -> core.State:
        """The batched (B = 1) dynamic state, for heuristics and inspection."""
        assert self.engine.state is not None, "call reset() first"
        return self.engine.state

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self.engine.reset([seed])
        return self._obs(), self._info()

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self.engine.state is None:
            raise RuntimeError("call reset() before step()")
        if self.state.slot[0] >= self.params.episode_slots:
            raise RuntimeError("the episode is over (truncated): call reset()")
        reward, truncated, step_info = self.engine.step(np.asarray(action)[None])
        info = self._info()
        info.update(_scalar_info(step_info, 0))
        if truncated[0]:
            info["episode_metrics"] = _scalar_info(core.episode_metrics(self.state, self.params), 0)
        return self._obs(), float(reward[0]), False, bool(truncated[0]), info

    def action_masks(self) -> np.ndarray:
        """Valid actions of the current decision, (N,) bool (for MaskablePPO)."""
        return self.engine.action_masks()[0]

    def _obs(self) -> Any:
        obs = self.engine.observe()
        if isinstance(obs, dict):
            return {k: v[0] for k, v in obs.items()}
        return obs[0]

    def _info(self) -> dict[str, Any]:
        info = _scalar_info(self.engine.kpis(), 0)
        info["action_mask"] = self.engine.action_masks()[0]
        return info

    def render(self) -> Any:
        if self.render_mode is None:
            gym.logger.warn(
                "render() called without a render_mode; pass render_mode='ansi' "
                "or 'rgb_array' to gymnasium.make"
            )
            return None
        from gainnet_rl.envs import render

        if self.render_mode == "ansi":
            return render.ansi(self.state, self.params, 0)
        return render.rgb_array(self.state, self.params, 0)
