"""Typed upstream events, and the error catalog of the protocol reference (§10).

Pure functions: a decoded JSON object in, an event out, or an UpstreamError raised.
Failures often arrive as HTTP 200, so every body and every SSE line goes through
`raise_for_error` before it is trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import (
    UpstreamCaptcha,
    UpstreamChatBusy,
    UpstreamChatNotFound,
    UpstreamContract,
    UpstreamError,
    UpstreamInvalidInput,
    UpstreamRateLimited,
    UpstreamTransient,
    UpstreamUnauthorized,
)

END_PHASES = frozenset({"answer", "image_gen"})
# The upstream's finish reasons as OpenAI's (R maps these; none captured yet).
FINISH_REASONS = {"stop": "stop", "end_turn": "stop", "length": "length", "max_tokens": "length",
                  "content_filter": "content_filter"}


@dataclass(slots=True, frozen=True)
class ResponseCreated:
    chat_id: str
    parent_id: str | None  # the stored user message
    response_id: str  # the parent of the next turn
    response_index: str = "0"  # "1" for the second of a two-answer stream (§4)


@dataclass(slots=True, frozen=True)
class Delta:
    phase: str | None
    content: str
    status: str | None
    extra: dict[str, Any] | None
    usage: dict[str, Any] | None
    response_id: str | None = None  # which answer of a two-answer stream it belongs to
    finish_reason: str | None = None  # OpenAI's, when the upstream gave one

    @property
    def is_end(self) -> bool:
        # A `finished` in a thinking or tool phase is not the end of the answer.
        return self.status == "finished" and (self.phase in END_PHASES or self.phase is None)


class KeepAlive:
    """`response.info` keep-alives and any event the gateway does not use."""


KEEP_ALIVE = KeepAlive()
Event = ResponseCreated | Delta | KeepAlive


def parse_event(obj: Any) -> Event:
    """Turn one decoded SSE `data:` object into an event, raising upstream errors."""
    if not isinstance(obj, dict):
        return KEEP_ALIVE
    choices = obj.get("choices")
    if choices:
        choice = choices[0] if isinstance(choices[0], dict) else {}
        delta = choice.get("delta") or {}
        if delta.get("status") == "error":
            raise _in_stream_error(delta.get("error") or delta.get("content") or "status: error")
        reason = choice.get("finish_reason") or delta.get("finish_reason")
        return Delta(
            phase=delta.get("phase"),
            content=delta.get("content") or "",
            status=delta.get("status"),
            extra=delta.get("extra"),
            usage=obj.get("usage"),
            response_id=obj.get("response_id"),
            finish_reason=FINISH_REASONS.get(reason) if isinstance(reason, str) else None,
        )
    created = obj.get("response.created")
    if created is not None:
        return ResponseCreated(created.get("chat_id", ""), created.get("parent_id"), created.get("response_id", ""),
                               str(created.get("response_index", "0")))
    raise_for_error(obj)
    return KEEP_ALIVE


def raise_for_error(obj: Any, actual_status: int = 200) -> None:
    """Raise the UpstreamError a JSON body stands for; return when it is no error."""
    error = error_from_body(obj, actual_status)
    if error is not None:
        raise error


def error_from_body(obj: Any, actual_status: int = 200) -> UpstreamError | None:
    if not isinstance(obj, dict):
        return _from_status(actual_status, "unexpected upstream body")
    ret = obj.get("ret")
    if isinstance(ret, list) and any("RGV587" in str(r) or "FAIL_SYS" in str(r) for r in ret):
        return UpstreamCaptcha(
            "Qwen refused the account with a captcha (RGV587); it needs fresh cookies or bx-* headers"
        )
    if "error" in obj and "choices" not in obj:
        return _in_stream_error(obj["error"])
    data = obj.get("data")
    data = data if isinstance(data, dict) else {}
    code = data.get("code") or obj.get("code")
    if code or obj.get("success") is False:
        details = str(data.get("details") or obj.get("details") or obj.get("detail") or data.get("detail") or "")
        return _from_code(str(code or ""), details, data.get("num", obj.get("num")), top_level="code" in obj)
    if actual_status >= 400:
        return _from_status(actual_status, "upstream error")
    return None


def _from_code(code: str, details: str, num: Any, *, top_level: bool) -> UpstreamError:
    said = f"{code}: {details}" if details else code
    lowered = details.lower()
    if code == "RateLimited":
        if "401" in details or "unauthorized" in lowered:
            return UpstreamUnauthorized(f"Qwen rejected the account's token ({said})")
        hours = float(num) if isinstance(num, (int, float)) and num > 0 else None
        return UpstreamRateLimited(f"Qwen account reached its usage limit ({said})", hours=hours)
    if code in {"Unauthorized", "401"} or "token has expired" in lowered or "unauthorized" in lowered:
        return UpstreamUnauthorized(f"Qwen rejected the account's token ({said})")
    if "the chat is in progress" in lowered:
        return UpstreamChatBusy(f"Qwen is still answering in this chat ({said})")
    if code in {"CHAT_NOT_FOUND", "PARENT_NOT_FOUND"} or "is not exist" in lowered:
        return UpstreamChatNotFound(f"Qwen does not know this chat or parent message ({said})")
    if code == "invalid_input":
        return UpstreamInvalidInput(f"Qwen refused the input or an attachment ({said})")
    if code == "RequestValidationError" or (code == "Bad_Request" and (top_level or "internal" not in lowered)):
        return UpstreamContract(f"Qwen rejected the request format ({said}); the upstream protocol may have changed")
    return UpstreamTransient(f"Qwen failed to answer ({said})")


def _in_stream_error(error: Any) -> UpstreamError:
    if isinstance(error, dict):
        code = str(error.get("code") or "")
        details = str(error.get("details") or error.get("message") or "")
        if code == "invalid_input":
            return UpstreamInvalidInput(f"Qwen refused the input or an attachment ({code}: {details})")
        return UpstreamTransient(f"Qwen failed mid-answer ({code}: {details})")
    return UpstreamTransient(f"Qwen failed mid-answer ({error})")


def _from_status(status: int, what: str) -> UpstreamError:
    if status in (401, 403):
        return UpstreamUnauthorized(f"Qwen rejected the account's token (HTTP {status})")
    if status == 429:
        return UpstreamRateLimited("Qwen account is rate limited (HTTP 429)")
    if status >= 500:
        return UpstreamTransient(f"Qwen answered HTTP {status}")
    return UpstreamContract(f"{what} (HTTP {status})")


class AnswerSelector:
    """Keeps one answer of a stream that may carry two (§4): `response_index` "0".

    Its deltas, its `finished` and its `response_id` pass; the other answer's are
    dropped; frames without a `response_id` pass. With no `response.created` the
    first id seen is kept.
    """

    __slots__ = ("_others", "kept")

    def __init__(self) -> None:
        self.kept: str | None = None
        self._others: set[str] = set()

    def keep(self, event: Event) -> bool:
        if isinstance(event, ResponseCreated):
            if event.response_index not in ("0", ""):
                self._others.add(event.response_id)
                return False
            if self.kept is None:
                self.kept = event.response_id
            return event.response_id == self.kept
        if isinstance(event, Delta) and event.response_id:
            if self.kept is None and event.response_id not in self._others:
                self.kept = event.response_id
            return event.response_id == self.kept
        return True
