"""`POST /v1/images/generations` (Qwen t2i) and `POST /v1/images/edits` (Qwen image_edit).

The service (one upstream answer per image, in parallel through the pool) is `calls/images.py`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..attachments import Attachment, MediaState, image_attachment
from ..calls.images import image_batch
from ..calls.lifetime import watched
from ..errors import GatewayError, InvalidRequest, PayloadTooLarge
from ..forms import read_form
from ..limits import read_json
from ..translate.images import (
    MAX_IMAGES,
    GeneratedImage,
    ImageRequest,
    image_stream_event,
    images_response,
    parse_edit,
    parse_generation,
)
from .common import json_response

log = logging.getLogger("gateway.images")


async def create_image(request: Request) -> Response:
    state = request.app.state
    image_request = parse_generation(await read_json(request, state.settings.max_body_bytes))
    return await _serve(request, image_request, "t2i", [])


async def edit_image(request: Request) -> Response:
    state = request.app.state
    media: MediaState = state.media
    body_cap = max(state.settings.max_body_bytes, media.settings.upload_max_bytes + 65536)
    form = await read_form(request, max_bytes=body_cap, max_files=MAX_IMAGES + 2)
    image_request = parse_edit(form.fields)
    parts = form.files_named("image", "image[]")
    if not parts:
        raise InvalidRequest("'image' is required: one or more image files.", param="image")
    if len(parts) > MAX_IMAGES:
        raise InvalidRequest(f"At most {MAX_IMAGES} images can be edited at once.", param="image")
    sources = []
    for part in parts:
        if len(part.data) > media.settings.upload_max_bytes:
            raise PayloadTooLarge(f"'{part.filename or 'image'}' is larger than the upload limit of "
                                  f"{media.settings.upload_max_bytes} bytes.", param="image")
        if not part.data:
            raise InvalidRequest(f"'{part.filename or 'image'}' is empty.", param="image")
        sources.append(image_attachment(part.data, part.content_type, part.filename, "image"))
    if form.files_named("mask"):  # Qwen's image_edit has no mask: the prompt alone says what to change
        log.info("ignoring an image-edit mask: Qwen edits the whole image")
    return await _serve(request, image_request, "image_edit", sources)


async def _serve(request: Request, image_request: ImageRequest, chat_type: str, sources: list[Attachment]) -> Response:
    batch = await image_batch(request, image_request, chat_type, sources)
    created = int(time.time())
    if not image_request.stream:
        return json_response(images_response(created, await batch.all(), image_request))
    kind = "image_generation" if chat_type == "t2i" else "image_edit"
    ready = batch.as_ready()
    try:
        first = await anext(ready)
    except BaseException:
        await ready.aclose()
        raise
    return StreamingResponse(_events(ready, first, kind, created, image_request), media_type="text/event-stream",
                             headers={"cache-control": "no-cache"})


async def _events(ready: AsyncGenerator[list[GeneratedImage], None], first: list[GeneratedImage], kind: str,
                  created: int, image_request: ImageRequest) -> AsyncIterator[bytes]:
    """One completed event per image as each arrives. The response starts with the first image, so a
    failure before any image is an ordinary HTTP error the client can retry; a later one is an
    error event."""
    images: list[GeneratedImage] | None = first
    sent = 0
    try:
        while images is not None:
            for image in images[: image_request.n - sent]:
                sent += 1
                event = image_stream_event(kind, image, created, image_request)
                yield b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"
            if sent >= image_request.n:
                return
            images = await anext(ready, None)
    except GatewayError as exc:
        log.warning("image stream failed after its first image: %s", exc.message)
        yield b"event: error\ndata: " + exc.render() + b"\n\n"
    finally:
        await ready.aclose()


ROUTES = [
    watched(Route("/v1/images/generations", create_image, methods=["POST"])),
    watched(Route("/v1/images/edits", edit_image, methods=["POST"])),
]
