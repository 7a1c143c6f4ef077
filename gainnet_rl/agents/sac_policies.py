"""Option-scoring SAC policy for the continuous action mode: the actor emits
one score per action through the shared option scorer of
:mod:`gainnet_rl.agents.policies`, the critic values the option the env will
take (the best-scored valid one)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch as th
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.sac.policies import Actor, SACPolicy
from torch import nn

from gainnet_rl.agents.policies import (
    LOG_STD_BOUNDS,
    MEAN_BOUND,
    FlatLayout,
    OptionScorer,
    check_box,
    prior_kwargs,
)


class OptionScoringActor(Actor):
    """SAC actor whose mean scores come from the option scorer; log-std from a
    second scorer (so exploration noise is per option too)."""

    def __init__(
        self,
        *args: Any,
        layout: FlatLayout,
        scorer_arch: list[int],
        prior: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        act = self.activation_fn
        # fill 0: the scores of actions that are no option stay unsaturated;
        # the residual prior (prior_kwargs) goes into the mean scores, inside
        # their MEAN_BOUND: keep its logits within about +-2
        self.mu_scorer = OptionScorer(
            layout, list(self.net_arch), scorer_arch, act, fill=0.0, **(prior or {})
        )
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

    Extra keyword arguments ``layout``, ``critic_temperature`` (softmax
    temperature of :class:`OptionCritic`'s actor gradient) and the actor's
    residual prior (``reward_prior``, ``plan_prior``, ``plan_prior_logit``:
    :func:`gainnet_rl.agents.policies.prior_kwargs`; its logits pass through
    the mean's bound, MEAN_BOUND = 2, so keep them within about +-2);
    ``net_arch`` may be a list or ``{"pi", "scorer", "qf"}``.
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
        reward_prior: float = 0.0,
        plan_prior: Any = None,
        plan_prior_logit: float = 0.0,
        **kwargs,
    ):
        check_box(observation_space)
        self.layout = FlatLayout(**layout)
        self.prior = prior_kwargs(reward_prior, plan_prior, plan_prior_logit)
        self.critic_temperature = float(critic_temperature)
        self.critic_reward_skip = bool(critic_reward_skip)
        self.critic_value_bound = critic_value_bound
        self.critic_dueling = bool(critic_dueling)
        net_arch = kwargs.get("net_arch")
        if isinstance(net_arch, dict) and "scorer" in net_arch:
            net_arch = dict(net_arch)
            self.scorer_arch = list(net_arch.pop("scorer"))
            kwargs["net_arch"] = net_arch
        else:
            self.scorer_arch = [64]
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def make_actor(self, features_extractor: Any = None) -> Actor:
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return OptionScoringActor(
            **actor_kwargs, layout=self.layout, scorer_arch=self.scorer_arch, prior=self.prior
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
        data.update(self.prior)
        if isinstance(data.get("net_arch"), dict):
            data["net_arch"] = {**data["net_arch"], "scorer": self.scorer_arch}
        else:
            data["net_arch"] = {
                "pi": data["net_arch"],
                "qf": data["net_arch"],
                "scorer": self.scorer_arch,
            }
        return data
