"""`/__sim/*`: the test-facing control plane (JSON in and out, no auth)."""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .envelopes import json_response
from .faults import parse_fault
from .gate import read_json, sim_of
from .options import SimOptions, updated_options


def options_json(options: SimOptions) -> dict[str, Any]:
    data = dataclasses.asdict(options)
    data["valid_tokens"] = None if options.valid_tokens is None else sorted(options.valid_tokens)
    return data


def _bad(message: str) -> Response:
    return json_response({"error": message}, status=400)


async def queue_faults(request: Request) -> Response:
    """`{"token": "<jwt>", "faults": [{"kind": …, "on": …, …}, …]}` → queued in order."""
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("token"), str) or not body["token"]:
        return _bad("body must be {token, faults}")
    raw_faults = body.get("faults")
    if not isinstance(raw_faults, list):
        return _bad("faults must be a list")
    try:
        faults = [parse_fault(raw) for raw in raw_faults]
    except ValueError as exc:
        return _bad(str(exc))
    sim = sim_of(request)
    sim.queue_faults(body["token"], faults)
    return json_response({"queued": len(faults), "pending": [f.to_json() for f in sim.faults[body["token"]]]})


async def list_faults(request: Request) -> Response:
    sim = sim_of(request)
    return json_response({"faults": {token: [f.to_json() for f in queue] for token, queue in sim.faults.items()}})


async def reset(request: Request) -> Response:
    sim_of(request).reset()
    return json_response({"ok": True})


async def options(request: Request) -> Response:
    """GET reads the options; POST merges a partial object into them."""
    sim = sim_of(request)
    if request.method == "POST":
        patch = await read_json(request)
        if not isinstance(patch, dict):
            return _bad("body must be an object of option fields")
        try:
            sim.options = updated_options(sim.options, patch)
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
    return json_response({"options": options_json(sim.options)})


async def requests(request: Request) -> Response:
    return json_response({"requests": list(sim_of(request).requests)})


async def streams(request: Request) -> Response:
    """Each SSE reply's fate: running, finished, cancelled (client left), faulted, closed."""
    records = [dataclasses.asdict(r) for r in sim_of(request).streams.values()]
    return json_response({"streams": records})
