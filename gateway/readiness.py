"""`GET /health/ready`: can this replica serve a chat now? 200, or 503 with the reasons.

`/health` stays liveness (the process answers). Readiness fails when no account is usable,
the state store is unreachable, or Qwen has not answered any probe for `upstream.unreachable_after`
seconds: one failed probe is not enough to pull a replica out of a load balancer. The probe is
`QwenClient.reachable` on one of the pool's clients (its session, proxy and error mapping), and
its outcome is not held against that account: it tests the network, not the account's token.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .accounts import AccountPool
from .errors import UpstreamError
from .routes.common import json_response

log = logging.getLogger("gateway")
PROBE_EVERY = 10.0  # seconds a probe's answer is reused: a busy health checker must not hammer Qwen
PROBE_TIMEOUT = 5.0


class UpstreamProbe:
    """Any HTTP answer from the upstream's base URL means it is reachable (even a 401 or a WAF page)."""

    def __init__(self, pool: AccountPool, unreachable_after: float) -> None:
        self.pool = pool
        self.unreachable_after = unreachable_after
        self.last_ok = time.monotonic()  # a fresh replica gets the whole window before it is failed
        self.last_error = ""
        self._probed = 0.0

    async def reachable(self) -> bool:
        now = time.monotonic()
        if now - self._probed >= PROBE_EVERY or self.last_error:
            self._probed = now
            await self._probe()
        return not self.last_error or time.monotonic() - self.last_ok < self.unreachable_after

    async def _probe(self) -> None:
        accounts = self.pool.status()
        # A healthy account's client if any (its proxy is the one serving), else the first.
        chosen = next((a["id"] for a in accounts if a["state"] == "healthy"), accounts[0]["id"] if accounts else None)
        client = self.pool.client(chosen) if chosen is not None else None
        if client is None:
            return  # no account at all: `no_usable_account` says so
        try:
            await client.reachable(PROBE_TIMEOUT)
        except UpstreamError as error:
            if not self.last_error:  # logged once per outage, not on every health check
                log.warning("readiness probe: %s", error.message)
            self.last_error = error.message
            return
        self.last_ok = time.monotonic()
        self.last_error = ""


async def ready(request: Request) -> Response:
    state = request.app.state
    reasons: list[dict[str, Any]] = []
    accounts = state.pool.status()
    if not any(a["state"] == "healthy" for a in accounts):
        states = ", ".join(f"{a['id']}: {a['state']}" for a in accounts) or "none configured"
        reasons.append({"code": "no_usable_account", "message": f"No account can take a call ({states})."})
    if not state.store.healthy():
        reasons.append({"code": "store_unreachable",
                        "message": f"The {state.store.kind} state store is unreachable."})
    probe: UpstreamProbe = state.probe
    if not await probe.reachable():
        reasons.append({"code": "upstream_unreachable",
                        "message": f"Qwen has not answered for {probe.unreachable_after:g} s ({probe.last_error})."})
    body = {"status": "ready" if not reasons else "not_ready", "reasons": reasons}
    return json_response(body, 200 if not reasons else 503)


ROUTES = [Route("/health/ready", ready)]
