"""The upstream's JSON reply shapes, and responses carrying them.

Failures mostly arrive as HTTP 200 with the real code in `x-actual-status-code`
(§3, §10), so every builder takes the HTTP status and the "actual" one apart.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.responses import Response

RATE_LIMIT_DETAILS = "You've reached the upper limit for today's usage."
RATE_LIMIT_TEMPLATE = "You have reached the limit of today's usage. Please wait {{num}} hours before trying again."
RGV587_RET = ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::哎哟喂,被挤爆啦,请稍后重试"]
INVALID_INPUT_DETAILS = "输入或附件无效。请检查后重试。"
CHAT_IN_PROGRESS = "The chat is in progress"


def request_id() -> str:
    return str(uuid.uuid4())


def json_response(
    body: Any, status: int = 200, actual: int | None = None, headers: dict[str, str] | None = None
) -> Response:
    all_headers = dict(headers or {})
    if actual is not None:
        all_headers["x-actual-status-code"] = str(actual)
    return Response(orjson.dumps(body), status_code=status, headers=all_headers, media_type="application/json")


def ok(data: Any) -> dict[str, Any]:
    return {"success": True, "request_id": request_id(), "data": data}


def failure(code: str, details: str, **extra: Any) -> dict[str, Any]:
    """The v2 envelope with `code`/`details` under `data`."""
    return {"success": False, "request_id": request_id(), "data": {"code": code, "details": details, **extra}}


def top_level_failure(code: str, details: str) -> dict[str, Any]:
    """The contract-error form with `code`/`details` at the top level (§10)."""
    return {"success": False, "request_id": request_id(), "code": code, "details": details}


def rate_limited(num: int | None) -> dict[str, Any]:
    extra: dict[str, Any] = {"template": RATE_LIMIT_TEMPLATE}
    if num is not None:
        extra["num"] = num
    return failure("RateLimited", RATE_LIMIT_DETAILS, **extra)


def rgv587(base_url: str) -> dict[str, Any]:
    punish = (
        f"{base_url}//api/v2/chat/completions/_____tmd_____/punish"
        f"?x5secdata={uuid.uuid4().hex}&x5step=2&action=captcha"
    )
    return {"ret": RGV587_RET, "data": {"url": punish}}


def validation_error(details: str) -> Response:
    """FastAPI-style request validation, as 200 + actual 400."""
    return json_response(failure("RequestValidationError", details), actual=400)


def unauthorized(details: str, always_200: bool = False) -> Response:
    body = failure("Unauthorized", details)
    return json_response(body, actual=401) if always_200 else json_response(body, status=401)


def not_found(code: str, details: str, always_200: bool = True) -> Response:
    body = failure(code, details)
    return json_response(body, actual=404) if always_200 else json_response(body, status=404)


def bad_request(details: str) -> Response:
    """The transient/in-band Bad_Request envelope (HTTP 200)."""
    return json_response(failure("Bad_Request", details))
