"""A page of a stored response's input items, as `GET /v1/responses/{id}/input_items` lists it. Pure.

Shared by the route and the body-decoding workers (offload.py), which page the items of a big
response so the event loop never decodes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidRequest

MAX_LIMIT = 100


def items_page(items: list[dict[str, Any]], query: Mapping[str, str]) -> dict[str, Any]:
    """The list object for `query` (`order`, `limit`, `after`, `before`); a bad parameter is a 400."""
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
    return {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None, "has_more": len(items) > limit}
