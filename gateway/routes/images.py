"""`POST /v1/images/generations` (Qwen t2i) and `POST /v1/images/edits` (Qwen image_edit).

Each image is one upstream call (Qwen draws one per answer), so `n` images are `n`
calls run in parallel through the pool, spreading over accounts. A call is a whole
pool attempt, uploads and downloads included, so any failure before the reply
moves to another account. Generations take 10-60 s: the upstream timeouts apply
(first event, idle between events, keep-alives every ~10 s) inside the pool's one
request deadline, and a client that leaves cancels every call at once.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncIterator

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..accounts import AccountPool
from ..attachments import Attachment, MediaState, gather_or_cancel, image_attachment, upload_images
from ..catalog import ModelInfo, ResolvedModel
from ..errors import GatewayError, InvalidRequest, PayloadTooLarge
from ..forms import read_form
from ..limits import read_json
from ..qwen.client import QwenClient
from ..qwen.detail import images_from_detail
from ..qwen.files import download
from ..translate.chat import completion_payload
from ..translate.images import (
    MAX_IMAGES,
    GeneratedImage,
    ImageCollector,
    ImageRequest,
    default_model,
    image_stream_event,
    images_response,
    parse_edit,
    parse_generation,
)
from .common import cancel_on_disconnect, json_response

log = logging.getLogger("gateway.images")
_CAPABILITY = {"t2i": "image generation", "image_edit": "image editing"}


class ImageCall:
    """One upstream answer; `run` is the pool attempt."""

    def __init__(self, request: ImageRequest, model: ModelInfo, chat_type: str, sources: list[Attachment],
                 media: MediaState, chat_id: str | None = None, parent_id: str | None = None) -> None:
        self.request = request
        self.model = model
        self.chat_type = chat_type
        self.sources = sources
        self.media = media
        self.chat_id = chat_id  # continue this upstream chat (the legacy API's chatId / parentId)
        self.parent_id = parent_id

    async def run(self, client: QwenClient) -> list[GeneratedImage]:
        return (await self.answer(client)).images

    async def answer(self, client: QwenClient) -> ImageCollector:
        """One upstream answer: its images and the ids that continue its chat."""
        files = await upload_images(client, self.sources, self.media.uploads) if self.sources else []
        chat_id = self.chat_id or await client.create_chat(self.model.id, self.chat_type)
        payload = completion_payload(
            chat_id=chat_id, model=self.model.id, content=self.request.prompt, chat_type=self.chat_type,
            thinking=self.model.thinking,  # as the web frontend sends t2i, where the model can think
            files=files, size=self.request.ratio, parent_id=self.parent_id,
        )
        collector = ImageCollector(chat_id)
        events = client.stream_completion(chat_id, payload)
        try:
            async for event in events:
                collector.feed(event)
        finally:
            await events.aclose()  # type: ignore[attr-defined]
        if not collector.images and not collector.said_anything:  # §5: the chat detail may hold the URLs
            collector.add_urls(*await images_from_detail(client, collector.chat_id, collector.response_id))
        collector.images = collector.result()
        if self.request.response_format == "b64_json":
            collector.images = await gather_or_cancel(self._inline(client, image) for image in collector.images)
        return collector

    async def _inline(self, client: QwenClient, image: GeneratedImage) -> GeneratedImage:
        settings = self.media.settings
        data, _ = await download(client, image.url, settings.fetch_max_bytes, settings.fetch_timeout)
        return GeneratedImage(image.url, image.width, image.height, base64.b64encode(data).decode())


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
    state = request.app.state
    model = await image_model(request, image_request, chat_type)
    request.state.model = model.id
    call = ImageCall(image_request, model, chat_type, sources, state.media)
    pool: AccountPool = state.pool
    accounts: list[str] = []

    async def one() -> list[GeneratedImage]:
        lease = await pool.acquire(call.run, mode="t2i")
        lease.release()  # the whole answer is in hand: nothing else to hold the account for
        accounts.append(lease.account_id)
        request.state.account = ",".join(sorted(set(accounts)))
        return lease.value

    created = int(time.time())
    if image_request.stream:
        kind = "image_generation" if chat_type == "t2i" else "image_edit"
        return await _stream(request, [asyncio.ensure_future(one()) for _ in range(image_request.n)], kind, created,
                             image_request)
    batches = await cancel_on_disconnect(request, gather_or_cancel(one() for _ in range(image_request.n)))
    images = [image for batch in batches for image in batch][: image_request.n]
    return json_response(images_response(created, images, image_request))


async def _stream(request: Request, calls: list[asyncio.Future[list[GeneratedImage]]], kind: str, created: int,
                  image_request: ImageRequest) -> Response:
    """One completed event per image as each arrives. The response starts with the first image, so a
    failure before any image is an ordinary HTTP error the client can retry; a later one is an
    error event."""
    pending = set(calls)
    try:
        done, pending = await cancel_on_disconnect(request, asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED))
        first = [image for call in done for image in call.result()]  # raises the first call's error
    except BaseException:
        for call in calls:
            call.cancel()
        raise

    async def events() -> AsyncIterator[bytes]:
        nonlocal pending
        ready, sent = first, 0
        try:
            while True:
                for image in ready[: image_request.n - sent]:
                    sent += 1
                    event = image_stream_event(kind, image, created, image_request)
                    yield b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"
                if not pending or sent >= image_request.n:
                    return
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                ready = [image for call in done for image in call.result()]
        except GatewayError as exc:
            log.warning("image stream failed after its first image: %s", exc.message)
            yield b"event: error\ndata: " + exc.render() + b"\n\n"
        finally:
            for call in pending:
                call.cancel()

    return StreamingResponse(events(), media_type="text/event-stream", headers={"cache-control": "no-cache"})


async def image_model(request: Request, image_request: ImageRequest, chat_type: str) -> ModelInfo:
    """The named (or configured, or first capable) model, checked to offer `chat_type`."""
    state = request.app.state
    name = image_request.model or state.settings.media.image_model
    if name:
        resolved: ResolvedModel = await state.catalog.resolve(name)
        model = resolved.info
    else:
        found = default_model(await state.catalog.models(), chat_type)
        if found is None:
            raise InvalidRequest(f"No Qwen model offers {_CAPABILITY[chat_type]}; name one with 'model'.",
                                 param="model")
        model = found
    if chat_type not in model.chat_types:
        raise InvalidRequest(f"The model '{model.id}' does not support {_CAPABILITY[chat_type]}; "
                             "pick one that does (see GET /v1/models).", param="model")
    return model


ROUTES = [
    Route("/v1/images/generations", create_image, methods=["POST"]),
    Route("/v1/images/edits", edit_image, methods=["POST"]),
]
