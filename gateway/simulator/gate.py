"""The checks every `/api` call passes before its handler runs.

Order, outermost first as on the real service: the WAF (`bx-ua`) at the edge,
the bearer token, the anti-bot cookie check (RGV587), then the app's `version`
header rule, then any fault queued for this token and endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from . import envelopes
from .faults import IMMEDIATE, IN_STREAM, TASK, Fault, immediate_reply
from .state import SimState
from .waf import waf_page


@dataclass(frozen=True)
class Admission:
    token: str
    fault: Fault | None  # a stream or task fault still to act out


def sim_of(request: Request) -> SimState:
    sim: SimState = request.app.state.sim
    return sim


def base_url(request: Request) -> str:
    """This simulator's own address as the caller reached it (no trailing slash)."""
    return str(request.base_url).rstrip("/")


async def read_json(request: Request) -> Any:
    """The parsed JSON body, or None when it is not JSON."""
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return None


def bearer_token(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def cookie_token(request: Request) -> str | None:
    # Split by hand: browser cookies (ssxmod_itna…) hold characters SimpleCookie rejects.
    for item in request.headers.get("cookie", "").split(";"):
        name, sep, value = item.strip().partition("=")
        if sep and name == "token":
            return value.strip()
    return None


async def admit(
    request: Request, endpoint: str | None = None, *, write: bool = False, always_200: bool = False
) -> Admission | Response:
    """The caller's token and pending fault, or the reply that stops the call here."""
    sim = sim_of(request)
    options = sim.options
    if write and options.require_bx_ua and not request.headers.get("bx-ua"):
        return waf_page(envelopes.request_id())
    if write and request.headers.get("bx-v") and not request.headers.get("bx-ua"):
        return envelopes.json_response(envelopes.rgv587(base_url(request)))  # a stale bx-v alone: punished (§1, C)
    token = bearer_token(request)
    if not token:
        return envelopes.unauthorized("Not authenticated", always_200)
    if options.valid_tokens is not None and token not in options.valid_tokens:
        return envelopes.unauthorized("Token has expired", always_200)
    if sim.auth.expired(token):
        return envelopes.json_response(sim.auth.expired_body(), status=401 if options.expired_shape == "401" else 200)
    if write and options.strict_headers:
        if cookie_token(request) != token:
            return envelopes.json_response(envelopes.rgv587(base_url(request)))
        if not request.headers.get("version"):
            return envelopes.json_response(envelopes.top_level_failure("Bad_Request", "Missing version header"))
    fault = sim.take_fault(token, endpoint) if endpoint is not None else None
    stop = await act_out(fault, request, always_200)
    if stop is not None:
        return stop
    return Admission(token, fault if fault is not None and fault.kind in IN_STREAM | TASK else None)


async def act_out(fault: Fault | None, request: Request, always_200: bool = False) -> Response | None:
    """Apply the parts of a fault that happen before the reply: delays and whole replies."""
    if fault is None:
        return None
    if fault.kind == "slow_first_byte":
        await sim_of(request).pause(fault.number("seconds", 1.0))  # real seconds: never scaled
    if fault.kind in IMMEDIATE:
        return immediate_reply(fault, base_url(request), always_200)
    return None
