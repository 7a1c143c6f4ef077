"""The calibration ledger (SYSTEM_MODEL 12.10): every number in a scenario
config has a row in docs/calibration_ledger.csv with the same value, its unit,
model, source and date; no row names a number the configs do not hold."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import yaml

from gainnet_rl.envs.config import ROOT_GROUPS, SCENARIO_GROUPS, conf_dir

LEDGER = Path(__file__).resolve().parents[1] / "docs" / "calibration_ledger.csv"


def _numbers(cfg: Any, path: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(cfg, dict):
        for k, v in cfg.items():
            if k != "defaults":
                out += _numbers(v, f"{path}.{k}" if path else str(k))
    elif isinstance(cfg, list):
        flat = [x for r in cfg for x in (r if isinstance(r, list) else [r])]
        if flat and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in flat):
            out.append((path, _text(cfg)))
    elif isinstance(cfg, (int, float)) and not isinstance(cfg, bool):
        out.append((path, _text(cfg)))
    return out


def _text(v: Any) -> str:
    return "[" + ", ".join(_text(x) for x in v) + "]" if isinstance(v, list) else repr(float(v))


def _ledger() -> list[dict[str, str]]:
    with LEDGER.open() as f:
        return list(csv.DictReader(f))


def test_every_config_number_has_a_ledger_row() -> None:
    rows = _ledger()
    index = {(r["parameter"], r["value"]): r["files"].split() for r in rows}
    missing = []
    held = set()
    files = [("scenario", conf_dir() / "scenario_base.yaml", "scenario_base")]
    for group in SCENARIO_GROUPS:
        files += [
            (group, p, f"{group}/{p.stem}") for p in sorted((conf_dir() / group).glob("*.yaml"))
        ]
    for group, path, label in files:
        cfg = yaml.safe_load(path.read_text())
        for param, value in _numbers(cfg if group in ROOT_GROUPS else {group: cfg}):
            held.add((param, value))
            if label not in index.get((param, value), []):
                missing.append(f"{label}: {param} = {value}")
    assert not missing, "config numbers without a ledger row:\n" + "\n".join(missing)
    stale = [f"{p} = {v}" for p, v in index if (p, v) not in held]
    assert not stale, "ledger rows no config holds:\n" + "\n".join(stale)


def test_every_ledger_row_has_unit_source_and_date() -> None:
    for r in _ledger():
        for col in ("unit", "source", "date"):
            assert r[col].strip(), (col, r)
