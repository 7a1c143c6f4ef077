"""Training an SB3 agent on a GainNet scenario: :func:`train` takes the
composed config and a run folder, so it is equally callable from the
``gainnet-train`` CLI (:mod:`gainnet_rl.agents.train`), Python, tests or
notebooks. Config: ``gainnet_rl/conf/train.yaml`` with the
groups ``agent`` (maskable_ppo, ppo, sac) and ``scenario`` (small, medium,
large)::

    gainnet-train agent=sac scenario=medium scenario.load=1.5 seed=3
    gainnet-train train.resume=runs/2024-01-01/12-00-00_maskable_ppo_small_load1.0_seed0
    gainnet-train -m scenario=small,medium,large scenario.load=0.5,1.0,1.5 seed=0,1,2

The run folder (``hydra.run.dir``; one subfolder per job in a multirun)::

    config.yaml        the resolved config (the one gainnet-evaluate reloads)
    command.txt        the exact command line(s), one block per session
    versions.json      python, platform, package versions, git commit
    tb/                TensorBoard events (SB3's keys, network/, eval/)
    evaluations.csv    the periodic evaluations
    checkpoints/       step_<N>/ model + VecNormalize + replay buffer + state, latest
    best/ final/       the best model by periodic evaluation, the last model
    eval/              the final table: agent beside every baseline (CSV, JSON, Markdown)
    status.json        running / interrupted / finished, steps, wall time
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from stable_baselines3.common.logger import Logger, TensorBoardOutputFormat, make_output_format
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.utils import LinearSchedule, set_random_seed
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from gainnet_rl.agents.baselines import best_fixed_plans
from gainnet_rl.agents.callbacks import (
    CheckpointCallback,
    NetworkKPICallback,
    PeriodicEvalCallback,
    RunState,
    WallClockCallback,
)
from gainnet_rl.agents.options import TrainConfig, train_options
from gainnet_rl.agents.policies import flat_layout
from gainnet_rl.agents.sb3_vec_env import GainNetSB3VecEnv
from gainnet_rl.agents.wrappers import TimeAwareTermination
from gainnet_rl.envs.config import ConfigError, make_params
from gainnet_rl.envs.engine import ACTION_MODES
from gainnet_rl.envs.mixture import GainNetMixEnv
from gainnet_rl.envs.params import Params
from gainnet_rl.evaluation import runs
from gainnet_rl.evaluation.comparison import evaluate_run
from gainnet_rl.io import atomic_write_text, write_json

#: Keys of the ``agent`` group that describe the agent rather than being
#: constructor arguments of its SB3 class.
AGENT_META_KEYS = ("name", "action_mode")
#: Agent keys that accept a schedule: ``lin_<v>`` decays linearly from v to 0.
SCHEDULE_KEYS = ("learning_rate", "clip_range", "clip_range_vf")
#: Config keys a resumed run may change (everything else is fixed by the run).
RESUMABLE_PREFIXES = ("train.", "evaluate.", "device", "torch_threads")
#: Training seeds of resumed sessions are shifted by this per session, so a
#: resumed run plays new episodes, still disjoint from the evaluation seeds.
SESSION_SEED_STRIDE = 1_000_000


def _run_dir_resolver(resume: Any, default: str) -> str:
    return str(resume) if resume not in (None, "", "null", "None") else default


OmegaConf.register_new_resolver("gainnet_run_dir", _run_dir_resolver, replace=True)


# ---------------------------------------------------------------- validation


def train_seeds(cfg: DictConfig, session: int = 0) -> tuple[int, int]:
    """First and last training seed: sub-env i of session k starts from
    ``seed * env.num_envs + i + k * SESSION_SEED_STRIDE``."""
    first = int(cfg.seed) * int(cfg.env.num_envs) + session * SESSION_SEED_STRIDE
    return first, first + int(cfg.env.num_envs) - 1


def validate(cfg: DictConfig) -> TrainConfig:
    """The typed options (:func:`gainnet_rl.agents.options.train_options`: keys,
    types, ranges) and the checks across groups: agent class, action mode and
    policy against the env options, disjoint seed ranges. Raises ConfigError
    naming the key, the value and the allowed range."""
    opts = train_options(cfg)
    mode = cfg.agent.get("action_mode")
    if mode not in ACTION_MODES:
        raise ConfigError(
            f"agent.action_mode={mode!r} is invalid: must be one of {list(ACTION_MODES)}"
        )
    target = str(cfg.agent.get("_target_"))
    try:
        cls = get_class(target)
    except Exception:
        raise ConfigError(
            f"agent._target_={target!r} is invalid: must be an importable SB3 algorithm class"
        ) from None
    name = cls.__name__
    if name in ("SAC", "TD3", "DDPG") and mode != "continuous":
        raise ConfigError(f"agent.action_mode={mode!r} is invalid for {name}: must be continuous")
    if name == "MaskablePPO" and mode != "discrete":
        raise ConfigError(
            f"agent.action_mode={mode!r} is invalid for MaskablePPO: must be discrete"
        )
    policy = str(cfg.agent.get("policy", "MlpPolicy"))
    if "OptionScoring" in policy:
        if cfg.env.observation != "flat":
            raise ConfigError(
                f"env.observation={cfg.env.observation!r} is invalid for agent.policy={policy}: "
                "option-scoring policies read the flat observation"
            )
        if cfg.env.normalize_obs:
            raise ConfigError(
                f"env.normalize_obs=true is invalid for agent.policy={policy}: option-scoring "
                "policies read the decision-type flags of the raw (already scaled) observation"
            )
    # seeds: training, periodic evaluation and the final table must not share episodes
    t0, t1 = train_seeds(cfg)
    ranges = {
        "evaluate": (cfg.evaluate.first_seed, cfg.evaluate.first_seed + cfg.evaluate.episodes - 1),
        "train.eval": (
            cfg.train.eval_first_seed,
            cfg.train.eval_first_seed + cfg.train.eval_episodes - 1,
        ),
    }
    for what, (a, b) in ranges.items():
        if a <= t1 and t0 <= b:
            raise ConfigError(
                f"seed={cfg.seed} is invalid: training seeds {t0}..{t1} overlap the {what} "
                f"seeds {a}..{b}; choose another seed or {what}.first_seed"
            )
    return opts


# ---------------------------------------------------------------- building


def _on_policy(cfg: DictConfig) -> bool:
    return issubclass(get_class(str(cfg.agent._target_)), OnPolicyAlgorithm)


def env_choices(cfg: DictConfig) -> tuple[bool, str]:
    """(normalize_reward, episode_end) with ``auto`` resolved for the agent."""
    on = _on_policy(cfg)
    norm = cfg.env.normalize_reward
    norm = on if norm == "auto" else bool(norm)
    end = cfg.env.episode_end
    end = ("bootstrap" if on else "terminal") if end == "auto" else str(end)
    return norm, end


def build_env(cfg: DictConfig, params: Params, session: int = 0) -> VecEnv:
    """The training VecEnv: GainNetSB3VecEnv (+ TimeAwareTermination, VecNormalize)."""
    norm_reward, episode_end = env_choices(cfg)
    env: VecEnv
    if cfg.env.get("mix"):
        env = mix_vec_env(cfg, params, session)
    else:
        env = GainNetSB3VecEnv(
            int(cfg.env.num_envs),
            params,
            action_mode=cfg.agent.action_mode,
            observation=cfg.env.observation,
            option_outcomes=bool(cfg.env.option_outcomes),
            seed=train_seeds(cfg, session)[0],
        )
    if episode_end == "terminal":
        env = TimeAwareTermination(env)
    if cfg.env.normalize_obs or norm_reward:
        env = VecNormalize(
            env,
            norm_obs=bool(cfg.env.normalize_obs),
            norm_reward=norm_reward,
            clip_obs=float(cfg.env.clip_obs),
            clip_reward=float(cfg.env.clip_reward),
            gamma=float(cfg.agent.get("gamma", 0.99)),
        )
    return env


def mix_vec_env(cfg: DictConfig, params: Params, session: int = 0) -> VecEnv:
    """``env.mix=true``: ``env.num_envs`` Monitor-wrapped GainNetMixEnv sub-envs
    (cell drawn per episode) in a DummyVecEnv, sub-env i seeded seed * N + i."""
    kw = {
        "scenarios": [str(x) for x in cfg.env.mix_scenarios],
        "loads": [float(x) for x in cfg.env.mix_loads],
        "action_mode": str(cfg.agent.action_mode),
        "observation": str(cfg.env.observation),
        "option_outcomes": bool(cfg.env.option_outcomes),
    }
    for s, ld in ((s, ld) for s in kw["scenarios"] for ld in kw["loads"]):
        other = make_params(s, load=ld)
        if flat_layout(other, kw["option_outcomes"]) != flat_layout(params, kw["option_outcomes"]):
            raise ConfigError(
                f"env.mix_scenarios has {s}, whose observation layout differs from "
                f"scenario={params.name}'s: the evaluation scenario must be one the mix shares"
            )
    env = DummyVecEnv([lambda: Monitor(GainNetMixEnv(**kw)) for _ in range(int(cfg.env.num_envs))])
    env.seed(train_seeds(cfg, session)[0])
    return env


def prior_plans(params: Params) -> list[int]:
    """greedy_best_plan's plan per edge (its own search seeds), padded to max_edges
    with the default plan: the plan prior of a residual option-scoring policy."""
    plans = [int(k) for k in best_fixed_plans(params)]
    return plans + [int(params.default_plan)] * (params.max_edges - len(plans))


def agent_kwargs(cfg: DictConfig, params: Params) -> dict[str, Any]:
    """The agent group as constructor arguments (policy class resolved, layout filled)."""
    kw = OmegaConf.to_container(cfg.agent, resolve=True)
    assert isinstance(kw, dict)
    for k in AGENT_META_KEYS:
        kw.pop(k, None)
    for k in SCHEDULE_KEYS:
        v = kw.get(k)
        if isinstance(v, str):
            try:
                start = float(v.removeprefix("lin_")) if v.startswith("lin_") else None
            except ValueError:
                start = None
            if start is None or start < 0:
                raise ConfigError(
                    f"agent.{k}={v!r} is invalid: must be a number or lin_<start> "
                    "(linear decay from start to 0 over the run)"
                )
            kw[k] = LinearSchedule(start, 0.0, 1.0)
    policy = kw.get("policy", "MlpPolicy")
    if isinstance(policy, str) and "." in policy:
        policy_cls = get_class(policy)
        kw["policy"] = policy_cls
        if "OptionScoring" in policy_cls.__name__:
            pk = dict(kw.get("policy_kwargs") or {})
            pk["layout"] = flat_layout(params, bool(cfg.env.option_outcomes))
            if pk.get("plan_prior") == "greedy_best_plan":
                if cfg.env.get("mix"):
                    raise ConfigError(
                        "agent.policy_kwargs.plan_prior=greedy_best_plan is invalid with "
                        "env.mix=true: its plans are searched per scenario; use default or null"
                    )
                pk["plan_prior"] = prior_plans(params)
            elif pk.get("plan_prior") == "default":
                pk["plan_prior"] = [int(params.default_plan)] * params.max_edges
            kw["policy_kwargs"] = pk
    return kw


def build_model(cfg: DictConfig, env: VecEnv, params: Params) -> Any:
    kw = agent_kwargs(cfg, params)
    target = kw.pop("_target_")
    return instantiate(
        {"_target_": target, "_convert_": "all"},
        env=env,
        seed=int(cfg.seed),
        device=str(cfg.device),
        verbose=0,
        **kw,
    )


def make_logger(run_dir: Path, verbose: int, purge_step: int | None = None) -> Logger:
    """SB3 logger writing TensorBoard events to ``run_dir/tb`` (and stdout if verbose).

    ``purge_step`` (on resume): TensorBoard drops events logged at or after
    this step by the interrupted session, so the curves continue cleanly.
    """
    folder = str(run_dir / "tb")
    tb = TensorBoardOutputFormat(folder)
    if purge_step is not None:
        from torch.utils.tensorboard import SummaryWriter

        tb.writer.close()
        tb.writer = SummaryWriter(log_dir=folder, purge_step=purge_step)
    formats = [tb] + ([make_output_format("stdout", folder)] if verbose else [])
    return Logger(folder=folder, output_formats=formats)


# ---------------------------------------------------------------- run folder


def resume_config(saved: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """The saved run config with this invocation's resumable overrides applied.

    Only ``train.*``, ``evaluate.*``, ``device`` and ``torch_threads`` may
    change (e.g. ``train.total_timesteps`` to train longer); anything else
    raises ConfigError, since the saved model depends on it.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    cfg = saved.copy()
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    for o in parsed:
        key = o.key_or_group
        if key == "train.resume" or key.startswith("hydra"):
            continue
        if o.is_sweep_override():
            raise ConfigError(f"override {o.input_line!r} is invalid with train.resume: no sweeps")
        if not key.startswith(RESUMABLE_PREFIXES):
            current = (
                OmegaConf.select(saved, f"{key}.name")
                if key in ("agent", "scenario")
                else (OmegaConf.select(saved, key))
            )
            value = o.value()
            if current == value:
                continue
            raise ConfigError(
                f"{key}={value!r} is invalid with train.resume: the run was trained with "
                f"{key}={current!r}; only train.*, evaluate.*, device and torch_threads may change"
            )
        OmegaConf.update(cfg, key, o.value(), merge=True)
    return cfg


