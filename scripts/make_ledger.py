"""Write docs/calibration_ledger.csv from the scenario configs (SYSTEM_MODEL 12.10).

One row per (parameter, value) of every number in the config groups a scenario is
composed of (``gainnet_rl/conf/scenario_base.yaml`` and
``gainnet_rl/conf/{scenario,services,channel,mobility,models,arrivals,demand}/*.yaml``):
file(s) (``group/name``), parameter (dotted path in the composed scenario, e.g.
``services.text.share``), value, unit, model (the row of the model
catalog, or the service/tier it belongs to), source (the YAML's own comment
for that line, or of the block it sits in), date (of the source; the date a
value was assumed). Run it after changing a config, then review the diff:

    python scripts/make_ledger.py          # rewrite the ledger
    python scripts/make_ledger.py --check  # exit 1 if it would change

``tests/test_ledger.py`` checks that every config number has its row.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "gainnet_rl" / "conf"
#: as gainnet_rl.envs.config.SCENARIO_GROUPS (not imported: the script runs without the package)
GROUPS = ("scenario", "services", "channel", "mobility", "models", "arrivals", "demand")
ROOT_GROUPS = ("scenario", "demand")  # as gainnet_rl.envs.config.ROOT_GROUPS
LEDGER = ROOT / "docs" / "calibration_ledger.csv"
ASSUMED_DATE = "2026-12 (assumed)"
COLUMNS = ("files", "parameter", "value", "unit", "model", "source", "date")

#: Unit from the parameter's last segment (suffix match, longest first).
UNITS = [
    ("_dbm_per_hz", "dBm/Hz"),
    ("_dbm", "dBm"),
    ("_db", "dB"),
    ("_hz", "Hz"),
    ("_bps", "bit/s"),
    ("_bits", "bit"),
    ("_mbit", "Mbit"),
    ("_gb", "GB"),
    ("_w", "W"),
    ("_mps", "m/s"),
    ("_m", "m"),
    ("deadline_s", "s"),
    ("s_per_step_b1", "s"),
    ("s_per_image", "s"),
    ("prefill_tok_s", "token/s"),
    ("_s", "s"),
    ("_tflops", "TFLOP/s"),
    ("tok_s_b1", "token/s"),
    ("tok_s_b8", "token/s (aggregate)"),
    ("tok_per_s", "token/s"),
    ("tok_s", "token/s"),
    ("usd_per_mtok_in", "$ per 1e6 tokens"),
    ("usd_per_mtok_out", "$ per 1e6 tokens"),
    ("usd_per_image", "$"),
    ("_tokens", "token"),
    ("tokens_per_mbit", "token/Mbit"),
    ("bits_per_token", "bit/token"),
    ("params_b", "1e9 parameters"),
    ("weight_bits", "bit/parameter"),
    ("gflops_per_step", "GFLOP"),
    ("device_kappa", "J/(cycle Hz^2)"),
    ("device_flops_per_cycle", "FLOP/cycle"),
    ("w_quality", "reward per unit quality"),
    ("w_latency", "reward per s"),
    ("w_energy", "reward per J"),
    ("w_cloud_cost", "reward per $"),
    ("w_drop", "reward per request"),
    ("w_invalid", "reward per action"),
    ("kv_bytes", "byte"),
]

#: Source dates, by a substring of the source comment.
DATES = [
    ("TR 36.942", "3GPP TR 36.942 V17.0.0 (2022-03)"),
    ("TR 36.885", "3GPP TR 36.885 V14.0.0 (2016-06)"),
    ("TR 38.901", "3GPP TR 38.901 V17.1.0 (2024-01)"),
    ("TS 36.101", "3GPP TS 36.101 (2024)"),
    ("TS 36.133", "3GPP TS 36.133 V17 (2024)"),
    ("TS 38.133", "3GPP TS 38.133 V17 (2024)"),
    ("TS 38.101", "3GPP TS 38.101-1 (2024)"),
    ("TS 36.306", "3GPP TS 36.306 (2024)"),
    ("TensorRT-Edge-LLM", "2025"),
    ("Thor T5000 datasheet", "2025"),
    ("(NVIDIA 2025)", "2025"),
    ("config.json", "2024-2025 (model cards)"),
    ("Gudmundson", "1991"),
    ("LyDROO", "2021"),
    ("ACI-Bench", "2023"),
    ("ClinicalNLP 2023", "2023"),
    ("AGOD", "2024"),
    ("Artificial Analysis", "2025"),
    ("price list", "2025 (OpenAI API pricing)"),
    ("Kajiwara", "1992"),
    ("RTX 3060", "2023 (community benchmarks)"),
    ("H.264", "2024 (encoder practice)"),
    ("16-bit PCM", "(definition)"),
    ("Splitwise", "2024 (Azure LLM inference trace 2023)"),
    ("Azure", "2023 (Azure LLM inference trace)"),
    ("ModServe", "2025"),
    ("sec. ", "SYSTEM_MODEL.md (2026)"),
]


def config_files() -> list[tuple[str, Path, str]]:
    """(file label ``group/name``, path, key prefix in the composed scenario) of every
    scenario config file: a group file is placed at ``scenario.<group>``."""
    out = [("scenario_base", CONF / "scenario_base.yaml", "")]  # the shared defaults
    for group in GROUPS:
        prefix = "" if group in ROOT_GROUPS else group
        for path in sorted((CONF / group).glob("*.yaml")):
            out.append((f"{group}/{path.stem}", path, prefix))
    return out


def load(path: Path, prefix: str) -> dict[str, Any]:
    """A config file as the part of the composed scenario it fills."""
    cfg = yaml.safe_load(path.read_text()) or {}
    return {prefix: cfg} if prefix else cfg


def _comments(path: Path, prefix: str = "") -> dict[str, str]:
    """Dotted key -> the comment on its line, else the comment lines just above
    it in its block, else its block's comment."""
    out: dict[str, str] = {}
    stack: list[tuple[int, str]] = [(-1, prefix)] if prefix else []
    block_comment: dict[str, str] = {}
    above: list[str] = []  # full-line comments since the last key of this block
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("# ").strip())
            continue
        line = raw.split(" #", 1)
        body, comment = line[0], (line[1].strip() if len(line) > 1 else "")
        if not body.strip():
            above = []  # a blank line ends a comment block
            continue
        indent = len(body) - len(body.lstrip())
        m = re.match(r"\s*([A-Za-z0-9_]+):", body)
        if not m:
            continue
        key = m.group(1)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        dotted = ".".join([k for _, k in stack] + [key])
        parent = ".".join(k for _, k in stack)
        if prefix and indent == 0 and prefix not in block_comment:
            # a group file: the comment above its first key describes the whole file
            block_comment[prefix] = " ".join(above)
            above = []
        mine = comment or " ".join(above) or block_comment.get(parent, "")
        out[dotted] = mine
        if body.rstrip().endswith(":") or body.rstrip().endswith(": >-"):
            stack.append((indent, key))
            block_comment[dotted] = mine
            above = []
        elif "{" in body:  # a flow mapping: its keys share the line's comment
            block_comment[dotted] = mine
            for sub in re.findall(r"([A-Za-z0-9_]+):", body.split(":", 1)[1]):
                out[f"{dotted}.{sub}"] = mine
        if comment:
            above = []
    return out


