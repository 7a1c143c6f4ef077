"""The package layout stays readable: one purpose per folder, small modules,
no private names across modules, no upward imports, a torch-free simulator."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "gainnet_rl"
MAX_LINES = 520  # "no module over about 500 lines"

#: layers, lowest first: a module imports only from its own layer or below.
LAYERS: list[tuple[str, ...]] = [
    ("gainnet_rl", "gainnet_rl.io", "gainnet_rl.envs"),
    ("gainnet_rl.evaluation", "gainnet_rl.evaluation.rollout", "gainnet_rl.evaluation.tables",
     "gainnet_rl.evaluation.runs"),
    ("gainnet_rl.agents",),
    ("gainnet_rl.evaluation.comparison", "gainnet_rl.evaluation.sb3_zip"),
    ("gainnet_rl.agents.trainer", "gainnet_rl.agents.train"),
    ("gainnet_rl.evaluation.options", "gainnet_rl.evaluation.cli",
     "gainnet_rl.evaluation.baselines_cli", "gainnet_rl.evaluation.evaluate_cli"),
    ("gainnet_rl.studies",),
]  # fmt: skip

#: third-party packages the simulator (envs/) may import
ENV_DEPS = {"numpy", "scipy", "numba", "gymnasium", "omegaconf", "hydra"}


def _modules() -> dict[str, Path]:
    out = {}
    for f in sorted(ROOT.rglob("*.py")):
        parts = f.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


def _rank(module: str) -> int:
    """The layer of a module: the most specific prefix listed in LAYERS."""
    best, rank = -1, -1
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    assert rank >= 0, f"{module} is in no layer of tests/test_layout.py"
    return rank


def _imports(path: Path, module: str) -> list[tuple[str, list[str]]]:
    """(imported module, names) of every import in the file, relative ones resolved."""
    pkg = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            out.append((base, [a.name for a in node.names]))
    return out


MODULES = _modules()


@pytest.mark.parametrize("module", list(MODULES))
def test_module_is_small(module: str) -> None:
    n = len(MODULES[module].read_text().splitlines())
    assert n <= MAX_LINES, f"{module} has {n} lines (> {MAX_LINES}): split it by purpose"


@pytest.mark.parametrize("module", list(MODULES))
def test_no_private_names_or_upward_imports(module: str) -> None:
    mine = _rank(module)
    for target, names in _imports(MODULES[module], module):
        if not target.startswith("gainnet_rl"):
            continue
        private = [n for n in names if n.startswith("_") and n != "__version__"]
        assert not private, f"{module} imports private {private} from {target}"
        # a private module (envs/_malloc.py) only from its own package
        leaf = target.rpartition(".")[2]
        if leaf.startswith("_"):
            assert module.startswith(target.rpartition(".")[0]), (module, target)
        for name in names or [""]:
            full = f"{target}.{name}" if f"{target}.{name}" in MODULES else target
            assert _rank(full) <= mine, (
                f"{module} (layer {mine}) imports {full} (layer {_rank(full)})"
            )


def test_simulator_imports_only_its_dependencies() -> None:
    """envs/ needs numpy, scipy, gymnasium and the config reader; rendering to an
    RGB array imports matplotlib (the plots extra) inside the call, never at import."""
    stdlib = set(sys.stdlib_module_names)
    for module, path in MODULES.items():
        if not module.startswith("gainnet_rl.envs"):
            continue
        top_level = {
            (n.module or "") if isinstance(n, ast.ImportFrom) else a.name
            for n in ast.parse(path.read_text()).body
            if isinstance(n, ast.Import | ast.ImportFrom)
            for a in n.names
        }
        for target, _ in _imports(path, module):
            top = target.split(".")[0]
            if top in stdlib or top == "gainnet_rl" or top == "__future__":
                continue
            lazy_plot = module == "gainnet_rl.envs.render" and top == "matplotlib"
            assert top in ENV_DEPS or (lazy_plot and target not in top_level), (
                f"{module} imports {target}: envs/ may use only {sorted(ENV_DEPS)}"
            )


def test_layers_cover_the_tree() -> None:
    folders = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert folders - {"conf"} == {"envs", "agents", "evaluation", "studies"}
    for module in MODULES:
        _rank(module)
