"""`POST /v1/responses` and the stored responses: `GET`/`DELETE /v1/responses/{id}`,
`GET /v1/responses/{id}/input_items`. The service is `calls/responses.py`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..calls import responses
from ..calls.lifetime import CutOnShutdown, watched
from ..middleware import request_owner
from ..offload import page_stored_items, read_responses_request
from ..translate.response_pages import items_page
from .common import json_response
from .event_stream import EventStream


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
    store = responses.response_store(request)
    record = await store.get(request_owner(request.scope), request.path_params["id"])
    if "input_items" in record:
        return json_response(items_page(record["input_items"], request.query_params))
    stored = await store.items_apart(request.path_params["id"])  # a big body's: paged off the loop
    return Response(await page_stored_items(stored, request.query_params), media_type="application/json")


ROUTES = [
    watched(Route("/v1/responses", create_response, methods=["POST"])),
    Route("/v1/responses/{id}", get_response, methods=["GET"]),
    Route("/v1/responses/{id}", delete_response, methods=["DELETE"]),
    Route("/v1/responses/{id}/input_items", list_input_items, methods=["GET"]),
]
