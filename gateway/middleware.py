"""Pure-ASGI middleware (never BaseHTTPMiddleware: it hides client disconnects).

RequestLog gives each request an id (`x-request-id`, read by the openai client into
`.request_id`) and writes one structured line when it ends. ApiKeyAuth checks the
Bearer key in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import AuthenticationFailed
from .ids import uuid4_hex

log = logging.getLogger("gateway.access")
OPEN_PATHS = frozenset({"/health", "/health/ready", "/metrics", "/", "/openapi.json"})


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req_{uuid4_hex()}"
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            elif "first_byte" not in state and message.get("more_body") and message.get("body"):
                state["first_byte"] = time.perf_counter() - started  # a stream's first chunk: /metrics
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            upstream_ms = state.get("upstream_ms")
            log.info(
                "request id=%s method=%s path=%s status=%s model=%s account=%s ms=%.1f upstream_ms=%s",
                request_id, scope["method"], scope["path"], status or "-",
                state.get("model", "-"), state.get("account", "-"), elapsed * 1000,
                f"{upstream_ms:.1f}" if upstream_ms is not None else "-",
                extra={"request_id": request_id, "method": scope["method"], "path": scope["path"],
                       "status": status or None, "model": state.get("model"), "account": state.get("account"),
                       "duration_ms": round(elapsed * 1000, 1), "upstream_ms": upstream_ms,
                       "first_token_ms": round(state["first_byte"] * 1000, 1) if "first_byte" in state else None},
            )
            metrics = getattr(scope["app"].state, "metrics", None) if "app" in scope else None
            if metrics is not None:
                if "translator" in state:
                    state["usage"] = state["translator"].usage()
                metrics.request(scope, status, state, elapsed)


class ApiKeyAuth:
    def __init__(self, app: ASGIApp, keys: Sequence[str]) -> None:
        self.app = app
        self.keys = [k.encode() for k in keys]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or scope["path"] in OPEN_PATHS \
                or scope["path"].startswith("/status"):  # the status page checks GATEWAY_ADMIN_KEY itself
            await self.app(scope, receive, send)
            return
        presented = self._allowed(scope)
        if presented is None:
            error = AuthenticationFailed("Incorrect API key provided. Pass it as 'Authorization: Bearer <key>'.")
            body = error.render()
            await send({
                "type": "http.response.start",
                "status": error.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            })
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})["owner"] = owner_id(presented)
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bytes | None:
        """The presented key if it is one of ours, else None."""
        presented = b""
        for name, value in scope["headers"]:
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                presented = value[7:].strip()
            elif name == b"x-api-key" and not presented:
                presented = value.strip()
        # Compare with every key so the time taken says nothing about which one matched.
        matches = [hmac.compare_digest(presented, key) for key in self.keys]
        return presented if any(matches) else None


def owner_id(api_key: bytes) -> str:
    """Who owns what a request creates (files, videos, responses): a digest of its API key, never the key.

    Without client auth every request has the empty owner, so everything is shared.
    """
    return hashlib.sha256(api_key).hexdigest()[:24]


def request_owner(scope: Scope) -> str:
    """The owner id of a request: set by ApiKeyAuth, "" when client auth is off."""
    owner: str = scope.get("state", {}).get("owner", "")
    return owner
