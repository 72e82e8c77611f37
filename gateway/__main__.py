"""`python -m gateway --config config.yaml`: settings → app → uvicorn."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from dataclasses import replace

import uvicorn

from .app import build_app
from .config import ConfigError, settings_from_command_line
from .connections import with_head_timeout
from .logs import configure_logging

log = logging.getLogger("gateway")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway", description="OpenAI-compatible gateway for Qwen Chat")
    parser.add_argument("--config", help="YAML settings file (default: GATEWAY_CONFIG, else config.yaml if present);"
                        " config.local.yaml beside it is laid over it")
    parser.add_argument("--host", help="listen address (overrides config and GATEWAY_HOST)")
    parser.add_argument("--port", type=int, help="listen port (overrides config and GATEWAY_PORT)")
    parser.add_argument("--simulate", action="store_true", help="serve from the built-in Qwen simulator")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["doctor"]:
        from .doctor import main as doctor_main

        return doctor_main(argv[1:])
    args = parser.parse_args(argv)
    try:
        settings = settings_from_command_line(args.config, os.environ)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    if args.simulate:
        overrides["simulate"] = True
    settings = replace(settings, **overrides)
    configure_logging(settings.log_level, settings.log_format)
    if not settings.api_keys and not _is_loopback(settings.host):
        log.warning("CLIENT AUTH IS OFF on %s, which is not a loopback address: anyone who can reach port %d can "
                    "spend these Qwen accounts. Set GATEWAY_API_KEYS (or api_keys in config.yaml).",
                    settings.host, settings.port)
    try:
        app = build_app(settings)  # opens the state store: an unwritable SQLite path stops here
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, loop="uvloop",
        http=with_head_timeout(settings.limits.head_timeout), limit_concurrency=settings.limits.max_connections,
        log_level=settings.log_level, access_log=False, log_config=_uvicorn_log_config(),
        proxy_headers=False,  # nothing reads the client's address: no X-Forwarded-* layer around each request
        timeout_graceful_shutdown=int(settings.timeouts.shutdown_grace) + 5,
    )
    uvicorn.Server(config).run()
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def _uvicorn_log_config() -> dict[str, object]:
    """uvicorn's loggers write through the root handler, so its lines are escaped too."""
    return {"version": 1, "disable_existing_loggers": False,
            "loggers": {name: {"handlers": [], "propagate": True} for name in ("uvicorn", "uvicorn.error")}}


if __name__ == "__main__":
    sys.exit(main())
