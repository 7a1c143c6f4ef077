"""Argument checks shared by the pluggable models."""

from __future__ import annotations

import functools
from collections.abc import Callable


def require(block: str, cond: bool, field: str, value: object, allowed: str) -> None:
    """Raise ``ConfigError`` naming ``block.field``, its value and the allowed range."""
    if not cond:
        from gainnet_rl.envs.config import ConfigError

        raise ConfigError(f"{block}.{field}={value!r} is invalid: must be {allowed}")


def checker(block: str) -> Callable[[bool, str, object, str], None]:
    """``require`` bound to a config block name (``channel``, ``mobility``, ...)."""
    return functools.partial(require, block)
