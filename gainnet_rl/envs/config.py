"""The one config door: scenarios composed by Hydra and turned into :class:`Params`.

Every scenario is a file of the Hydra config group ``scenario``
(``gainnet_rl/conf/scenario``). Its defaults list picks the service catalog
(group ``services``), the channel, mobility and model-row groups, and a
scenario file holds only what differs from ``scenario_base.yaml``. Outside a Hydra
app the scenario is composed here with Hydra's compose API from the primary
config ``conf/env.yaml``; inside one (``gainnet-train``) Hydra has composed it
already and the mapping is passed in. Either way the values are validated in
one place, :func:`gainnet_rl.envs.params.build_params`.

    >>> params = make_params("vehicular", load=1.5,
    ...                      overrides={"network.backhaul_bps": 2e8})
    >>> v1 = make_params("small", version=1)  # GainNet-v1's demand
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

if TYPE_CHECKING:
    from gainnet_rl.envs.params import Params


#: Config groups a scenario is composed of: ``scenario`` files, and the groups
#: their defaults lists place at ``scenario.<group>``.
SCENARIO_GROUPS = ("scenario", "services", "channel", "mobility", "models", "arrivals", "demand")
#: Groups whose files fill the scenario itself (the others sit at ``scenario.<group>``).
ROOT_GROUPS = ("scenario", "demand")


class ConfigError(ValueError):
    """An invalid scenario or env argument. The message names the field,
    the value given and the allowed range."""


def conf_dir() -> Path:
    """Directory of the packaged Hydra configs (``gainnet_rl/conf``)."""
    return Path(str(resources.files("gainnet_rl") / "conf"))


def group_options(group: str) -> list[str]:
    """Names of the packaged configs of a group: the files of ``conf/<group>``
    not starting with ``_``."""
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml") if not p.stem.startswith("_"))


def scenario_names() -> list[str]:
    """Names of the packaged scenarios (``small``, ``medium``, ``large``, ``medical``, ...)."""
    return group_options("scenario")


def compose(config_name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """Compose the packaged primary config ``conf/<config_name>.yaml`` with Hydra.

    Args:
        config_name: ``env`` (a scenario alone), ``train``, ``baselines`` or
            ``evaluate``.
        overrides: Hydra command-line overrides, e.g. ``["scenario=medical",
            "scenario.load=1.5"]``; a scenario's config group is switched with
            its package, e.g. ``"services@scenario.services=vehicular"``.

    An initialised Hydra (inside a Hydra app, or the caller's own) is set
    aside and restored afterwards. Raises :class:`ConfigError` for an
    unknown group option or key, naming it and the allowed values.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import ConfigCompositionException, MissingConfigException

    for ov in overrides:  # a clear message for an unknown option of a packaged group
        key, sep, value = str(ov).partition("=")
        group = key.lstrip("+~").partition("@")[0]  # services@scenario.services=medical
        if sep and group and (conf_dir() / group).is_dir() and "," not in value:
            if value not in group_options(group) and value != "null":
                raise ConfigError(
                    f"{key}={value!r} is unknown: must be one of {group_options(group)}"
                )
    gh = GlobalHydra.instance()
    saved = gh.hydra if gh.is_initialized() else None
    gh.clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            try:
                return hydra_compose(config_name=config_name, overrides=list(overrides))
            except (ConfigCompositionException, MissingConfigException) as err:
                cause = err.__cause__ if err.__cause__ is not None else err
                key = getattr(cause, "full_key", None)
                if key:  # a schema or struct violation of one key
                    first = str(cause).splitlines()[0]
                    rest = [o for o in overrides if not str(o).lstrip("+~").startswith(f"{key}=")]
                    hint = ""
                    if len(rest) < len(overrides):  # the key itself: list its parent's keys
                        try:
                            parent = OmegaConf.select(
                                hydra_compose(config_name=config_name, overrides=rest),
                                key.rpartition(".")[0],
                            )
                            if isinstance(parent, DictConfig):
                                hint = f"; must be one of {sorted(map(str, parent.keys()))}"
                        except Exception:  # the hint is optional
                            hint = ""
                    raise ConfigError(f"{key} is invalid: {first}{hint}") from None
                raise ConfigError(
                    f"overrides {list(overrides)} are invalid: {cause}".replace("\n", " ")
                ) from None
    finally:
        GlobalHydra.instance().clear()
        if saved is not None:
            GlobalHydra.instance().initialize(saved)


def typed(schema: type, cfg: DictConfig | dict[str, Any]) -> Any:
    """``cfg`` checked against a structured-config dataclass and built into it.

    Raises :class:`ConfigError` naming the key for an unknown key, a value of
    the wrong type or one out of range.
    """
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), cfg)
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "config"
        first = str(exc).splitlines()[0]
        raise ConfigError(f"{key} is invalid: {first}") from None


