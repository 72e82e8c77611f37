"""What the simulated sign-in gave out (§2): refresh tokens, access tokens, user settings."""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from collections import Counter
from typing import Any

import orjson

from .options import SimOptions

EXPIRED_DETAILS = "Token has expired, please log in again."


class AuthBook:
    """Tokens this simulator issued; reset with the rest of its state."""

    def __init__(self, options: SimOptions) -> None:
        self.refresh_owner: dict[str, str] = {rt: _uid_of_refresh(rt) for rt in options.refresh_tokens}
        self.spent: set[str] = set()
        self.access_expiry: dict[str, float] = {}
        self.presented: Counter[str] = Counter()  # refresh tokens as presented, good or not
        self.refreshes = 0
        self.settings: dict[str, dict[str, Any]] = {}  # uid -> merged settings
        self.settings_calls: Counter[str] = Counter()
        self.last_acw_tc = ""  # the newest anti-bot cookie handed out

    def mint_access(self, uid: str, ttl: float) -> str:
        now = time.time()
        claims = {"id": uid, "iat": int(now), "exp": int(now + ttl), "jti": uuid.uuid4().hex}
        token = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}.{secrets.token_urlsafe(16)}"
        self.access_expiry[token] = now + ttl
        return token

    def mint_refresh(self, uid: str) -> str:
        token = "rt-" + secrets.token_urlsafe(24)
        self.refresh_owner[token] = uid
        return token

    def expired(self, access_token: str) -> bool:
        expiry = self.access_expiry.get(access_token)
        return expiry is not None and expiry <= time.time()

    def expired_body(self) -> dict[str, Any]:
        return {"success": False, "request_id": str(uuid.uuid4()),
                "data": {"code": "unauthorized", "details": EXPIRED_DETAILS}}


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(obj)).rstrip(b"=").decode()


def _uid_of_refresh(refresh_token: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "qwen-sim-refresh:" + refresh_token))
