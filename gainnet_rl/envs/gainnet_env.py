"""The scalar Gymnasium environment: a thin shell over a batch of one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from gainnet_rl.envs import core
from gainnet_rl.envs.config import make_params
from gainnet_rl.envs.engine import Engine, obs_row
from gainnet_rl.envs.params import Params
from gainnet_rl.envs.render import render_fps


def _scalar_info(info: Mapping[str, np.ndarray], i: int) -> dict[str, Any]:
    out = {}
    for k, v in info.items():
        x = v[i]
        out[k] = x.item() if isinstance(x, np.generic) else x
    return out


class GainNetEnv(gym.Env):
    """GaiRom-ISCC orchestration of a cloud-edge-end generative-AI network.

    ## Description
    One cloud, E edge servers (base stations with an uplink and a downlink
    carrier, a backhaul, an edge accelerator with memory) and U end devices
    that issue generative-AI requests (document summarisation, photo
    question answering, image generation by default) and sense data. The
    agent is the orchestrator of GainNet (Chen et al., IEEE Network 2024). It
    makes the decisions of the "Z-shaped" two timescales one per step:

    - at every frame boundary (every K = 10 slots), a **plan** per edge, in
      edge order: which tier of each service's model the edge holds (changing
      it costs a load delay), its fine-tuning share of compute and its
      sensing share of the uplink (the knowledge flow);
    - then, every slot (0.1 s), a **target** per newly arrived request, in
      arrival order: its device, one of the edges, the cloud, or reject.

    A request's path is fixed when it is decided: its upload takes the
    earliest free uplink sub-band (truncated-Shannon rate of its channel),
    its compute the earliest stream of the edge with room for its KV cache
    (per-stream speed falls with the batch), or the cloud through the
    device's edge and backhaul; its result comes back over a downlink
    sub-band. It is aborted at its deadline if it cannot meet it. The full
    model, with the source of every default, is in ``docs/model.md``.

    ## Action Space
    ``N = max(P, E_max + 3)`` where P is the plan-catalog size (144 for the
    default scenarios) and E_max = ``max_edges`` (8). With
    ``action_mode="discrete"``, ``Discrete(N)``; with ``"continuous"``,
    ``Box(-1, 1, (N,))`` scores, the decision being the best-scored valid
    option. For a plan decision, action ``i < P`` is plan i
    (``env.unwrapped.params.plan_name(i)``). For a request decision: ``0``
    local, ``1 + e`` edge e, ``E_max + 1`` cloud, ``E_max + 2`` reject.
    ``action_masks()`` gives the valid ones (for MaskablePPO): plans whose
    weights, fine-tuning memory and streams fit the edge's memory; for
    requests, the device if it holds a tier of the service, an edge that is
    up, in range (mean sub-band SINR above the link's minimum) and not in a
    deep fade this slot, holds a loaded tier of the service and has memory
    for the request's KV cache, the cloud unless the request is private or
    the device's edge is unreachable, and reject (always). A forbidden
    action is executed as *reject* (requests) or *keep the current plan*
    (plans), counted in
    ``info["invalid"]`` and penalised by ``reward.w_invalid``. A wrong
    shape, NaN, or a value outside the space raises ``ValueError``.

    ## Observation Space
    ``observation="flat"``: ``Box(-10, 10, (D,), float32)`` with D = 312
    for the default scenarios (S = 3 services, E_max = 8, H = 3 demand
    horizons; 268 with ``option_outcomes=False``; on v1, H = 0: 240 and
    196), the concatenation of
    (``gainnet_rl.envs.observation.layout`` gives the offsets):

    - global (8): is-plan, is-request, time in frame, time in episode, cloud
      wait / max deadline, cloud knowledge factor, load / 2,
      log(1 + undecided requests) / 3;
    - plan (E_max + S + 2): one-hot of the edge being planned, its current
      tiers, fine-tuning and sensing shares;
    - request (S + 9): service one-hot, log sizes of the upload, download,
      prefill and generated tokens, deadline / max deadline, quality floor,
      private flag, local tier, device wait / max deadline;
    - edges (E_max x (16 + S + S H)): real, up, being planned, compute wait,
      busy streams, KV memory used, uplink, downlink and backhaul waits,
      knowledge factor, fine-tuning and sensing shares, SINR to the current
      device, in range, associated, share of devices associated, ready tier
      per service; then the **demand history** (SYSTEM_MODEL sec. 13.3):
      per service and horizon h in ``demand_horizons_s`` (1, 5 and 30 s),
      the requests per second of that service from the devices the edge
      serves, exponentially weighted with time constant h, over the edge's
      mean at load 1 (so 1 x ``load`` on average; it starts at that mean).
      The demand's hidden state (each client's ON/OFF state and burst
      height, the episode's rate factors) is not observed;
    - options ((E_max + 3) x 5): per request option, valid, latency /
      deadline (at most 3), quality, meets deadline and floor, reward. With
      ``option_outcomes=False``, only valid (section 12.7): with outcomes
      on, routing one request alone is a lookup, and what is left to learn
      is the plans and the congestion each decision causes later requests.

    Padded edges are zero. ``observation="graph"``: a ``Dict`` with ``nodes``
    (device, E_max edges, cloud) x features, ``node_mask``, ``edges``
    (request-to-node features, as the options block) and ``globals``.

    ## Rewards
    Every request is paid once, on the step that decides it, for its whole
    outcome (it is fixed then): ``w_q * quality * [met] - w_lat * latency *
    [served] - w_e * energy - w_c * cloud cost - w_drop * [dropped] -
    w_miss * [served below its quality floor]``, where a dropped request
    (rejected, or aborted at its deadline) pays the energy and cost it used
    until then, and ``w_miss`` defaults to ``w_drop`` (so a below-floor
    serve costs more than a reject). Steps that advance time also pay ``-
    w_e *`` the slots' sensing and fine-tuning energy, and ``- w_drop`` per
    overflowed arrival; a scheduled event that changes decided requests'
    outcomes credits the difference in its slot. ``- w_invalid`` per
    forbidden action. Weights (``reward`` block) are balanced on the
    weight-free ``nearest_edge`` baseline (``gainnet-reward-terms``).
    ``info["dt_s"]`` is the simulated time a step advanced: agents that
    support it may discount by ``gamma ** dt_s`` (an SMDP).

    ## Starting State
    Devices placed by the mobility model, channels drawn, every edge holding
    the default plan (loaded), all servers idle, knowledge at its initial
    value; slot 0 is a frame boundary, so the first decisions are the
    edges' plans.

    ## Episode End
    Never terminated; truncated when slot T (``episode_slots``, 600 = 60 s
    on v2, 200 = 20 s on v1) is reached. Requests still in flight then were already paid; they are
    counted as pending in ``info["episode_metrics"]``, given on the
    truncating step. Training should bootstrap through the truncation.

    ## Arguments
    ``gymnasium.make("gainnet_rl/GainNet-v2", scenario="small", load=None,
    action_mode="discrete", observation="flat", option_outcomes=True,
    render_mode=None, overrides=None, mask_key=None, obs_key="observation",
    version=None)``:
    ``scenario`` a packaged name
    (small, medium, large, medical, vehicular) or a config mapping;
    ``load`` the offered load relative to the edges' capacity (>= 0; 1 =
    ``offered_load_at_load1`` = 0.8 of it, the same at every size);
    ``overrides`` a mapping of dotted config keys to values; ``render_mode``
    ``"ansi"`` or ``"rgb_array"``; ``mask_key`` puts the action mask into the
    observation (a ``Dict`` of ``obs_key`` and ``mask_key``; TorchRL's
    ActionMask: ``mask_key="action_mask"``, Tianshou: ``mask_key="mask",
    obs_key="obs"``). Agents that ignore the mask: wrap the env in
    :class:`gainnet_rl.envs.wrappers.ValidActions`. Per-scenario ids:
    ``gainnet_rl/GainNet-small-v2``, ``-medium-v2``, ``-large-v2``. The
    ``-v1`` ids (and ``version=1``) give the same scenarios with v1's
    demand.

    ## Version History
    - v2: demand shaped like measured GAI traffic (SYSTEM_MODEL sec. 13):
      each service is human-driven (Poisson within an episode, its rate
      drawn per episode) or machine-driven (ON/OFF bursts per edge and
      service, batch arrivals), ``arrivals: gai_traffic``; 60 s episodes;
      the demand history per edge and service in the observation;
      ``adaptive_plan``. The dynamics are otherwise v1's; v1 stays
      registered (``GainNet-v1``, ``-small-v1``, ..., ``-mix-v1``) and
      reproduces v1's trajectories bit for bit (Poisson arrivals, 20 s
      episodes, no demand history). The demand of a slot's first requests
      now sees the devices' association at slot 0 (drawn before them; the
      draws are unchanged).
    - v1 (git 62b610c): association re-evaluated every
      ``channel.measurement_period_s`` (200 ms) instead of every slot, and
      links drawn lazily with exact jump-ahead (the channel's law unchanged,
      its realisation different): numbers measured before that commit are
      not comparable; every published one was regenerated.
    - v1 (later, same dynamics): ``mask_key``/``obs_key``; ``render_fps`` set so a
      recording plays in simulated time; the vector env's NEXT_STEP autoreset.
    - v1: every pool binds and every outcome is paid once (SYSTEM_MODEL
      sec. 12). Truncated-Shannon link rates on FIFO uplink and downlink
      sub-bands, realistic payloads (photos, X-rays, camera frames up,
      pictures down), the cloud only through an edge in range; sensing at
      named rates on a reserved uplink slice, fine-tuning throughput from the
      edge's FLOPs; batched edge streams with KV-cache admission, model rows
      from one benchmark table; a finite, per-token priced cloud; ``load``
      as offered load relative to edge capacity with the per-device rate
      derived, 10 devices per cell at every size; each request's whole reward
      at its decision, aborts at the deadline, ``w_miss``; balanced weights;
      ``option_outcomes``; ``greedy_best_plan``; ``info["dt_s"]``. Results of
      v0 are not comparable.
    - v0: initial release (removed).
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
        version: int | None = None,
        params: Params | None = None,
        mask_key: str | None = None,
        obs_key: str = "observation",
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is invalid: must be None or one of "
                f"{self.metadata['render_modes']}"
            )
        self.params = (
            params if params is not None else make_params(scenario, load, overrides, version)
        )
        self.engine = Engine(
            self.params, 1, action_mode, observation, option_outcomes, mask_key, obs_key
        )
        self.action_space = self.engine.action_space
        self.observation_space = self.engine.observation_space
        self.render_mode = render_mode
        # a recording (RecordVideo: one frame per decision) plays in simulated time
        self.metadata = {**self.metadata, "render_fps": render_fps(self.params)}

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
        return obs_row(self.engine.observe(), 0)

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
