"""The start-up report: one block saying where the gateway listens, what it serves from, whether
clients must authenticate, where state lives and which version runs. Never a token."""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlsplit

from .config import Settings
from .status_page import admin_key

log = logging.getLogger("gateway")


def gateway_version() -> str:
    try:
        return version("qwen-gateway")
    except PackageNotFoundError:
        return "unknown"


def store_label(url: str) -> str:
    """The store's kind and place, without a password a redis:// URL may carry."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return f"sqlite ({url.partition('sqlite:///')[2] or url})"
    if parts.scheme in ("redis", "rediss"):
        return f"{parts.scheme} ({parts.hostname}:{parts.port or 6379}{parts.path})"
    return parts.scheme or url


def report(settings: Settings, simulated: bool, accounts: list[dict[str, Any]], store_kind: str) -> list[str]:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    if simulated:
        mode = "simulator (canned answers from the built-in Qwen simulator; no account configured)"
    else:
        states = ", ".join(f"{a['id']} {a['state']}" for a in accounts)
        mode = f"{len(accounts)} Qwen account{'s' if len(accounts) != 1 else ''} ({states})"
    auth = f"on ({len(settings.api_keys)} key{'s' if len(settings.api_keys) != 1 else ''})" if settings.api_keys \
        else "off (no api_keys: anyone who reaches the port can call it)"
    store = store_label(settings.state_url) if store_kind != "memory" or settings.state_url.startswith("memory") \
        else store_kind
    return [
        f"Qwen Gateway {gateway_version()} listening on http://{host}:{settings.port}",
        f"  mode: {mode}",
        f"  client auth: {auth}",
        f"  state store: {store}",
        f"  health: /health, /health/ready; metrics: {'/metrics' if settings.metrics else 'off'}; "
        f"status page: {'/status' if admin_key() else 'off (set GATEWAY_ADMIN_KEY to serve /status)'}",
    ]


def log_report(settings: Settings, simulated: bool, accounts: list[dict[str, Any]], store_kind: str) -> None:
    for line in report(settings, simulated, accounts, store_kind):
        log.info("%s", line)
