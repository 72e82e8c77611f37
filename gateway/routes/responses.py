"""`POST /v1/responses` and the stored responses: `GET`/`DELETE /v1/responses/{id}`,
`GET /v1/responses/{id}/input_items`. The service is `calls/responses.py`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..calls import responses
from ..calls.lifetime import CutOnShutdown, watched
from ..errors import InvalidRequest
from ..middleware import request_owner
from ..offload import read_responses_request
from .common import json_response
from .event_stream import EventStream

MAX_LIMIT = 100


async def create_response(request: Request) -> Response:
    req = await read_responses_request(request, request.app.state.settings.max_body_bytes)  # big: off the loop
    planned = await responses.plan(request, req)
    if not req.chat.stream:
        return json_response(await responses.create(request, planned))
    lease = await responses.open_stream(request, planned)
    grace = request.app.state.settings.timeouts.shutdown_grace
    cut = CutOnShutdown(grace)
    return EventStream(responses.stream_events(request, planned, lease, cut), cut, grace)


async def get_response(request: Request) -> Response:
    record = await responses.response_store(request).get(request_owner(request.scope), request.path_params["id"])
    return json_response(record["response"])


async def delete_response(request: Request) -> Response:
    response_id = request.path_params["id"]
    await responses.response_store(request).delete(request_owner(request.scope), response_id)
    return json_response({"id": response_id, "object": "response", "deleted": True})


async def list_input_items(request: Request) -> Response:
    record = await responses.response_store(request).get(request_owner(request.scope), request.path_params["id"])
    items: list[dict[str, Any]] = record["input_items"]
    query = request.query_params
    order = query.get("order", "desc")
    if order not in {"asc", "desc"}:
        raise InvalidRequest("'order' must be asc or desc.", param="order")
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"'limit' must be a whole number from 1 to {MAX_LIMIT}.", param="limit")
    if order == "desc":
        items = items[::-1]
    for cursor in ("after", "before"):
        if query.get(cursor) is not None:
            ids = [item["id"] for item in items]
            if query[cursor] not in ids:
                raise InvalidRequest(f"'{cursor}' is not an item of this response.", param=cursor)
            at = ids.index(query[cursor])
            items = items[at + 1:] if cursor == "after" else items[:at]
    page = items[:limit]
    return json_response({"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                          "last_id": page[-1]["id"] if page else None, "has_more": len(items) > limit})


ROUTES = [
    watched(Route("/v1/responses", create_response, methods=["POST"])),
    Route("/v1/responses/{id}", get_response, methods=["GET"]),
    Route("/v1/responses/{id}", delete_response, methods=["DELETE"]),
    Route("/v1/responses/{id}/input_items", list_input_items, methods=["GET"]),
]
