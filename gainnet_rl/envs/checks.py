"""Validation of scenario configs: every check raises :class:`ConfigError`
naming the field, the value given and the allowed range (never a numpy
traceback, never silent clipping)."""

from __future__ import annotations

import inspect
import math
from typing import Any

from hydra.utils import get_class

from gainnet_rl.envs.config import ConfigError


def fail(field: str, value: object, allowed: str) -> None:
    raise ConfigError(f"{field}={value!r} is invalid: must be {allowed}")


def check_finite(cfg: Any, path: str = "") -> None:
    """Raise ConfigError naming the first NaN or infinite number anywhere in ``cfg``."""
    if isinstance(cfg, dict):
        for k, v in cfg.items():
            check_finite(v, f"{path}.{k}" if path else str(k))
    elif isinstance(cfg, (list, tuple)):
        for i, v in enumerate(cfg):
            check_finite(v, f"{path}[{i}]")
    elif isinstance(cfg, float) and not math.isfinite(cfg):
        fail(path, cfg, "a finite number")


def num(
    cfg: dict[str, Any],
    key: str,
    field: str,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    integer: bool = False,
) -> float:
    if key not in cfg:
        raise ConfigError(f"{field} is missing from the scenario config")
    return val(cfg[key], field, lo, hi, lo_open, integer)


def val(
    v: Any,
    field: str,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    integer: bool = False,
) -> float:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if integer:
        ok = ok and float(v).is_integer()
    rng_txt = ("an integer " if integer else "a finite number ") + (
        f"{'>' if lo_open else '>='} {lo}" if lo is not None else ""
    )
    if hi is not None:
        rng_txt += f" and <= {hi}"
    if not ok:
        fail(field, v, rng_txt.strip())
    if lo is not None and (v <= lo if lo_open else v < lo):
        fail(field, v, rng_txt)
    if hi is not None and v > hi:
        fail(field, v, rng_txt)
    return int(v) if integer else float(v)


def pair(
    cfg: dict[str, Any], key: str, field: str, lo: float, lo_open: bool = False
) -> tuple[float, float]:
    v = cfg.get(key)
    if not (isinstance(v, (list, tuple)) and len(v) == 2):
        fail(field, v, "a [low, high] pair")
    a = val(v[0], f"{field}[0]", lo=lo, lo_open=lo_open)
    b = val(v[1], f"{field}[1]", lo=a)
    return a, b


def mapping(cfg: dict[str, Any], key: str, field: str) -> dict[str, Any]:
    v = cfg.get(key)
    if not isinstance(v, dict):
        fail(field, v, "a mapping")
    return dict(v)


def build_model(cfg: dict[str, Any], key: str, base: type) -> Any:
    sub = dict(cfg.get(key) or {})
    target = sub.pop("_target_", None)
    if not isinstance(target, str):
        fail(f"{key}._target_", target, f"the import path of a {base.__name__} subclass")
    try:
        cls = get_class(target)
    except Exception:
        fail(f"{key}._target_", target, f"an importable {base.__name__} subclass")
    if not (isinstance(cls, type) and issubclass(cls, base)):
        fail(f"{key}._target_", target, f"a {base.__name__} subclass")
    # numeric arguments (annotated float or int) must be finite numbers
    for arg, param in inspect.signature(cls.__init__).parameters.items():
        ann = str(param.annotation)
        if arg in sub and ann.split(" |")[0] in ("float", "int"):
            v = sub[arg]
            if v is None and "None" in ann:
                continue
            val(v, f"{key}.{arg}", integer=ann.startswith("int"))
    try:
        return cls(**sub)
    except TypeError as exc:
        raise ConfigError(f"{key}: {exc}") from None
