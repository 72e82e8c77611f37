"""Read-only account endpoints: the model list (§3.3) and the token probe (§2)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from . import envelopes
from .catalog import model_list
from .gate import admit
from .state import uid_for


async def models_open(request: Request) -> Response:
    """`GET /api/models`: no auth needed, the list under `data`."""
    return envelopes.json_response({"data": model_list()})


async def models_v2(request: Request) -> Response:
    """`GET /api/v2/models/`: the same list one level deeper, in the v2 envelope."""
    admission = await admit(request)
    if isinstance(admission, Response):
        return admission
    return envelopes.json_response(envelopes.ok({"data": model_list()}))


async def whoami(request: Request) -> Response:
    """`GET /api/v1/auths/`: the Open WebUI-like user record, 401 for a bad token."""
    admission = await admit(request)
    if isinstance(admission, Response):
        return admission
    uid = uid_for(admission.token)
    record: dict[str, Any] = {
        "id": uid,
        "email": f"{uid[:8]}@sim.qwen.invalid",
        "name": f"sim-{uid[:8]}",
        "role": "user",
        "profile_image_url": "/user.png",
        "token": admission.token,
        "token_type": "Bearer",
        "expires_at": None,
        "permissions": {},
    }
    return envelopes.json_response(record)
