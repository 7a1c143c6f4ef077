"""Run the README's per-library snippets verbatim and record their returns.

Every ```python block of README.md whose first line is
``STEPS, EPISODES = ...`` is a client snippet; each runs in a subprocess (in
a scratch folder) and prints ``return: <mean episode reward>``. Also run:
scripts/cleanrl_ppo.py, and two reference levels (uniform over all actions,
with and without ValidActions). Writes docs/results/clients.md::

    python scripts/client_returns.py                   # as written (20,000 steps each)
    python scripts/client_returns.py --steps 1024 --episodes 2 --out /tmp/c.md   # a smoke run

tests/test_clients.py runs the same snippets with 1,024 steps.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST = re.compile(r"^STEPS, EPISODES = ([0-9_]+), ([0-9_]+)")

UNIFORM = """
STEPS, EPISODES = {steps}, {episodes}
import gymnasium as gym, numpy as np
import gainnet_rl
from gainnet_rl.envs.wrappers import ValidActions
total = []
for k in range(EPISODES):
    env = gym.make("gainnet_rl/GainNet-v2")
    env = ValidActions(env) if {wrap} else env
    obs, info = env.reset(seed=1000 + k)
    rng, ret, done = np.random.default_rng(k), 0.0, False
    while not done:
        obs, r, term, trunc, info = env.step(int(rng.integers(env.action_space.n)))
        ret, done = ret + r, term or trunc
    total.append(ret)
print("return:", float(np.mean(total)))
"""


def snippets(readme: Path = ROOT / "README.md") -> list[tuple[str, str]]:
    """(title, code) of every client snippet of the README, in order; the title is
    the paragraph just above the block."""
    text = readme.read_text()
    out = []
    for m in re.finditer(r"```python\n(.*?)```", text, flags=re.S):
        code = m.group(1)
        if FIRST.match(code):
            before = " ".join(text[: m.start()].rstrip().split("\n\n")[-1].split())
            out.append((re.split(r" \(|:", before)[0], code))
    return out


def with_budget(code: str, steps: int | None, episodes: int | None) -> str:
    """The snippet with its first line's budget replaced (None: as written)."""
    m = FIRST.match(code)
    assert m is not None
    s = steps if steps is not None else m.group(1)
    e = episodes if episodes is not None else m.group(2)
    return FIRST.sub(f"STEPS, EPISODES = {s}, {e}", code, count=1)


def run(code: str, cwd: Path, timeout: float = 3600) -> tuple[float, float, str]:
    """Run one snippet; returns (return, wall seconds, output tail)."""
    t0 = time.time()
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )
    wall = time.time() - t0
    found = re.findall(r"^return: (\S+)$", res.stdout, flags=re.M)
    if res.returncode != 0 or not found:
        raise RuntimeError(f"snippet failed (exit {res.returncode}):\n{res.stderr[-3000:]}")
    return float(found[-1]), wall, res.stdout[-500:]


def programs(steps: int | None, episodes: int | None) -> list[tuple[str, str]]:
    """Every (title, code) to run: the README snippets, the CleanRL script, references."""
    s_ref = 0 if steps is None else steps
    e_ref = 20 if episodes is None else episodes
    progs = [(t, with_budget(c, steps, episodes)) for t, c in snippets()]
    argv = ["--total-timesteps", str(steps or 20_000), "--eval-episodes", str(episodes or 20)]
    cleanrl = (
        "import runpy, sys\n"
        f"sys.argv = ['cleanrl_ppo.py', *{argv!r}]\n"
        f"runpy.run_path({str(ROOT / 'scripts' / 'cleanrl_ppo.py')!r}, run_name='__main__')\n"
    )
    progs.append(("CleanRL-style PPO with masked logits (scripts/cleanrl_ppo.py)", cleanrl))
    for wrap, title in ((False, "uniform over all actions"), (True, "uniform, ValidActions")):
        progs.append((title, UNIFORM.format(steps=s_ref, episodes=e_ref, wrap=wrap)))
    return progs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: as written)")
    ap.add_argument("--episodes", type=int, default=None, help="evaluation episodes")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "clients.md")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for title, code in programs(args.steps, args.episodes):
            ret, wall, _ = run(code, Path(tmp))
            print(f"{title}: return {ret:.2f} ({wall:.0f} s)", flush=True)
            rows.append(f"| {title} | {ret:.2f} | {wall:.0f} |")
    cmd = " ".join(["python scripts/client_returns.py", *(argv or sys.argv[1:])])
    budget = (
        "as written in the README (20,000 steps, 20 episodes)"
        if args.steps is None
        else (f"{args.steps} steps, {args.episodes} episodes")
    )
    text = "\n".join(
        [
            f"`{cmd}`: each README client snippet run verbatim, {budget}; small at load 1,",
            "seed 0; return = mean episode reward of the trained policy (the uniform rows:",
            "no training, evaluation seeds 1000..). Wall time on the 2-core machine: indicative",
            "(other jobs may share the cores).",
            "",
            "| client | return | wall (s) |",
            "|---|---:|---:|",
            *rows,
            "",
        ]
    )
    from gainnet_rl.io import atomic_write_text

    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
