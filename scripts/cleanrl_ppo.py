"""A CleanRL-style single-file PPO with action masking on GainNet.

The CleanRL PPO loop (Huang et al., "CleanRL", JMLR 2022; ``ppo.py``) on the
native vector env, with the one change a masked env needs: forbidden actions'
logits set to -1e9 before sampling and in the loss (Huang & Ontañón,
"A Closer Look at Invalid Action Masking in Policy Gradient Algorithms",
FLAIRS 2022). Run::

    python scripts/cleanrl_ppo.py --total-timesteps 20000 --scenario small

Prints the mean evaluation return (deterministic policy, ``--eval-episodes``
episodes on seeds 1000..). The README's "Use the environment from your own
code" section quotes the lines that matter.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import gainnet_rl  # noqa: F401  (registers the ids)


@dataclass
class Args:
    total_timesteps: int = 20_000
    """env steps (decisions) of training"""
    scenario: str = "small"
    """packaged scenario"""
    num_envs: int = 8
    """sub-envs of the native vector env"""
    num_steps: int = 128
    """steps per sub-env per rollout"""
    learning_rate: float = 2.5e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    num_minibatches: int = 4
    update_epochs: int = 4
    clip_coef: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    seed: int = 0
    eval_episodes: int = 20
    """evaluation episodes (seeds 1000..)"""


def layer(n_in: int, n_out: int, std: float = np.sqrt(2)) -> nn.Linear:
    lin = nn.Linear(n_in, n_out)
    nn.init.orthogonal_(lin.weight, std)
    nn.init.constant_(lin.bias, 0.0)
    return lin


class Agent(nn.Module):
    def __init__(self, n_obs: int, n_act: int) -> None:
        super().__init__()
        body = lambda out, std: nn.Sequential(
            layer(n_obs, 64), nn.Tanh(), layer(64, 64), nn.Tanh(), layer(64, out, std)
        )
        self.actor, self.critic = body(n_act, 0.01), body(1, 1.0)

    def dist(self, obs: torch.Tensor, mask: torch.Tensor) -> torch.distributions.Categorical:
        logits = self.actor(obs).masked_fill(~mask, -1e9)  # the masking: forbidden -> -1e9
        return torch.distributions.Categorical(logits=logits)


def evaluate(agent: Agent, args: Args) -> float:
    """Mean return of the deterministic (argmax) policy over ``eval_episodes`` seeds."""
    env = gym.make_vec(
        "gainnet_rl/GainNet-v2", args.eval_episodes, "vector_entry_point", scenario=args.scenario
    )
    obs, info = env.reset(seed=1000)
    total, done = np.zeros(args.eval_episodes), np.zeros(args.eval_episodes, dtype=bool)
    while not done.all():
        with torch.no_grad():
            d = agent.dist(torch.as_tensor(obs), torch.as_tensor(info["action_mask"]))
        obs, r, term, trunc, info = env.step(d.probs.argmax(1).numpy())
        total += np.where(done, 0.0, r)
        done |= term | trunc
    return float(total.mean())


def main(args: Args) -> float:
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    envs = gym.make_vec(
        "gainnet_rl/GainNet-v2",
        args.num_envs,
        "vector_entry_point",
        scenario=args.scenario,
        autoreset_mode="SameStep",  # CleanRL's loop expects the reset on the same step
    )
    n_obs, n_act = envs.single_observation_space.shape[0], envs.single_action_space.n
    agent = Agent(n_obs, n_act)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)
    T, N = args.num_steps, args.num_envs
    obs_b, mask_b = torch.zeros(T, N, n_obs), torch.zeros(T, N, n_act, dtype=torch.bool)
    act_b, logp_b, rew_b, done_b, val_b = (torch.zeros(T, N) for _ in range(5))
    obs, info = envs.reset(seed=args.seed)
    obs, mask = torch.as_tensor(obs), torch.as_tensor(info["action_mask"])
    done = torch.zeros(N)
    for _ in range(max(1, args.total_timesteps // (T * N))):
        for t in range(T):
            obs_b[t], mask_b[t], done_b[t] = obs, mask, done
            with torch.no_grad():
                d = agent.dist(obs, mask)
                a = d.sample()
                logp_b[t], val_b[t] = d.log_prob(a), agent.critic(obs).squeeze(-1)
            act_b[t] = a
            o, r, term, trunc, info = envs.step(a.numpy())
            rew_b[t] = torch.as_tensor(r, dtype=torch.float32)
            obs, mask = torch.as_tensor(o), torch.as_tensor(info["action_mask"])
            done = torch.as_tensor(term | trunc, dtype=torch.float32)
        with torch.no_grad():  # generalised advantage estimation
            adv, last = torch.zeros(T, N), torch.zeros(N)
            next_val = agent.critic(obs).squeeze(-1)
            for t in reversed(range(T)):
                nonterminal = 1.0 - (done if t == T - 1 else done_b[t + 1])
                nv = next_val if t == T - 1 else val_b[t + 1]
                delta = rew_b[t] + args.gamma * nv * nonterminal - val_b[t]
                last = delta + args.gamma * args.gae_lambda * nonterminal * last
                adv[t] = last
            ret = adv + val_b
        b = lambda x: x.reshape(T * N, *x.shape[2:])
        B_obs, B_mask, B_act, B_logp, B_adv, B_ret = map(
            b, (obs_b, mask_b, act_b, logp_b, adv, ret)
        )
        mb = T * N // args.num_minibatches
        for _ in range(args.update_epochs):
            for idx in torch.randperm(T * N).split(mb):
                d = agent.dist(B_obs[idx], B_mask[idx])
                ratio = (d.log_prob(B_act[idx]) - B_logp[idx]).exp()
                a_n = (B_adv[idx] - B_adv[idx].mean()) / (B_adv[idx].std() + 1e-8)
                pg = torch.max(
                    -a_n * ratio, -a_n * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)
                )
                v_loss = 0.5 * (agent.critic(B_obs[idx]).squeeze(-1) - B_ret[idx]).pow(2).mean()
                loss = pg.mean() - args.ent_coef * d.entropy().mean() + args.vf_coef * v_loss
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()
    envs.close()
    result = evaluate(agent, args)
    print("return:", result)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for f in dataclasses.fields(Args):
        parser.add_argument(
            "--" + f.name.replace("_", "-"), type=type(f.default), default=f.default
        )
    main(Args(**vars(parser.parse_args())))
