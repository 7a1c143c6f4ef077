"""Scenario configs: find, load and merge the YAML files under ``gainnet_rl/conf``.

The same files form the Hydra config group ``scenario`` used by the training
CLI. Outside Hydra they are loaded here with OmegaConf, honouring the one
Hydra feature they use: a ``defaults`` list naming sibling files of the same
group, merged in order, ``_self_`` marking where the file itself goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


class ConfigError(ValueError):
    """An invalid scenario or env argument. The message names the field,
    the value given and the allowed range."""


def conf_dir() -> Path:
    """Directory of the packaged Hydra configs (``gainnet_rl/conf``)."""
    return Path(str(resources.files("gainnet_rl") / "conf"))


def scenario_names() -> list[str]:
    """Names of the packaged scenarios (files of ``conf/scenario`` not starting with ``_``)."""
    return sorted(
        p.stem for p in (conf_dir() / "scenario").glob("*.yaml") if not p.stem.startswith("_")
    )


def load_group_file(group: str, name: str) -> DictConfig:
    """The packaged config ``conf/<group>/<name>.yaml`` with its ``defaults`` merged."""
    path = conf_dir() / group / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yaml") if not p.stem.startswith("_"))
        raise ConfigError(f"{group}={name!r} is unknown: must be one of {known}")
    raw = OmegaConf.load(path)
    assert isinstance(raw, DictConfig)
    defaults = raw.pop("defaults", None)
    if defaults is None:
        return raw
    merged = OmegaConf.create({})
    self_done = False
    for entry in defaults:
        if entry == "_self_":
            merged = OmegaConf.merge(merged, raw)
            self_done = True
        else:
            merged = OmegaConf.merge(merged, load_group_file(group, str(entry)))
    if not self_done:
        merged = OmegaConf.merge(merged, raw)
    assert isinstance(merged, DictConfig)
    return merged


def load_scenario(
    scenario: str | Mapping[str, Any] | DictConfig = "small",
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a scenario config as a plain, resolved dict.

    Args:
        scenario: a packaged scenario name (``small``, ``medium``, ``large``, ...)
            or a full config mapping (e.g. Hydra's ``cfg.scenario``).
        overrides: dotted keys to set on top, e.g. ``{"load": 1.5,
            "network.edge_memory_gb": 16}``, applied in order. Setting a model's
            ``_target_`` (``"mobility._target_"``) to another class replaces that
            model's block, so its arguments start from the class defaults.
    """
    if isinstance(scenario, str):
        cfg = load_group_file("scenario", scenario)
    elif isinstance(scenario, (Mapping, DictConfig)):
        cfg = OmegaConf.create(
            OmegaConf.to_container(scenario, resolve=True)
            if isinstance(scenario, DictConfig)
            else dict(scenario)
        )
    else:
        raise ConfigError(
            f"scenario={scenario!r} is invalid: must be a scenario name {scenario_names()} "
            "or a config mapping"
        )
    OmegaConf.set_struct(cfg, True)
    for key, value in (overrides or {}).items():
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else None
        if leaf == "_target_" and isinstance(node, DictConfig) and node.get(leaf) != value:
            # A different model class: its arguments replace the old model's
            # (set them with further overrides, e.g. "mobility.lanes").
            OmegaConf.set_struct(cfg, False)
            OmegaConf.update(cfg, parent, {"_target_": value}, merge=False)
            OmegaConf.set_struct(cfg, True)
            OmegaConf.set_struct(OmegaConf.select(cfg, parent), False)  # its arguments may follow
            continue
        try:
            OmegaConf.update(cfg, key, value, merge=True)
        except Exception:  # omegaconf raises several types for unknown keys
            node, parts, where, leaf = cfg, key.split("."), "the scenario config", key
            for i, part in enumerate(parts):  # find the first segment that does not exist
                if not (isinstance(node, DictConfig) and part in node) or i == len(parts) - 1:
                    leaf = part
                    break
                node, where = node[part], ".".join(parts[: i + 1])
            known = sorted(node.keys()) if isinstance(node, DictConfig) else []
            raise ConfigError(
                f"override {key}={value!r} is invalid: {leaf!r} is not a key of {where}; "
                f"must be one of {known}"
            ) from None
    OmegaConf.set_struct(cfg, False)
    out = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(out, dict)
    return out