# ---------------------------------------------------------------- train


def _load_saved(run_dir: Path, key: str = "train.reuse") -> DictConfig:
    path = run_dir / runs.CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{key}={str(run_dir)!r} is invalid: {path} not found (not a run folder)")
    saved = OmegaConf.load(path)
    assert isinstance(saved, DictConfig)
    return saved


def other_run_keys(saved: DictConfig, cfg: DictConfig) -> list[str]:
    """Keys (dotted) whose values make ``cfg`` another run than ``saved``: any key
    outside ``train.*``, ``evaluate.*``, ``device`` and ``torch_threads``."""

    def leaves(node: Any, prefix: str = "") -> dict[str, Any]:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for k, v in node.items():
                out |= leaves(v, f"{prefix}{k}.")
            return out
        return {prefix[:-1]: node}

    a = leaves(OmegaConf.to_container(saved, resolve=True))
    b = leaves(OmegaConf.to_container(cfg, resolve=True))
    return sorted(
        k for k in set(a) | set(b) if not k.startswith(RESUMABLE_PREFIXES) and a.get(k) != b.get(k)
    )


def train(
    cfg: DictConfig,
    run_dir: Path | str,
    overrides: Sequence[str] = (),
    argv: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Train (or resume) the configured agent and write the run folder.

    Args:
        cfg: the composed config (``conf/train.yaml``).
        run_dir: the run folder; with ``cfg.train.resume`` set, that folder
            is used instead and training continues from its latest checkpoint.
        overrides: the command-line overrides (recorded; on resume applied to
            the saved config, see :func:`resume_config`).
        argv: the command line to record (default ``sys.argv``).

    Returns:
        ``{"run_dir", "num_timesteps", "summary"}`` (summary: the eval table);
        with ``train.reuse`` and a finished run in ``run_dir``, that run's
        (``num_timesteps`` from its status.json, possibly None) and ``"reused": True``.
    """
    argv = list(sys.argv if argv is None else argv)
    resume = cfg.train.get("resume")
    session = 0
    ckpt: Path | None = None
    state = RunState()
    if not resume and cfg.train.get("reuse") and (Path(run_dir) / runs.CONFIG_FILE).is_file():
        saved = _load_saved(Path(run_dir))
        differ = other_run_keys(saved, cfg)
        if differ:
            raise ConfigError(
                f"train.reuse=true is invalid for {run_dir}: it holds another run "
                f"({', '.join(differ[:6])} differ); delete it or choose another folder"
            )
        if runs.run_finished(Path(run_dir), results_only=True):  # models kept or not
            print(f"gainnet-train: {run_dir} holds this run, finished: reused")
            status = runs.read_json(Path(run_dir) / "status.json")
            summary = runs.read_json(Path(run_dir) / "eval" / "summary.json").get("summary", {})
            n = status.get("num_timesteps")
            return {"run_dir": str(run_dir), "num_timesteps": n, "summary": summary, "reused": True}
        # interrupted: continue it with this job's train, evaluate and device options
        for key in ("train", "evaluate", "device", "torch_threads"):
            saved[key] = cfg[key]
        cfg, resume = saved, str(run_dir)
        OmegaConf.update(cfg, "train.resume", resume, force_add=True)
    elif resume:
        cfg = resume_config(_load_saved(Path(str(resume)), "train.resume"), overrides)
        OmegaConf.update(cfg, "train.resume", str(resume), force_add=True)
    if resume:
        run_dir = Path(str(resume))
        ckpt = runs.latest_checkpoint(run_dir)
        if ckpt is not None:
            state = RunState(runs.read_state(ckpt))
        session = state.sessions + 1
    run_dir = Path(run_dir)
    validate(cfg)
    params = make_params(cfg.scenario)  # every check before the run folder is written
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / runs.CONFIG_FILE, OmegaConf.to_yaml(cfg, resolve=True))
    runs.write_command(run_dir, argv, overrides)
    if int(cfg.torch_threads) > 0:
        torch.set_num_threads(int(cfg.torch_threads))
    write_json(run_dir / "versions.json", runs.versions())
    set_random_seed(int(cfg.seed) + session)
    env = build_env(cfg, params, session)
    cls = get_class(str(cfg.agent._target_))
    if ckpt is not None:
        if isinstance(env, VecNormalize) and (ckpt / runs.VECNORM_FILE).is_file():
            inner = env.venv
            env = VecNormalize.load(str(ckpt / runs.VECNORM_FILE), inner)
            env.training = True
        model = runs.load_model(ckpt, cls, env=env, device=str(cfg.device))
        rb = ckpt / runs.REPLAY_FILE
        if rb.is_file() and hasattr(model, "load_replay_buffer"):
            model.load_replay_buffer(str(rb))
        runs.truncate_evaluations(run_dir, int(model.num_timesteps))
        print(f"gainnet-train: resuming {run_dir} from {ckpt.name} ({model.num_timesteps} steps)")
    else:
        if resume:
            # no checkpoint: start over in the same folder, without the old evaluations
            runs.truncate_evaluations(run_dir, 0)
            print(f"gainnet-train: {run_dir} has no checkpoint yet: starting it from step 0")
        model = build_model(cfg, env, params)
    model.set_logger(
        make_logger(run_dir, int(cfg.train.verbose), model.num_timesteps if resume else None)
    )
    state.sessions = session

    meta = {"agent": cfg.agent.name, "scenario": params.name, "load": params.load}
    eval_seeds = range(
        cfg.train.eval_first_seed, cfg.train.eval_first_seed + cfg.train.eval_episodes
    )
    eval_cb = PeriodicEvalCallback(
        run_dir,
        params,
        cfg.agent.action_mode,
        cfg.env.observation,
        eval_seeds,
        int(cfg.train.eval_freq),
        state,
        meta,
        bool(cfg.env.option_outcomes),
    )
    ckpt_cb = CheckpointCallback(
        run_dir,
        int(cfg.train.checkpoint_freq),
        state,
        keep=int(cfg.train.keep_checkpoints),
        replay_buffer=bool(cfg.train.save_replay_buffer),
    )
    callbacks: list[Any] = [NetworkKPICallback(), eval_cb, ckpt_cb]
    clock = None
    if cfg.train.max_minutes is not None:
        # the run's budget over all its sessions: a resumed run gets what is left
        left = float(cfg.train.max_minutes) - state.wall_before_s / 60.0
        clock = WallClockCallback(max(left, 0.05))
        callbacks.append(clock)

    total = int(cfg.train.total_timesteps)
    remaining = total - int(model.num_timesteps)
    runs.write_status(run_dir, status="running", total_timesteps=total, session=session)
    state.start_session()
    if remaining > 0:
        try:
            model.learn(
                remaining,
                callback=callbacks,
                progress_bar=bool(cfg.train.progress_bar),
                reset_num_timesteps=False,
            )
        except KeyboardInterrupt:
            ckpt_cb.save()
            runs.write_status(run_dir, status="interrupted", num_timesteps=int(model.num_timesteps))
            print(
                f"\ngainnet-train: interrupted at {model.num_timesteps} steps; checkpoint written. "
                f"Continue with: gainnet-train train.resume={shlex.quote(str(run_dir))}",
                file=sys.stderr,
            )
            raise
    else:
        print(f"gainnet-train: {run_dir} already has {model.num_timesteps} >= {total} steps")
    train_wall_s = state.wall_time_s
    # the end: last evaluation (so best/ exists), final model, final checkpoint
    if state.last_eval_timesteps != model.num_timesteps or not (run_dir / "best").is_dir():
        eval_cb.init_callback(model)
        eval_cb.run_eval()
    runs.save_model_dir(run_dir / "final", model, meta)
    ckpt_cb.init_callback(model)
    ckpt_cb.save()
    env.close()

    summary, text = evaluate_run(run_dir, cfg)
    print(text)
    runs.write_status(
        run_dir,
        status="finished" if not (clock and clock.stopped) else "stopped_by_max_minutes",
        num_timesteps=int(model.num_timesteps),
        train_wall_time_s=round(train_wall_s, 1),
        wall_time_s=round(state.wall_time_s, 1),
        best_timesteps=state.best_timesteps,
    )
    return {"run_dir": str(run_dir), "num_timesteps": int(model.num_timesteps), "summary": summary}
