"""Every error the gateway raises, rendered once as an OpenAI error object.

    GatewayError                      500 server_error
    ├── InvalidRequest                400 invalid_request_error   (param names the field)
    │   ├── ModelNotSupported         400 model_not_supported (the model lacks what the call needs)
    │   ├── PayloadTooLarge           413
    │   └── UnsupportedMediaType      415
    ├── AuthenticationFailed          401 invalid_api_key
    ├── NotFound                      404 not_found
    │   └── ModelNotFound             404 model_not_found
    ├── NoAccountAvailable            503 no_available_account
    │   └── AccountsRateLimited       429 rate_limit_exceeded + Retry-After: every account's quota is spent
    ├── ShuttingDown                  503 shutting_down: a stream cut by a server shutdown
    ├── Overloaded                    503 overloaded + Retry-After: too many request bytes at once
    └── UpstreamError                 502 upstream_error      (what a QwenClient raises)
        ├── UpstreamRateLimited       account daily limit: cool down `hours`
        ├── UpstreamUnauthorized      token expired or revoked: account invalid
        ├── UpstreamAuthUnavailable   the auth host cannot refresh a token now: rest `seconds`
        ├── UpstreamBlocked           WAF page or RGV587 captcha: short cool-down
        │   ├── UpstreamCaptcha       the RGV587 JSON stub (also Qwen's answer to an oversized prompt)
        │   └── UpstreamOversizeBlocked  RGV587 for an oversized prompt: 503, no penalty (§7a)
        ├── UpstreamTransient         Bad_Request "Internal error", 5xx, in-stream error
        │   └── UpstreamEmptyStream   a stream that ended with no answer (long prompts, §7a)
        ├── UpstreamContract          the protocol drifted (validation errors): no penalty
        │   └── UpstreamNoTaskId      a t2v reply without its task id
        ├── UpstreamChatNotFound      unknown chat or parent id
        ├── UpstreamChatBusy          "The chat is in progress": wait, retry on the same account
        ├── UpstreamInvalidInput      the upstream refused the client's input: 400
        ├── UpstreamTransport         connection refused or reset
        └── UpstreamTimeout           504: connect, first event or idle timeout
            └── UpstreamAnswerTooLong  an answer past timeouts.max_answer: no retry, no penalty

Upstream errors carry `retry_elsewhere` (may another account serve the call?) and
`account_penalty` (what the pool does to the account that raised it).
"""

from __future__ import annotations

from typing import Any

import orjson


class GatewayError(Exception):
    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def render(self) -> bytes:
        return orjson.dumps(self.body())


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class ModelNotSupported(InvalidRequest):
    code = "model_not_supported"


class PayloadTooLarge(InvalidRequest):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(InvalidRequest):
    status = 415
    code = "unsupported_media_type"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(f"The model '{model}' does not exist or is not available.", param="model")


class NoAccountAvailable(GatewayError):
    status = 503
    type = "server_error"
    code = "no_available_account"


class AccountsRateLimited(NoAccountAvailable):
    """Every account rests because Qwen rate-limited it: the client should come back later."""

    status = 429
    type = "rate_limit_exceeded"
    code = "rate_limit_exceeded"


class ShuttingDown(GatewayError):
    status = 503
    type = "server_error"
    code = "shutting_down"


class Overloaded(GatewayError):
    status = 503
    type = "server_error"
    code = "overloaded"


class UpstreamError(GatewayError):
    status = 502
    type = "upstream_error"
    code = "upstream_error"
    retry_elsewhere = True
    account_penalty: str | None = "failure"  # None, "failure", "cooling", "blocked", "invalid"


class UpstreamRateLimited(UpstreamError):
    status = 429
    type = "rate_limit_exceeded"
    code = "rate_limit_exceeded"
    account_penalty = "cooling"

    def __init__(self, message: str, *, hours: float | None = None) -> None:
        super().__init__(message)
        self.hours = hours  # None: the upstream did not say; the pool uses its default


class UpstreamUnauthorized(UpstreamError):
    account_penalty = "invalid"


class UpstreamAuthUnavailable(UpstreamError):
    """The access token needs a refresh the auth host cannot give now; it recovers by itself."""

    account_penalty = "resting"

    def __init__(self, message: str, *, seconds: float) -> None:
        super().__init__(message)
        self.seconds = seconds


class UpstreamBlocked(UpstreamError):
    code = "upstream_blocked"
    account_penalty: str | None = "blocked"


class UpstreamCaptcha(UpstreamBlocked):
    """The RGV587 stub: a bot mark, unless the prompt was long enough to be the cause (§7a)."""


class UpstreamOversizeBlocked(UpstreamBlocked):
    """The anti-bot answer to a prompt over the size threshold: the prompt's doing, not the account's."""

    status = 503
    account_penalty = None
    retry_elsewhere = False


class UpstreamTransient(UpstreamError):
    pass


class UpstreamEmptyStream(UpstreamTransient):
    pass


class UpstreamContract(UpstreamError):
    account_penalty = None
    retry_elsewhere = False  # every account would fail the same way


class UpstreamNoTaskId(UpstreamContract):
    """A t2v reply without `extra.wanx.task_id`; keeps the reply for the legacy API's error."""

    def __init__(self, message: str, *, chat_id: str, reply: object) -> None:
        super().__init__(message)
        self.chat_id = chat_id
        self.reply = reply


class UpstreamChatNotFound(UpstreamError):
    account_penalty = None
    retry_elsewhere = False


class UpstreamChatBusy(UpstreamError):
    account_penalty = None
    retry_elsewhere = False  # the chat belongs to this account: only it may try again


class UpstreamInvalidInput(UpstreamError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_input"
    account_penalty = None
    retry_elsewhere = False


class UpstreamTransport(UpstreamError):
    pass


class UpstreamTimeout(UpstreamError):
    """The gateway has tried every account it may; the client's own retry would only wait as long again."""

    status = 504
    code = "upstream_timeout"

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("x-should-retry", "false")


class UpstreamAnswerTooLong(UpstreamTimeout):
    """An answer still coming after `timeouts.max_answer`: another try would run as long."""

    account_penalty = None
    retry_elsewhere = False

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"x-should-retry": "false"})
