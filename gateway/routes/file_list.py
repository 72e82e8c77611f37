"""`GET /v1/files` (after, limit, order, purpose) and `DELETE /v1/files/{id}`, in OpenAI's shapes.

Only the caller's own uploads are listed or deleted (a file belongs to the API key that made it).
Qwen's web API has no way to delete an upload: deleting forgets the gateway's record, and Qwen's
signed URL lapses within minutes on its own.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import InvalidRequest
from ..file_records import NAMESPACE, find_upload
from ..middleware import request_owner
from .common import json_response

MAX_LIMIT = 10000  # OpenAI's own default and ceiling


async def list_files(request: Request) -> Response:
    query = request.query_params
    limit = _limit(query.get("limit"))
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("'order' must be 'asc' or 'desc'.", param="order")
    purpose, after = query.get("purpose"), query.get("after")
    owner = request_owner(request.scope)
    entries = [e for e in await request.app.state.store.list(NAMESPACE) if e.get("owner", "") == owner
               and (purpose is None or e["record"]["purpose"] == purpose)]
    entries.sort(key=lambda e: (e.get("created_ns") or e["record"]["created_at"] * 10**9, e["record"]["id"]),
                 reverse=order == "desc")
    records = [e["record"] for e in entries]
    if after is not None:
        ids = [r["id"] for r in records]
        if after not in ids:
            raise InvalidRequest(f"'after' names no file of this list: '{after}'.", param="after")
        records = records[ids.index(after) + 1:]
    page = records[:limit]
    return json_response({"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                          "last_id": page[-1]["id"] if page else None, "has_more": len(records) > limit})


def _limit(raw: str | None) -> int:
    if raw is None:
        return MAX_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"'limit' must be a whole number from 1 to {MAX_LIMIT}.", param="limit")
    return limit


async def delete_file(request: Request) -> Response:
    store = request.app.state.store
    file_id = request.path_params["file_id"]
    await find_upload(store, file_id, request_owner(request.scope))  # someone else's file is a 404
    await store.delete(NAMESPACE, file_id)
    return json_response({"id": file_id, "object": "file", "deleted": True})


ROUTES = [
    Route("/v1/files", list_files, methods=["GET"]),
    Route("/v1/files/{file_id}", delete_file, methods=["DELETE"]),
]
