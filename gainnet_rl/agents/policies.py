"""Option-scoring policies: one shared scorer per request option, a plan head.

GaiRom-ISCC matches requests to (node, model) resources on a graph
(SYSTEM_MODEL section 8). A plain MLP over the flat observation has to learn
the same comparison (latency, quality, expected reward of each option) once
per output unit; here one small network scores every request option from its
own features (the observation's ``options`` block and, for an edge, its row
of the ``edges`` block) plus a summary of the whole observation, so what it
learns about one edge holds for every edge, and for networks of other sizes.

- Request decisions: logit of option o = ``scorer([context, option o
  features, node o features, node type])``; actions past the options get a
  large negative logit (they are masked anyway with MaskablePPO).
- Plan decisions: a linear head over the context gives one logit per plan of
  the catalog.
- Value (PPO) / Q (SAC): an MLP over the flat observation (SAC: plus the
  action), as usual.

The observation layout (``FlatLayout``) is derived from the scenario's
``Params`` by :func:`flat_layout`; the training CLI passes it in
``policy_kwargs["layout"]`` automatically.

Classes: :class:`OptionScoringPolicy` (PPO), :class:`MaskableOptionScoringPolicy`
(MaskablePPO); :class:`gainnet_rl.agents.sac_policies.OptionScoringSACPolicy`
(SAC on the continuous action mode, whose actor emits one score per action
through the same scorer).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

from gainnet_rl.envs import observation as obs_mod
from gainnet_rl.envs.params import Params

#: Node types of the request options: local device, edge, cloud, reject.
NODE_TYPES = 4
#: Logit given to actions that are not options of a request decision.
INVALID_LOGIT = -30.0
#: SAC actor: bound of the pre-squash mean scores, and of their log-std.
MEAN_BOUND = 2.0
LOG_STD_BOUNDS = (-4.0, 1.0)


@dataclass(frozen=True)
class FlatLayout:
    """Where each block sits in the flat observation, as the env describes it
    (:func:`gainnet_rl.envs.observation.layout`; see ``GainNetEnv``).

    Attributes:
        max_edges: E_max, edges padded to this.
        num_services: S.
        num_plans: P, plan-catalog size.
        num_actions: N = max(P, E_max + 3).
        obs_dim: length of the flat observation.
        options_offset: start of the per-option block, ``option_features`` per option.
        option_features: features per request option (1 with ``option_outcomes=False``).
        reward_feature: index of the expected reward among them, -1 if absent.
        edges_offset: start of the per-edge block, ``edge_features`` per edge.
        edge_features: features per edge.
        plan_valid: (P,) plans that fit an edge's memory (empty: all).
        plan_features: (P, F) description of each plan of the catalog: one-hot
            tier (none, small, medium, large) per service, fine-tuning share,
            sensing share, memory / edge memory. Empty: plans are scored by a
            linear head instead of the shared plan scorer.
        plan_offset: start of the plan block, whose first E_max entries are
            the one-hot of the edge being planned (-1: not given).
    """

    max_edges: int
    num_services: int
    num_plans: int
    num_actions: int
    obs_dim: int
    options_offset: int
    option_features: int
    reward_feature: int
    edges_offset: int
    edge_features: int
    plan_valid: tuple[bool, ...] = ()
    plan_features: tuple[tuple[float, ...], ...] = ()
    plan_offset: int = -1

    @property
    def num_options(self) -> int:
        return self.max_edges + 3


def flat_layout(p: Params, option_outcomes: bool = True) -> dict[str, Any]:
    """The flat-observation layout of a scenario, as a plain dict (for policy_kwargs)."""
    lay = obs_mod.layout(p, option_outcomes)
    tiers = np.eye(4)[p.plan_tiers + 1].reshape(p.num_plans, -1)  # (P, S * 4)
    feats = np.concatenate(
        [
            tiers,
            p.plan_finetune[:, None],
            p.plan_sensing[:, None],
            (p.plan_memory_gb / p.edge_memory_gb)[:, None],
        ],
        axis=1,
    )
    opt = lay.option_features
    return asdict(
        FlatLayout(
            max_edges=p.max_edges,
            num_services=p.num_services,
            num_plans=p.num_plans,
            num_actions=p.num_actions,
            obs_dim=lay.size,
            options_offset=lay.offsets["options"][0],
            option_features=len(opt),
            reward_feature=opt.index("reward") if "reward" in opt else -1,
            edges_offset=lay.offsets["edges"][0],
            edge_features=len(lay.edge_features),
            plan_valid=tuple(bool(v) for v in p.plan_allowed),
            plan_features=tuple(tuple(float(x) for x in row) for row in feats),
            plan_offset=lay.offsets["plan"][0],
        )
    )


def mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), activation()]
    return nn.Sequential(*layers)


class OptionScorer(nn.Module):
    """Maps flat observations (B, D) to one logit/score per action (B, N).

    Args:
        layout: the observation layout.
        hidden: sizes of the context MLP over the whole observation.
        scorer_hidden: sizes of the shared per-option scorer.
        activation: activation module class.
    """

    def __init__(
        self,
        layout: FlatLayout,
        hidden: list[int],
        scorer_hidden: list[int],
        activation: type[nn.Module] = nn.Tanh,
        fill: float = INVALID_LOGIT,
        reward_skip: bool = False,
        bound: float | None = None,
        dueling: bool = False,
        reward_prior: float = 0.0,
        plan_prior: list[int] | None = None,
        plan_prior_logit: float = 0.0,
    ) -> None:
        super().__init__()
        self.layout = layout
        L = layout
        # fixed prior logits added to the learned ones (residual policy, see
        # :func:`prior_kwargs`): reward_prior x each option's expected reward,
        # plan_prior_logit on the plan plan_prior[e] of the edge being planned
        self.reward_prior = float(reward_prior)
        if self.reward_prior and L.reward_feature < 0:
            raise ValueError("reward_prior needs option_outcomes=true (the reward feature)")
        table = th.zeros(L.max_edges, L.num_actions)
        if plan_prior is not None and plan_prior_logit:
            if L.plan_offset < 0:
                raise ValueError("plan_prior needs a layout with plan_offset (rebuild it)")
            for e, k in enumerate(plan_prior):
                if not 0 <= int(k) < L.num_plans:
                    raise ValueError(f"plan_prior[{e}]={k}: must be a plan in [0, {L.num_plans})")
                table[e, int(k)] = float(plan_prior_logit)
        self.register_buffer("plan_prior", table, persistent=False)
        self.use_plan_prior = bool(plan_prior is not None and plan_prior_logit)
        self.fill = float(fill)
        # optional soft bound on the learned scores: bound * tanh(score / bound)
        self.bound = float(bound) if bound else None
        # optional learnable linear path from each option's expected-reward
        # feature to its score (the critic's prior: value ~ immediate reward)
        self.reward_skip = (
            nn.Parameter(th.ones(1)) if reward_skip and layout.reward_feature >= 0 else None
        )
        self.context = mlp([L.obs_dim, *hidden], activation)
        ctx = hidden[-1] if hidden else L.obs_dim
        width = scorer_hidden[0] if scorer_hidden else 64
        if L.plan_features:
            # plans scored like options: one shared network over each plan's features
            pf = th.tensor(L.plan_features, dtype=th.float32)
            self.register_buffer("plan_feats", pf, persistent=False)
            self.plan_ctx = nn.Linear(ctx, width)
            self.plan_in = nn.Linear(pf.shape[1], width, bias=False)
            self.plan_head = nn.Sequential(
                activation(),
                mlp([width, *scorer_hidden[1:]], activation),
                nn.Linear(scorer_hidden[-1] if scorer_hidden else width, 1),
            )
        else:
            self.plan_head = nn.Linear(ctx, L.num_plans)
        # first scorer layer on [context, option features], split so the
        # context part is computed once per observation, not once per option
        self.scorer_ctx = nn.Linear(ctx, width)
        self.scorer_opt = nn.Linear(
            L.option_features + L.edge_features + NODE_TYPES, width, bias=False
        )
        self.scorer = nn.Sequential(
            activation(),
            mlp([width, *scorer_hidden[1:]], activation),
            nn.Linear(scorer_hidden[-1] if scorer_hidden else width, 1),
        )
        O, Em = L.num_options, L.max_edges
        node_type = th.zeros(O, NODE_TYPES)
        node_type[0, 0] = 1.0
        node_type[1 : 1 + Em, 1] = 1.0
        node_type[O - 2, 2] = 1.0
        node_type[O - 1, 3] = 1.0
        self.register_buffer("node_type", node_type, persistent=False)
        # dueling: a state value shared by every action, plus the (bounded) scores
        self.state_value = nn.Linear(ctx, 1) if dueling else None

    def output_layers(self) -> list[nn.Linear]:
        """The last linear layers (initialised small, as SB3 does for ``action_net``)."""
        head = self.plan_head[-1] if isinstance(self.plan_head, nn.Sequential) else self.plan_head
        return [head, self.scorer[-1]]

    def _bounded(self, x: th.Tensor) -> th.Tensor:
        return x if self.bound is None else self.bound * th.tanh(x / self.bound)

    def forward(self, obs: th.Tensor) -> th.Tensor:
        L = self.layout
        B, O, Em, N = obs.shape[0], L.num_options, L.max_edges, L.num_actions
        h = self.context(obs)
        is_plan = obs[:, 0:1] > 0.5
        # plan decisions
        plan = h.new_full((B, N), self.fill)
        if L.plan_features:
            zp = self.plan_in(self.plan_feats)[None, :, :] + self.plan_ctx(h)[:, None, :]
            plan[:, : L.num_plans] = self._bounded(self.plan_head(zp).squeeze(-1))
        else:
            plan[:, : L.num_plans] = self._bounded(self.plan_head(h))
        # request decisions: score every option with the shared scorer
        o0, F = L.options_offset, L.option_features
        opt = obs[:, o0 : o0 + O * F].reshape(B, O, F)
        e0 = L.edges_offset
        edges = obs[:, e0 : e0 + Em * L.edge_features].reshape(B, Em, L.edge_features)
        node = obs.new_zeros(B, O, L.edge_features)
        node[:, 1 : 1 + Em] = edges
        x = th.cat([opt, node, self.node_type.expand(B, O, -1)], dim=-1)
        z = self.scorer_opt(x) + self.scorer_ctx(h)[:, None, :]
        req = h.new_full((B, N), self.fill)
        req[:, :O] = self._bounded(self.scorer(z).squeeze(-1))
        if self.reward_skip is not None:
            req[:, :O] = req[:, :O] + self.reward_skip * opt[:, :, L.reward_feature]
        if self.reward_prior:
            req[:, :O] = req[:, :O] + self.reward_prior * opt[:, :, L.reward_feature]
        if self.use_plan_prior:
            p0 = L.plan_offset
            plan = plan + obs[:, p0 : p0 + Em] @ self.plan_prior
        out = th.where(is_plan, plan, req)
        if self.state_value is not None:
            out = out + self.state_value(h)
        return out


class OptionActorCritic(nn.Module):
    """SB3 ``mlp_extractor`` stand-in: the actor latent *is* the action logits.

    ``latent_dim_pi = N`` (the policy replaces ``action_net`` by identity);
    the critic latent is an ordinary MLP over the observation.
    """

    def __init__(
        self,
        layout: FlatLayout,
        pi: list[int],
        scorer: list[int],
        vf: list[int],
        activation: type[nn.Module],
        prior: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.actor = OptionScorer(layout, pi, scorer, activation, **(prior or {}))
        self.critic = mlp([layout.obs_dim, *vf], activation)
        self.latent_dim_pi = layout.num_actions
        self.latent_dim_vf = vf[-1] if vf else layout.obs_dim

    def forward(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: th.Tensor) -> th.Tensor:
        return self.actor(features)

    def forward_critic(self, features: th.Tensor) -> th.Tensor:
        return self.critic(features)


def arch(net_arch: Any) -> dict[str, list[int]]:
    """net_arch as {"pi", "scorer", "vf"}; a list means the same sizes for pi and vf."""
    if net_arch is None:
        net_arch = [256, 256]
    if isinstance(net_arch, (list, tuple)):
        return {"pi": list(net_arch), "scorer": [64], "vf": list(net_arch)}
    arch = dict(net_arch)
    return {
        "pi": list(arch.get("pi", [256, 256])),
        "scorer": list(arch.get("scorer", [64])),
        "vf": list(arch.get("vf", [256, 256])),
    }


class _OptionScoringMixin:
    """Shared construction for the PPO and MaskablePPO option-scoring policies.

    Extra keyword argument ``layout`` (dict of :class:`FlatLayout` fields).
    ``net_arch`` may be a list (pi and vf sizes) or ``{"pi", "scorer", "vf"}``.
    """

    layout: FlatLayout

    def __init__(  # type: ignore[no-untyped-def]
        self,
        observation_space,
        action_space,
        lr_schedule,
        *,
        layout,
        reward_prior=0.0,
        plan_prior=None,
        plan_prior_logit=0.0,
        **kwargs,
    ):
        check_box(observation_space)
        self.layout = FlatLayout(**layout)
        self.prior = prior_kwargs(reward_prior, plan_prior, plan_prior_logit)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _build_mlp_extractor(self) -> None:
        sizes = arch(self.net_arch)  # type: ignore[attr-defined]
        if self.features_dim != self.layout.obs_dim:  # type: ignore[attr-defined]
            raise ValueError(
                f"observation has {self.features_dim} features, layout expects "  # type: ignore[attr-defined]
                f"{self.layout.obs_dim}: option-scoring policies need observation=flat"
            )
        self.mlp_extractor = OptionActorCritic(
            self.layout,
            sizes["pi"],
            sizes["scorer"],
            sizes["vf"],
            self.activation_fn,  # type: ignore[attr-defined]
            self.prior,
        )

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)  # type: ignore[misc]
        self.action_net = nn.Identity()
        if self.ortho_init:  # type: ignore[attr-defined]
            for layer in self.mlp_extractor.actor.output_layers():
                nn.init.orthogonal_(layer.weight, gain=0.01)
                nn.init.zeros_(layer.bias)
        self.optimizer = self.optimizer_class(  # type: ignore[attr-defined]
            self.parameters(),  # type: ignore[attr-defined]
            lr=lr_schedule(1),
            **self.optimizer_kwargs,  # type: ignore[attr-defined]
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()  # type: ignore[misc]
        data["layout"] = asdict(self.layout)
        data.update(self.prior)
        return data


def prior_kwargs(
    reward_prior: float = 0.0, plan_prior: Any = None, plan_prior_logit: float = 0.0
) -> dict[str, Any]:
    """The residual prior of the option-scoring actor, checked.

    Args:
        reward_prior: logit added per unit of each request option's expected
            reward (the observation's ``reward`` option feature); at 0 the
            actor starts uniform, large values start it at greedy routing.
        plan_prior: plan index per edge (as many as ``max_edges``), e.g. the
            fixed plans of ``greedy_best_plan`` (the trainer fills them in when
            ``plan_prior: greedy_best_plan``); null: none.
        plan_prior_logit: logit added to the prior plan of the edge being planned.
    """
    if not (isinstance(reward_prior, (int, float)) and reward_prior >= 0):
        raise ValueError(f"reward_prior={reward_prior!r} is invalid: must be a number >= 0")
    if not (isinstance(plan_prior_logit, (int, float)) and plan_prior_logit >= 0):
        raise ValueError(f"plan_prior_logit={plan_prior_logit!r} is invalid: must be a number >= 0")
    plans = None if plan_prior is None else [int(k) for k in plan_prior]
    return {
        "reward_prior": float(reward_prior),
        "plan_prior": plans,
        "plan_prior_logit": float(plan_prior_logit),
    }


def check_box(observation_space: spaces.Space) -> None:
    if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
        raise ValueError(
            f"option-scoring policies need the flat (Box) observation, got {observation_space}"
        )


class OptionScoringPolicy(_OptionScoringMixin, ActorCriticPolicy):
    """PPO actor-critic with the option scorer (see the module docstring)."""


class MaskableOptionScoringPolicy(_OptionScoringMixin, MaskableActorCriticPolicy):
    """MaskablePPO actor-critic with the option scorer (see the module docstring)."""
