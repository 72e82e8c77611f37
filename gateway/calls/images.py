"""The images service: `n` images as `n` upstream answers, run in parallel through the pool.

Each image is one upstream call (Qwen draws one per answer), spreading over accounts. A
call is a whole pool attempt, uploads and downloads included, so any failure before the
reply moves to another account. Generations take 10-60 s: the upstream timeouts apply
(first event, idle between events, keep-alives every ~10 s) inside the pool's one request
deadline, and a client that leaves cancels every call at once.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator

from starlette.requests import Request

from ..accounts import AccountPool
from ..attachments import Attachment, MediaState, gather_or_cancel, upload_images
from ..catalog import ModelCatalog, ModelInfo
from ..qwen.client import QwenClient
from ..qwen.detail import images_from_detail
from ..qwen.files import download
from ..translate.chat import completion_payload
from ..translate.images import GeneratedImage, ImageCollector, ImageRequest
from .continuation import own_chat


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


class ImageBatch:
    """A request's `n` calls: each a pool attempt, released as soon as its answer is in hand."""

    def __init__(self, request: Request, call: ImageCall, n: int) -> None:
        self._request = request
        self._call = call
        self._n = n
        self._accounts: list[str] = []

    async def all(self) -> list[GeneratedImage]:
        """Every image, or the first failure (which cancels the other calls)."""
        batches = await gather_or_cancel(self._one() for _ in range(self._n))
        return [image for batch in batches for image in batch][: self._n]

    async def as_ready(self) -> AsyncGenerator[list[GeneratedImage], None]:
        """Each call's images as it finishes; a failure raises, and closing the generator cancels
        what is left (a client that leaves before the first image cancels the route: `watched`)."""
        calls = [asyncio.ensure_future(self._one()) for _ in range(self._n)]
        pending: set[asyncio.Future[list[GeneratedImage]]] = set(calls)
        try:
            while True:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                yield [image for call in done for image in call.result()]  # raises that call's error
                if not pending:
                    return
        finally:
            for call in calls:
                call.cancel()

    async def _one(self) -> list[GeneratedImage]:
        pool: AccountPool = self._request.app.state.pool
        lease = await pool.run(self._call.run, mode="t2i")  # the whole answer: the account is free again
        self._accounts.append(lease.account_id)
        self._request.state.account = ",".join(sorted(set(self._accounts)))
        return lease.value


async def image_batch(request: Request, image_request: ImageRequest, chat_type: str,
                      sources: list[Attachment]) -> ImageBatch:
    """The checked model and the calls that will draw `image_request.n` images."""
    model = await image_model(request, image_request, chat_type)
    request.state.model = model.id
    return ImageBatch(request, ImageCall(image_request, model, chat_type, sources, request.app.state.media),
                      image_request.n)


async def image_in_chat(request: Request, image_request: ImageRequest, chat_id: str | None,
                        parent_id: str | None) -> ImageCollector:
    """One t2i answer, continuing the upstream chat `chat_id` on its account when the gateway knows it
    (else in a new chat); the answer's chat is remembered for the next turn."""
    state = request.app.state
    model = await image_model(request, image_request, "t2i")
    request.state.model = model.id
    chat_id, parent_id, owner = await own_chat(state.chats, chat_id, parent_id)
    call = ImageCall(image_request, model, "t2i", [], state.media, chat_id, parent_id)
    pool: AccountPool = state.pool
    lease = await pool.run(call.answer, pinned=owner, mode="t2i")
    state.chats.remember(lease.value.chat_id, lease.account_id)
    request.state.account = lease.account_id
    return lease.value


async def image_model(request: Request, image_request: ImageRequest, chat_type: str) -> ModelInfo:
    """The named (or configured, or catalog's default) model, checked to offer `chat_type`."""
    state = request.app.state
    catalog: ModelCatalog = state.catalog
    return (await catalog.pick(image_request.model or state.settings.media.image_model, chat_type)).info
