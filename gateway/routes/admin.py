"""Health and account status, without secrets."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..schemas import (
    ChatCompletionBody,
    ImageGenerationBody,
    LegacyChatBody,
    VideoBody,
    openapi,
)
from .common import json_response

OPENAPI = openapi({
    "POST /v1/chat/completions": ChatCompletionBody,
    "POST /v1/images/generations": ImageGenerationBody,
    "POST /v1/videos": VideoBody,
    "POST /api/chat": LegacyChatBody,
    "POST /api/chat/completions": ChatCompletionBody,
})


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


async def openapi_json(request: Request) -> Response:
    """The request bodies the gateway validates, for clients and fuzzers."""
    return json_response(OPENAPI)


ROUTES = [Route("/health", health), Route("/v1/accounts", accounts), Route("/openapi.json", openapi_json)]
