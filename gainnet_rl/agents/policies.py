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
(MaskablePPO), :class:`OptionScoringSACPolicy` (SAC on the continuous action
mode, whose actor emits one score per action through the same scorer).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.policies import ActorCriticPolicy, ContinuousCritic
from stable_baselines3.sac.policies import Actor, SACPolicy
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
        )
    )


def _mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
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
    ) -> None:
        super().__init__()
        self.layout = layout
        self.fill = float(fill)
        # optional soft bound on the learned scores: bound * tanh(score / bound)
        self.bound = float(bound) if bound else None
        # optional learnable linear path from each option's expected-reward
        # feature to its score (the critic's prior: value ~ immediate reward)
        self.reward_skip = (
            nn.Parameter(th.ones(1)) if reward_skip and layout.reward_feature >= 0 else None
        )
        L = layout
        self.context = _mlp([L.obs_dim, *hidden], activation)
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
                _mlp([width, *scorer_hidden[1:]], activation),
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
            _mlp([width, *scorer_hidden[1:]], activation),
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
    ) -> None:
        super().__init__()
        self.actor = OptionScorer(layout, pi, scorer, activation)
        self.critic = _mlp([layout.obs_dim, *vf], activation)
        self.latent_dim_pi = layout.num_actions
        self.latent_dim_vf = vf[-1] if vf else layout.obs_dim

    def forward(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: th.Tensor) -> th.Tensor:
        return self.actor(features)

    def forward_critic(self, features: th.Tensor) -> th.Tensor:
        return self.critic(features)


