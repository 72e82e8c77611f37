"""`python -m gateway --config config.yaml`: settings → app → uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import replace

import uvicorn

from .app import build_app
from .config import ConfigError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway", description="OpenAI-compatible gateway for Qwen Chat")
    parser.add_argument("--config", default="config.yaml", help="YAML settings file (default: config.yaml)")
    parser.add_argument("--host", help="listen address (overrides config and GATEWAY_HOST)")
    parser.add_argument("--port", type=int, help="listen port (overrides config and GATEWAY_PORT)")
    parser.add_argument("--simulate", action="store_true", help="serve from the built-in Qwen simulator")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config, os.environ)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    if args.simulate:
        overrides["simulate"] = True
    settings = replace(settings, **overrides)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        app = build_app(settings)  # opens the state store: an unwritable SQLite path stops here
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, loop="uvloop", http="httptools",
        log_level=settings.log_level, access_log=False,
        timeout_graceful_shutdown=int(settings.timeouts.shutdown_grace) + 5,
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
