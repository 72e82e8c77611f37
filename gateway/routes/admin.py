"""Health and account status, without secrets."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .common import json_response


async def health(request: Request) -> Response:
    state = request.app.state
    accounts = state.pool.status()
    healthy = sum(1 for a in accounts if a["state"] == "healthy")
    store_ok = state.store.healthy()  # an unreachable Redis: chat serves on, jobs and files wait for it
    return json_response({
        "status": "ok" if healthy and store_ok else "degraded",
        "simulated": state.simulated,
        "accounts": {"total": len(accounts), "healthy": healthy},
        "store": {"kind": state.store.kind, "reachable": store_ok},
    })


async def accounts(request: Request) -> Response:
    return json_response({"object": "list", "data": request.app.state.pool.status()})


ROUTES = [Route("/health", health), Route("/v1/accounts", accounts)]
