"""The command line of the Hydra-style CLIs that compose instead of running
``@hydra.main`` (``gainnet-baselines``, ``gainnet-evaluate``): help, ``-m``
sweeps expanded into jobs, composition into a typed options object."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from omegaconf import OmegaConf

from gainnet_rl.envs.config import ConfigError, compose, group_options, typed


def help_text(prog: str, doc: str, schema: type) -> str:
    """The CLI's docstring and one line per option of its schema."""
    import dataclasses
    import inspect

    lines = [doc.strip(), "", "Options (key=value; defaults in brackets):"]
    src = inspect.getsource(schema)
    for f in dataclasses.fields(schema):
        marker = f"    {f.name}:"
        doc_line = ""
        if marker in src:
            rest = src.split(marker, 1)[1].split('"""')
            doc_line = " ".join(rest[1].split()) if len(rest) > 2 else ""
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else (f.default_factory() if f.default_factory is not dataclasses.MISSING else "")
        )
        shown = "" if default in ("", "???") else f" [{'null' if default is None else default}]"
        lines.append(f"  {f.name}{shown}: {doc_line}")
    lines += [
        "",
        f"  scenario: one of {group_options('scenario')}; any scenario key as in "
        "gainnet_rl/conf/scenario/*.yaml, e.g. scenario.network.ul_bandwidth_hz=1e7",
        f"  -m / --multirun: sweep comma-separated values, e.g. {prog} -m "
        "scenario=small,medium scenario.load=0.5,1",
    ]
    return "\n".join(lines)


def sweep(overrides: Sequence[str]) -> list[list[str]]:
    """Expand ``-m`` sweep overrides (``a=1,2 b=x,y``, ``range(...)``) into one
    override list per job, in Hydra's basic-sweeper order (the last key fastest)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as exc:
        raise ConfigError(f"overrides {list(overrides)} are invalid: {exc}") from None
    axes = []
    for o in parsed:
        key = o.get_key_element()
        if o.is_sweep_override():
            axes.append([f"{key}={v}" for v in o.sweep_string_iterator()])
        else:
            axes.append([o.input_line])
    return [list(job) for job in itertools.product(*axes)]


def split_args(argv: Sequence[str], positional: str | None = None) -> tuple[list[str], bool, bool]:
    """(overrides, multirun, help) of a command line; the first bare argument
    (after any ``-m``/``--help``) becomes ``<positional>=<arg>`` when
    ``positional`` is given."""
    overrides: list[str] = []
    multirun = show_help = False
    first = next((i for i, a in enumerate(argv) if not a.startswith("-")), -1)
    for i, a in enumerate(argv):
        if a in ("-m", "--multirun"):
            multirun = True
        elif a in ("-h", "--help"):
            show_help = True
        elif a.startswith("-"):
            raise ConfigError(
                f"option {a!r} is unknown: options are key=value Hydra overrides, -m and --help"
            )
        elif "=" not in a and positional is not None and i == first:
            overrides.append(f"{positional}={a}")
        elif "=" not in a:
            raise ConfigError(f"argument {a!r} is invalid: must be a key=value override")
        else:
            overrides.append(a)
    return overrides, multirun, show_help


def typed_config(config_name: str, schema: type, overrides: Sequence[str]) -> Any:
    """Compose ``conf/<config_name>.yaml`` with the overrides and build the typed options."""
    cfg = compose(config_name, overrides)
    OmegaConf.set_struct(cfg, False)
    return typed(schema, cfg)
