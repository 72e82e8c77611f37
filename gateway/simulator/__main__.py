"""`python -m gateway.simulator --port N [--host H] [--speed F] [--rtt S] [--strict-headers] [--era E]`."""

from __future__ import annotations

import argparse

import uvicorn

from .app import build_simulator
from .options import ERAS, SimOptions


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway.simulator", description="Qwen Chat API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--speed", type=float, default=1.0, help="multiplies every simulated delay (0: none)")
    parser.add_argument("--rtt", type=float, default=0.0,
                        help="seconds of network round trip added to every HTTP call (not scaled by --speed)")
    parser.add_argument("--era", choices=ERAS, default="summary", help="thinking stream era")
    parser.add_argument("--strict-headers", action="store_true", help="writes need `version` and the token cookie")
    parser.add_argument("--require-bx-ua", action="store_true", help="writes without `bx-ua` get the WAF page")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    options = SimOptions(
        speed=args.speed, era=args.era, strict_headers=args.strict_headers, require_bx_ua=args.require_bx_ua,
        rtt=args.rtt,
    )
    uvicorn.run(build_simulator(options), host=args.host, port=args.port, log_level=args.log_level,
                lifespan="off", timeout_graceful_shutdown=2)


if __name__ == "__main__":
    main()