def _arch(net_arch: Any) -> dict[str, list[int]]:
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

    def _build_mlp_extractor(self) -> None:
        arch = _arch(self.net_arch)  # type: ignore[attr-defined]
        if self.features_dim != self.layout.obs_dim:  # type: ignore[attr-defined]
            raise ValueError(
                f"observation has {self.features_dim} features, layout expects "  # type: ignore[attr-defined]
                f"{self.layout.obs_dim}: option-scoring policies need observation=flat"
            )
        self.mlp_extractor = OptionActorCritic(
            self.layout,
            arch["pi"],
            arch["scorer"],
            arch["vf"],
            self.activation_fn,  # type: ignore[attr-defined]
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
        return data


def _check_box(observation_space: spaces.Space) -> None:
    if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
        raise ValueError(
            f"option-scoring policies need the flat (Box) observation, got {observation_space}"
        )


class OptionScoringPolicy(_OptionScoringMixin, ActorCriticPolicy):
    """PPO actor-critic with the option scorer (see the module docstring)."""

    def __init__(self, observation_space, action_space, lr_schedule, *, layout, **kwargs):  # type: ignore[no-untyped-def]
        _check_box(observation_space)
        self.layout = FlatLayout(**layout)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


class MaskableOptionScoringPolicy(_OptionScoringMixin, MaskableActorCriticPolicy):
    """MaskablePPO actor-critic with the option scorer (see the module docstring)."""

    def __init__(self, observation_space, action_space, lr_schedule, *, layout, **kwargs):  # type: ignore[no-untyped-def]
        _check_box(observation_space)
        self.layout = FlatLayout(**layout)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


class OptionScoringActor(Actor):
    """SAC actor whose mean scores come from the option scorer; log-std from a
    second scorer (so exploration noise is per option too)."""

    def __init__(self, *args: Any, layout: FlatLayout, scorer_arch: list[int], **kwargs: Any):
        super().__init__(*args, **kwargs)
        act = self.activation_fn
        # fill 0: the scores of actions that are no option stay unsaturated
        self.mu_scorer = OptionScorer(layout, list(self.net_arch), scorer_arch, act, fill=0.0)
        self.std_scorer = OptionScorer(layout, [], [32], act, fill=0.0)
        # Replace the generic heads; latent_pi is unused.
        self.latent_pi = nn.Identity()
        for layer in self.mu_scorer.output_layers():
            nn.init.orthogonal_(layer.weight, gain=0.01)
            nn.init.zeros_(layer.bias)

    def get_action_dist_params(
        self, obs: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor, dict[str, th.Tensor]]:
        features = self.extract_features(obs, self.features_extractor)
        # Bounded pre-squash mean and log-std: only the order of the scores
        # matters to the env, and unbounded ones let log pi (hence the
        # entropy term of the soft Q targets) grow without limit.
        mean_actions = MEAN_BOUND * th.tanh(self.mu_scorer(features) / MEAN_BOUND)
        log_std = th.clamp(self.std_scorer(features) - 1.0, LOG_STD_BOUNDS[0], LOG_STD_BOUNDS[1])
        return mean_actions, log_std, {}


def valid_actions(obs: th.Tensor, layout: FlatLayout) -> th.Tensor:
    """(B, N) bool: the actions the env may take for each observation's decision
    (request options flagged valid in the observation; plans that fit memory)."""
    L = layout
    B, O, N = obs.shape[0], L.num_options, L.num_actions
    o0, F = L.options_offset, L.option_features
    opt_valid = obs[:, o0 : o0 + O * F : F] > 0.5
    req = obs.new_zeros(B, N, dtype=th.bool)
    req[:, :O] = opt_valid
    req[:, O - 1] = True  # reject is always valid
    plan = obs.new_zeros(B, N, dtype=th.bool)
    if L.plan_valid:
        plan[:, : L.num_plans] = th.as_tensor(L.plan_valid, device=obs.device)
    else:
        plan[:, : L.num_plans] = True
    return th.where(obs[:, 0:1] > 0.5, plan, req)


class OptionCritic(ContinuousCritic):
    """SAC critic for score actions: ``Q(s, a) = q(s, argmax_valid a)``.

    Each of the ``n_critics`` critics is an :class:`OptionScorer` giving a
    value ``q(s, o)`` per action, and the continuous action (one score per
    action) selects the one the env will take: the best-scored valid action.
    The forward value is exactly that (hard) selection; gradients to the
    actor flow through a softmax of the valid scores at ``temperature``
    (straight-through), so raising the score of a better-valued action
    raises Q.
    """

    def __init__(
        self,
        *args: Any,
        layout: FlatLayout,
        scorer_arch: list[int],
        temperature: float = 0.1,
        reward_skip: bool = False,
        value_bound: float | None = None,
        dueling: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.layout = layout
        self.temperature = float(temperature)
        act = kwargs.get("activation_fn", nn.ReLU)
        net_arch = list(kwargs.get("net_arch", args[2] if len(args) > 2 else [256, 256]))
        self.q_networks = []
        for idx in range(self.n_critics):
            q_net = OptionScorer(
                layout,
                net_arch,
                scorer_arch,
                act,
                reward_skip=reward_skip,
                bound=value_bound,
                dueling=dueling,
            )
            self.add_module(f"qf{idx}", q_net)  # replaces the generic MLP of the same name
            self.q_networks.append(q_net)

    def _weights(self, obs: th.Tensor, actions: th.Tensor) -> th.Tensor:
        valid = valid_actions(obs, self.layout)
        scores = th.where(valid, actions, th.full_like(actions, -1e4))
        hard = th.nn.functional.one_hot(scores.argmax(dim=1), actions.shape[1]).to(actions.dtype)
        soft = th.softmax(scores / self.temperature, dim=1)
        return hard + soft - soft.detach()

    def forward(self, obs: th.Tensor, actions: th.Tensor) -> tuple[th.Tensor, ...]:
        with th.set_grad_enabled(not self.share_features_extractor):
            features = self.extract_features(obs, self.features_extractor)
        w = self._weights(obs, actions)
        return tuple((q_net(features) * w).sum(dim=1, keepdim=True) for q_net in self.q_networks)

    def q1_forward(self, obs: th.Tensor, actions: th.Tensor) -> th.Tensor:
        with th.no_grad():
            features = self.extract_features(obs, self.features_extractor)
        return (self.q_networks[0](features) * self._weights(obs, actions)).sum(dim=1, keepdim=True)


class OptionScoringSACPolicy(SACPolicy):
    """SAC policy with the option-scoring actor (continuous action mode).

    Extra keyword arguments ``layout`` and ``critic_temperature`` (softmax
    temperature of :class:`OptionCritic`'s actor gradient); ``net_arch`` may
    be a list or ``{"pi", "scorer", "qf"}``.
    """

    def __init__(  # type: ignore[no-untyped-def]
        self,
        observation_space,
        action_space,
        lr_schedule,
        *,
        layout,
        critic_temperature: float = 0.1,
        critic_reward_skip: bool = False,
        critic_value_bound: float | None = None,
        critic_dueling: bool = False,
        **kwargs,
    ):
        _check_box(observation_space)
        self.layout = FlatLayout(**layout)
        self.critic_temperature = float(critic_temperature)
        self.critic_reward_skip = bool(critic_reward_skip)
        self.critic_value_bound = critic_value_bound
        self.critic_dueling = bool(critic_dueling)
        arch = kwargs.get("net_arch")
        if isinstance(arch, dict) and "scorer" in arch:
            arch = dict(arch)
            self.scorer_arch = list(arch.pop("scorer"))
            kwargs["net_arch"] = arch
        else:
            self.scorer_arch = [64]
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def make_actor(self, features_extractor: Any = None) -> Actor:
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return OptionScoringActor(
            **actor_kwargs, layout=self.layout, scorer_arch=self.scorer_arch
        ).to(self.device)

    def make_critic(self, features_extractor: Any = None) -> ContinuousCritic:
        critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        return OptionCritic(
            **critic_kwargs,
            layout=self.layout,
            scorer_arch=self.scorer_arch,
            temperature=self.critic_temperature,
            reward_skip=self.critic_reward_skip,
            value_bound=self.critic_value_bound,
            dueling=self.critic_dueling,
        ).to(self.device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["layout"] = asdict(self.layout)
        data["critic_temperature"] = self.critic_temperature
        data["critic_reward_skip"] = self.critic_reward_skip
        data["critic_value_bound"] = self.critic_value_bound
        data["critic_dueling"] = self.critic_dueling
        if isinstance(data.get("net_arch"), dict):
            data["net_arch"] = {**data["net_arch"], "scorer": self.scorer_arch}
        else:
            data["net_arch"] = {
                "pi": data["net_arch"],
                "qf": data["net_arch"],
                "scorer": self.scorer_arch,
            }
        return data