def numbers(cfg: Any, path: str = "") -> list[tuple[str, Any]]:
    """(dotted path, value) of every number or list of numbers in a config."""
    out: list[tuple[str, Any]] = []
    if isinstance(cfg, dict):
        for k, v in cfg.items():
            if k == "defaults":
                continue
            out += numbers(v, f"{path}.{k}" if path else str(k))
    elif isinstance(cfg, list):
        flat = [x for r in cfg for x in (r if isinstance(r, list) else [r])]
        if flat and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in flat):
            out.append((path, cfg))
    elif isinstance(cfg, (int, float)) and not isinstance(cfg, bool):
        out.append((path, cfg))
    return out


def fmt(value: Any) -> str:
    """Canonical text of a value (the test compares it)."""
    if isinstance(value, list):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return repr(float(value))


def _unit(param: str) -> str:
    leaf = param.rsplit(".", 1)[-1]
    for suffix, unit in UNITS:
        if leaf.endswith(suffix):
            return unit
    return "1"


def _model(param: str, cfg: dict[str, Any]) -> str:
    parts = param.split(".")
    if parts[0] == "models":
        return parts[1]
    if parts[0] == "services" and len(parts) > 3 and parts[2] == "tiers":
        tier = cfg["services"][parts[1]]["tiers"][parts[3]]
        return f"{parts[1]}/{parts[3]}: {tier.get('model', '')}"
    if parts[0] == "services" and len(parts) > 2 and parts[2] == "cloud":
        return f"{parts[1]}/cloud: {cfg['services'][parts[1]]['cloud'].get('model', '')}"
    if parts[0] == "services":
        return parts[1]
    return parts[0] if len(parts) > 1 else ""


def _date(source: str) -> str:
    if "assumed" in source or not source:
        return ASSUMED_DATE
    for key, date in DATES:
        if key in source:
            return date
    return "(definition)"


def rows() -> list[dict[str, str]]:
    table: dict[tuple[str, str], dict[str, str]] = {}
    for label, path, prefix in config_files():
        cfg = load(path, prefix)
        comments = _comments(path, prefix)
        for param, value in numbers(cfg):
            key = (param, fmt(value))
            source = comments.get(param, "") or "(assumed)"
            if key in table:
                table[key]["files"] += f" {label}"
                continue
            table[key] = {
                "files": label,
                "parameter": param,
                "value": fmt(value),
                "unit": _unit(param),
                "model": _model(param, cfg),
                "source": source,
                "date": _date(source),
            }
    return sorted(table.values(), key=lambda r: (r["parameter"], r["files"]))


def render(table: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(table)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the ledger would change")
    args = ap.parse_args(argv)
    text = render(rows())
    if args.check:
        same = LEDGER.is_file() and LEDGER.read_text() == text
        print("ledger up to date" if same else "ledger out of date: run scripts/make_ledger.py")
        return 0 if same else 1
    tmp = LEDGER.with_suffix(".csv.tmp")
    tmp.write_text(text)
    tmp.replace(LEDGER)
    print(f"wrote {LEDGER} ({text.count(chr(10)) - 1} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
