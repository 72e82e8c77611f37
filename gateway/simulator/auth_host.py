"""The 0.3.x sign-in (§2): short access tokens, rotating refresh tokens, account settings (§3.9).

`AuthBook` remembers what this simulator gave out: refresh tokens (spent once rotated),
access tokens with their expiry, and each user's settings. In tests the auth host is the
simulator itself, so `GET /api/v2/auths/refresh` is served next to the chat API.

Control plane: `POST /__sim/signin` mints a signed-in browser session (access token,
refresh token, cookie string); `GET /__sim/auth` tells how often each refresh token
was presented, how many refreshes succeeded, and the settings each user holds.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from . import envelopes
from .auth_book import AuthBook
from .gate import act_out, admit, read_json, sim_of
from .state import uid_for

REFRESH_LIFETIME = 30 * 86400  # S: 30 days
ORIGIN_HEADER = "x-request-origin"


def _cookie(request: Request, name: str) -> str | None:
    for item in request.headers.get("cookie", "").split(";"):
        key, sep, value = item.strip().partition("=")
        if sep and key == name:
            return value.strip()
    return None


def _refused(details: str, status: int = 401) -> Response:
    return envelopes.json_response(envelopes.failure("Unauthorized", details), status=status)


async def refresh(request: Request) -> Response:
    """`GET /api/v2/auths/refresh` with `cookie: refresh_token=…` (§2)."""
    sim = sim_of(request)
    book: AuthBook = sim.auth
    if not request.headers.get(ORIGIN_HEADER):
        return envelopes.json_response(envelopes.failure("Bad_Request", "Missing origin"), status=400)
    if not (request.headers.get("x-request-id") and request.headers.get("timezone")):
        return envelopes.json_response(envelopes.failure("Bad_Request", "Invalid request header"), status=400)
    presented = _cookie(request, "refresh_token")
    if not presented:
        return _refused("Missing refresh token, please log in again.")
    book.presented[presented] += 1
    stop = await act_out(sim.take_fault(presented, "refresh"), request)
    if stop is not None:
        return stop
    uid = book.refresh_owner.get(presented)
    if uid is None or presented in book.spent:
        return _refused("Refresh token is invalid or has been used, please log in again.")
    options = sim.options
    access = book.mint_access(uid, options.access_token_ttl)
    data: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": int(options.access_token_ttl)}
    newest = presented
    if options.rotate_refresh:
        book.spent.add(presented)
        newest = data["refresh_token"] = book.mint_refresh(uid)
    book.refreshes += 1
    response = envelopes.json_response(envelopes.ok(data))
    response.set_cookie("refresh_token", newest, max_age=REFRESH_LIFETIME, path="/", httponly=True, samesite="lax")
    return response


async def update_settings(request: Request) -> Response:
    """`POST /api/v2/users/user/settings/update` (§3.9): merged into the user's settings."""
    admission = await admit(request, write=True)
    if isinstance(admission, Response):
        return admission
    body = await read_json(request)
    if not isinstance(body, dict):
        return envelopes.validation_error("Input should be a valid dictionary")
    book: AuthBook = sim_of(request).auth
    uid = uid_for(admission.token)
    book.settings.setdefault(uid, {}).update(body)
    book.settings_calls[uid] += 1
    return envelopes.json_response(envelopes.ok(book.settings[uid]))


async def signin(request: Request) -> Response:
    """Control plane: a browser sign-in, as the tokens and cookies a user would copy."""
    sim = sim_of(request)
    body = await read_json(request) or {}
    ttl = float(
        body.get("ttl", sim.options.access_token_ttl)) if isinstance(body, dict
    ) else sim.options.access_token_ttl
    uid = str(uuid.uuid4())
    refresh_token = sim.auth.mint_refresh(uid)
    access = sim.auth.mint_access(uid, ttl)
    cookies = f"cna={secrets.token_hex(6)}; ssxmod_itna=Qq{secrets.token_hex(8)}==; token={access}"
    return envelopes.json_response({"uid": uid, "access_token": access, "refresh_token": refresh_token,
                                    "cookies": cookies})


async def report(request: Request) -> Response:
    book: AuthBook = sim_of(request).auth
    return envelopes.json_response({
        "presented": dict(book.presented),
        "refreshes": book.refreshes,
        "spent": sorted(book.spent),
        "settings": book.settings,
        "settings_calls": dict(book.settings_calls),
        "last_acw_tc": book.last_acw_tc,
    })
