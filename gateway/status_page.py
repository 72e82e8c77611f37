"""`/status`: an HTML page of the accounts, requests per minute and recent video jobs.

Starlette templates and one static stylesheet, no build step. It is behind `GATEWAY_ADMIN_KEY`
(never the client API keys): the browser signs in once with the key and keeps an HttpOnly cookie
holding a digest of it. With no admin key configured the page is not served at all. It shows
account ids and states only, never a token or cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from . import account_admin
from .accounts import PAUSED
from .errors import NotFound
from .jobs import NAMESPACE as VIDEOS
from .qwen.auth import jwt_exp

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
COOKIE = "gateway_admin"


def admin_key() -> str:
    return os.environ.get("GATEWAY_ADMIN_KEY", "").strip()


def _digest(key: str) -> str:
    return hashlib.sha256(b"gateway-status:" + key.encode()).hexdigest()


def _signed_in(request: Request) -> bool:
    return hmac.compare_digest(request.cookies.get(COOKIE, ""), _digest(admin_key()))


async def page(request: Request) -> Response:
    if not admin_key():
        raise NotFound("The status page is off: set GATEWAY_ADMIN_KEY to serve it.")
    if not _signed_in(request):
        return templates.TemplateResponse(request, "login.html", {"failed": "failed" in request.query_params},
                                          status_code=401)
    state = request.app.state
    now = time.time()
    clients = {a.id: a.client for a in state.pool.accounts}
    accounts = [{**_row(a, clients[a["id"]], now), "fresh": state.fresh_chats.stocked_for(a["id"])}
                for a in state.pool.status()]
    jobs = sorted(await state.store.list(VIDEOS), key=lambda j: j.get("created_at") or 0, reverse=True)[:10]
    per_minute = state.metrics.per_minute() if state.metrics is not None else []  # metrics: false
    context: dict[str, Any] = {
        "accounts": accounts, "jobs": jobs, "simulated": state.simulated, "store": state.store.kind,
        "bars": _bars(per_minute), "total": sum(per_minute),
    }
    return templates.TemplateResponse(request, "status.html", context)


def _row(status: dict[str, Any], client: Any, now: float) -> dict[str, Any]:
    """One account's line: its state, when a rest ends, when its tokens lapse; never a token."""
    paused = status["reason"] == PAUSED
    exp = jwt_exp(client.auth.access_token)
    resting = {mode: _clock(now + health["cooling_seconds"]) for mode, health in status["modes"].items()
               if health["state"] == "cooling" and not paused}
    return {**status, "state": "paused" if paused else status["state"], "paused": paused, "resting_modes": resting,
            "cool_until": _clock(now + status["cooling_seconds"]) if status["cooling_seconds"] and not paused else "",
            "token_until": _clock(exp) if exp else "", "reason": "" if paused else status["reason"],
            "refresh_until": _clock(client.auth.refresh_expires) if client.auth.refresh_expires else ""}


def _clock(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))


def _bars(counts: list[int]) -> list[dict[str, float]]:
    """SVG bars for the last minutes' request counts (oldest first), 60 px high at most."""
    peak = max(counts, default=0) or 1
    return [{"x": i * 8, "h": round(60 * c / peak, 1), "count": c} for i, c in enumerate(counts)]


async def sign_in(request: Request) -> Response:
    form = await request.form()
    key = str(form.get("key") or "")
    if not admin_key() or not hmac.compare_digest(key.encode(), admin_key().encode()):
        return RedirectResponse("/status?failed=1", status_code=303)
    answer = RedirectResponse("/status", status_code=303)
    answer.set_cookie(COOKIE, _digest(key), httponly=True, samesite="strict", path="/status")
    return answer


def _admin_only(request: Request) -> None:
    if not admin_key() or not _signed_in(request):
        raise NotFound("Sign in to the status page first.")


async def add_account(request: Request) -> Response:
    _admin_only(request)
    form = await request.form()
    await account_admin.add(request.app.state, str(form.get("id") or ""), str(form.get("refresh_token") or ""),
                            str(form.get("cookies") or ""))
    return RedirectResponse("/status", status_code=303)


async def pause_or_resume(request: Request) -> Response:
    _admin_only(request)
    action = request.path_params["action"]
    if action not in ("pause", "resume"):
        raise NotFound(f"Unknown account action '{action}'.")
    change = account_admin.pause if action == "pause" else account_admin.resume
    change(request.app.state.pool, request.path_params["account_id"])
    return RedirectResponse("/status", status_code=303)


ROUTES = [
    Route("/status", page),
    Route("/status/sign-in", sign_in, methods=["POST"]),
    Route("/status/accounts", add_account, methods=["POST"]),
    Route("/status/accounts/{account_id}/{action:str}", pause_or_resume, methods=["POST"]),
    Mount("/status/static", StaticFiles(directory=str(HERE / "static")), name="static"),
]
