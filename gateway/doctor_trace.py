"""`doctor --trace FILE`: the exchanges with Qwen as a user can attach to a bug report.

Headers and bodies are kept (bodies cut at BODY_CHARS); the Authorization header, cookie values,
the account's own tokens and cookies, anything shaped like a JWT and every token-like JSON field
are masked before a line is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import orjson

BODY_CHARS = 2000
MASK = "***"
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")
_SECRET_FIELDS = re.compile(
    r'("(?:access_token|refresh_token|token|security_token|access_key_secret|access_key_id|password)"\s*:\s*)"[^"]*"',
    re.IGNORECASE)
_SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "x-api-key", "proxy-authorization"})


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """More values to mask: tokens the upstream hands out while the doctor runs, too."""
        self.secrets = sorted({*self.secrets, *(s for s in secrets if s and len(s) >= 4)}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, MASK)
        value = _JWT.sub(MASK, value)
        return _SECRET_FIELDS.sub(lambda m: m.group(1) + f'"{MASK}"', value)

    def headers(self, headers: Any) -> dict[str, str]:
        shown: dict[str, str] = {}
        for name, value in headers.items():
            lowered = name.lower()
            if lowered in ("cookie", "set-cookie"):  # the names help, the values are credentials
                names = [part.split("=", 1)[0].strip() for part in str(value).split(";") if "=" in part]
                value = "; ".join(f"{n}={MASK}" for n in names[:1 if lowered == "set-cookie" else None])
            elif lowered in _SECRET_HEADERS:
                value = MASK
            shown[str(name)] = self.text(str(value))
        return shown


class Trace:
    """Collects each exchange through aiohttp's trace hooks; `write` saves them as JSON lines."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.exchanges: list[dict[str, Any]] = []
        self.config = aiohttp.TraceConfig()
        self.config.on_request_start.append(self._start)
        self.config.on_request_chunk_sent.append(self._sent)
        self.config.on_response_chunk_received.append(self._received)
        self.config.on_request_end.append(self._end)
        self.config.on_request_exception.append(self._failed)

    def note(self, step: str, account: str) -> None:
        self.exchanges.append({"step": step, "account": account})

    async def _start(self, session: Any, context: SimpleNamespace, params: Any) -> None:
        context.entry = {"method": params.method, "url": str(params.url), "request_headers": dict(params.headers),
                         "request_body": b"", "response_body": b""}
        self.exchanges.append(context.entry)

    async def _sent(self, session: Any, context: SimpleNamespace, params: Any) -> None:
        if len(context.entry["request_body"]) <= BODY_CHARS:
            context.entry["request_body"] += params.chunk[:BODY_CHARS + 1]

    async def _received(self, session: Any, context: SimpleNamespace, params: Any) -> None:
        if len(context.entry["response_body"]) <= BODY_CHARS:
            context.entry["response_body"] += params.chunk[:BODY_CHARS + 1]

    async def _end(self, session: Any, context: SimpleNamespace, params: Any) -> None:
        context.entry["status"] = params.response.status
        context.entry["response_headers"] = dict(params.response.headers)

    async def _failed(self, session: Any, context: SimpleNamespace, params: Any) -> None:
        context.entry["error"] = type(params.exception).__name__

    def write(self, path: Path) -> None:
        """Redacted only now, when every token the run met is known."""
        with path.open("w") as out:
            for entry in self.exchanges:
                shown = dict(entry)
                if "url" in shown:
                    shown["url"] = self.redactor.text(shown["url"])
                for key in ("request_headers", "response_headers"):
                    if key in shown:
                        shown[key] = self.redactor.headers(shown[key])
                for key in ("request_body", "response_body"):
                    if key in shown:
                        body = shown[key].decode("utf-8", "replace")
                        cut = len(body) > BODY_CHARS
                        shown[key] = self.redactor.text(body[:BODY_CHARS]) + (" …(cut)" if cut else "")
                out.write(orjson.dumps(shown).decode() + "\n")
