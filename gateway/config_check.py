"""Reading config files loudly: a missing file, an unknown key or a value of the wrong type is one
clear line naming the key's path, never a traceback or a silent default.

`config.local.yaml` next to the config file is laid over it (mappings merged key by key, anything
else replaced), so tokens can live in a git-ignored file while `config.yaml` stays tracked.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import typing
from pathlib import Path
from typing import Any

import yaml

from .config import (
    AccountSettings,
    ConfigError,
    ConversationSettings,
    Cooldowns,
    Limits,
    MediaSettings,
    Settings,
    Timeouts,
    UpstreamSettings,
    VideoSettings,
)

SECTIONS: dict[str, type] = {
    "timeouts": Timeouts, "cooldowns": Cooldowns, "video": VideoSettings, "media": MediaSettings,
    "limits": Limits, "upstream": UpstreamSettings, "conversation": ConversationSettings,
}
LOCAL_NAME = "config.local.yaml"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("text", "json")


def read_config(path: str | os.PathLike[str] | None, required: bool) -> dict[str, Any]:
    """The file's mapping with `config.local.yaml` (same folder) over it; `required`: a missing file is an error."""
    if path is None:
        return {}
    path = Path(path)
    if not path.exists():
        if required:
            raise ConfigError(f"{path}: no such config file (GATEWAY_CONFIG or --config names it)")
        return {}
    raw = _read(path)
    local = path.with_name(LOCAL_NAME)
    if local.exists() and local.resolve() != path.resolve():
        raw = _merge(raw, _read(local))
    return raw


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return raw


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def check_raw(raw: dict[str, Any], types: bool = False) -> None:
    """Unknown keys (with the nearest known one); `types`: also values of the wrong type."""
    _check_mapping(raw, Settings, "", types)
    for name, cls in SECTIONS.items():
        if isinstance(raw.get(name), dict):
            _check_mapping(raw[name], cls, name + ".", types)
    accounts = raw.get("accounts")
    if isinstance(accounts, list):
        for index, account in enumerate(accounts, 1):
            if isinstance(account, dict):
                # Its values have their own rules (cookies: a string or a map) in config._account.
                _check_mapping(account, AccountSettings, f"accounts[{index}].", False)
    level = raw.get("log_level")
    if level is not None and str(level).lower() not in LOG_LEVELS:
        raise ConfigError(f"log_level: {level!r} is not one of {', '.join(LOG_LEVELS)}")
    fmt = raw.get("log_format")
    if fmt is not None and fmt not in LOG_FORMATS:
        raise ConfigError(f"log_format: {fmt!r} is not one of {', '.join(LOG_FORMATS)}")


def _check_mapping(raw: dict[str, Any], cls: type, prefix: str, types: bool) -> None:
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    for key, value in raw.items():
        if key not in known:
            near = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {prefix}{near[0]}?)" if near else ""
            raise ConfigError(f"{prefix}{key}: unknown config key{hint}")
        problem = _type_problem(hints[key], value) if types else None
        if problem:
            raise ConfigError(f"{prefix}{key}: must be {problem}, not {value!r}")


def _type_problem(hint: Any, value: Any) -> str | None:
    """What a plain scalar field wants, when `value` is not that; None when fine or not a scalar field."""
    if value is None:
        return None
    if hint is bool:
        return None if isinstance(value, bool) else "true or false"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "a whole number"
    if hint is float:
        return None if isinstance(value, int | float) and not isinstance(value, bool) else "a number"
    if hint is str:
        return None if isinstance(value, str | int | float) and not isinstance(value, bool) else "a string"
    return None
