"""`POST /v1/files`, `GET /v1/files/{id}` and `GET /v1/files/{id}/content`.

The service (Qwen's storage, and the gateway's record of each upload) is `calls/uploads.py`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..calls.lifetime import watched
from ..calls.uploads import find_file, read_back, read_upload, store_upload
from ..errors import InvalidRequest
from .common import json_response


async def create_file(request: Request) -> Response:
    form, part = await read_upload(request)
    purpose = (form.text("purpose") or "").strip()
    if not purpose:
        raise InvalidRequest("'purpose' is required (for example 'vision' or 'user_data').", param="purpose")
    record, _ = await store_upload(request, part, purpose)
    return json_response(record)


async def retrieve_file(request: Request) -> Response:
    return json_response((await find_file(request, request.path_params["file_id"]))["record"])


async def file_content(request: Request) -> Response:
    """The bytes back from Qwen's storage, through the account that uploaded them."""
    entry = await find_file(request, request.path_params["file_id"])
    data, content_type = await read_back(request, entry)
    return Response(data, media_type=content_type)


ROUTES = [
    watched(Route("/v1/files", create_file, methods=["POST"])),
    Route("/v1/files/{file_id}", retrieve_file, methods=["GET"]),
    watched(Route("/v1/files/{file_id}/content", file_content, methods=["GET"])),
]