#: GainNet versions: 2 (SYSTEM_MODEL sec. 13, the default) and 1 (sec. 12), which
#: differ only in their demand (the ``demand`` config group: arrivals, episode
#: length, demand history in the observation)
VERSIONS = (1, 2)


def check_version(version: Any) -> int | None:
    """``version`` as an int (None: the scenario's own, v2); ConfigError otherwise."""
    if version is None:
        return None
    if isinstance(version, bool) or version not in VERSIONS:
        raise ConfigError(f"version={version!r} is invalid: must be one of {list(VERSIONS)}")
    return int(version)


@lru_cache(maxsize=32)
def _composed_scenario(name: str, version: int | None = None) -> dict[str, Any]:
    demand = [] if version is None else [f"demand@scenario=v{version}"]
    cfg = compose("env", [f"scenario={name}", *demand]).scenario
    out = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(out, dict)
    return out


def load_scenario(
    scenario: str | Mapping[str, Any] | DictConfig = "small",
    overrides: Mapping[str, Any] | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """Return a scenario config as a plain, resolved dict.

    Args:
        scenario: a packaged scenario name (``small``, ``medium``, ``large``, ...),
            composed by Hydra, or a full config mapping (e.g. Hydra's
            ``cfg.scenario``).
        overrides: dotted keys to set on top, e.g. ``{"load": 1.5,
            "network.edge_memory_gb": 16}``, applied in order. Setting a model's
            ``_target_`` (``"mobility._target_"``) to another class replaces that
            model's block, so its arguments start from the class defaults.
        version: ``1`` or ``2`` picks that version's demand for a packaged
            scenario (None: the scenario's own, v2); a config mapping states
            its own (its ``version`` key), which must then be the same.
    """
    version = check_version(version)
    if isinstance(scenario, str):
        if scenario not in scenario_names():
            raise ConfigError(
                f"scenario={scenario!r} is unknown: must be one of {scenario_names()}"
            )
        base: Any = copy.deepcopy(_composed_scenario(scenario, version))
    elif isinstance(scenario, DictConfig):
        base = OmegaConf.to_container(scenario, resolve=True)
    elif isinstance(scenario, Mapping):
        base = copy.deepcopy(dict(scenario))
    else:
        raise ConfigError(
            f"scenario={scenario!r} is invalid: must be a scenario name {scenario_names()} "
            "or a config mapping"
        )
    if not isinstance(scenario, str) and version is not None:
        own = base.get("version", 1)  # configs written before v2 hold v1's demand
        if own != version:
            raise ConfigError(
                f"version={version!r} is invalid with this config mapping: it states "
                f"GainNet-v{own}'s demand (its version key); build it with "
                f"load_scenario(name, version={version}) or use the -v{own} ids"
            )
    cfg = OmegaConf.create(base)
    OmegaConf.set_struct(cfg, True)
    for key, value in (overrides or {}).items():
        _override(cfg, str(key), value)
    OmegaConf.set_struct(cfg, False)
    out = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(out, dict)
    return out


def _override(cfg: DictConfig, key: str, value: Any) -> None:
    """Set one dotted key of a struct config; an unknown key is a ConfigError."""
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else None
    if leaf == "_target_" and isinstance(node, DictConfig) and node.get(leaf) != value:
        # A different model class: its arguments replace the old model's
        # (set them with further overrides, e.g. "mobility.lanes").
        OmegaConf.set_struct(cfg, False)
        OmegaConf.update(cfg, parent, {"_target_": value}, merge=False)
        OmegaConf.set_struct(cfg, True)
        OmegaConf.set_struct(OmegaConf.select(cfg, parent), False)  # its arguments may follow
        return
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


def make_params(
    scenario: str | Mapping[str, Any] | DictConfig = "small",
    load: float | None = None,
    overrides: Mapping[str, Any] | None = None,
    version: int | None = None,
) -> Params:
    """Compose, override and validate a scenario into :class:`~gainnet_rl.envs.params.Params`.

    Args:
        scenario: as :func:`load_scenario`.
        load: the offered load (``scenario.load``), if given (it wins over
            ``overrides["load"]``); >= 0.
        overrides: as :func:`load_scenario`.
        version: as :func:`load_scenario` (1 or 2; None: v2).
    """
    from gainnet_rl.envs.params import build_params  # params imports ConfigError from here

    ov = dict(overrides or {})
    if load is not None:
        ov["load"] = load
    return build_params(load_scenario(scenario, ov, version))
