"""Scripted failures: what a fault is, how it is parsed, and the replies it forces.

A fault is queued per token (`POST /__sim/faults`) or written into a prompt as
`[[sim:fault=<kind>,k=v,...]]`. Immediate kinds replace the whole reply; stream
kinds are acted out by `streams`; task kinds mark the next t2v task.
"""

from __future__ import annotations

import http
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.responses import Response

from . import envelopes
from .waf import waf_page

ENDPOINTS = ("completions", "chats_new", "task_status", "sts", "parse", "refresh")  # refresh: queued per refresh token
IMMEDIATE = frozenset({
    "ratelimited", "unauthorized", "waf", "rgv587", "bad_request", "validation", "http_5xx", "internal_error",
    "not_found", "expired", "chat_in_progress",
})
IN_STREAM = frozenset({"stream_error", "invalid_input", "truncate", "drop", "stall", "dual_answer", "finish_reason",
                       "unknown_phase", "status_error", "empty_stream", "no_image_url"})
TASK = frozenset({"task_failed", "task_never_finishes", "no_task_id", "parse_failed"})
KINDS = IMMEDIATE | IN_STREAM | TASK | {"slow_first_byte"}
# A fault with no `on` targets completions, except the one that only makes sense on a poll.
_DEFAULT_ON = {"not_found": "task_status", "parse_failed": "parse"}
_RATE_LIMIT_FORMS = ("json", "sse", "http429")


@dataclass(frozen=True)
class Fault:
    kind: str
    on: str = "completions"
    params: Mapping[str, Any] = field(default_factory=dict)

    def number(self, name: str, default: float) -> float:
        value = self.params.get(name, default)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default

    def count(self, name: str, default: int) -> int:
        return max(0, int(self.number(name, default)))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "on": self.on, **self.params}


def parse_fault(raw: Any) -> Fault:
    """A `Fault` from its JSON object; ValueError says what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError("a fault must be an object")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    on = raw.get("on", _DEFAULT_ON.get(kind, "completions"))
    if on not in ENDPOINTS:
        raise ValueError(f"fault 'on' must be one of {', '.join(ENDPOINTS)}")
    params = {k: v for k, v in raw.items() if k not in ("kind", "on")}
    if kind == "ratelimited" and params.get("form", "json") not in _RATE_LIMIT_FORMS:
        raise ValueError(f"ratelimited form must be one of {', '.join(_RATE_LIMIT_FORMS)}")
    return Fault(kind=kind, on=on, params=params)


def fault_from_marker(params: dict[str, Any]) -> Fault:
    """`[[sim:fault=stall,seconds=2]]` parsed by `script.markers` → a Fault."""
    raw = {("kind" if key == "fault" else key): value for key, value in params.items()}
    return parse_fault(raw)


def immediate_reply(fault: Fault, base_url: str, always_200: bool = False) -> Response | None:
    """The whole reply an immediate fault forces, or None for other kinds.

    `always_200` is the v2 task-status rule: envelope errors keep HTTP 200 and put
    the real status in `x-actual-status-code`; edge pages (WAF, RGV587, 5xx) don't.
    """
    kind = fault.kind
    if kind == "waf":
        return waf_page(str(uuid.uuid4()))
    if kind == "rgv587":
        return envelopes.json_response(envelopes.rgv587(base_url))
    if kind == "http_5xx":
        return _gateway_error_page(fault.count("status", 502))
    if kind == "ratelimited":
        return _rate_limited(fault, always_200)
    if kind == "expired":  # §10: an expired access token, HTTP 200 + code unauthorized, or status=401
        body = envelopes.failure("unauthorized", "Token has expired, please log in again.")
        return envelopes.json_response(body, status=401 if fault.count("status", 200) == 401 else 200)
    if kind == "unauthorized":
        return envelopes.unauthorized(str(fault.params.get("details", "Token has expired")), always_200)
    if kind == "bad_request":
        details = str(fault.params.get("details", "Internal error, please try again later."))
        return envelopes.bad_request(details)
    if kind == "validation":
        return envelopes.validation_error(str(fault.params.get("details", "Field 'chat_id': Field required")))
    if kind == "chat_in_progress":
        return envelopes.json_response(envelopes.failure("Bad_Request", envelopes.CHAT_IN_PROGRESS))
    if kind == "internal_error":
        return envelopes.json_response(envelopes.failure("internal_error", "Internal Error"), actual=400)
    if kind == "not_found":
        return envelopes.not_found("Not_Found", "Task not found", always_200=always_200)
    return None


def _rate_limited(fault: Fault, always_200: bool) -> Response:
    num = fault.params.get("num", 10)  # an explicit null means "no num key"
    body = envelopes.rate_limited(None if num is None else int(num))
    form = fault.params.get("form", "json")
    if form == "sse":
        return Response(b"data: " + orjson.dumps(body) + b"\n\n", media_type="text/event-stream")
    if form == "http429":
        if always_200:
            return envelopes.json_response(body, actual=429)
        return envelopes.json_response(body, status=429)
    return envelopes.json_response(body)


def _gateway_error_page(status: int) -> Response:
    """What Alibaba's Tengine front end answers when the app behind it fails."""
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    html = (
        f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>tengine</center>\r\n</body>\r\n</html>\r\n"
    )
    return Response(html, status_code=status, media_type="text/html")
