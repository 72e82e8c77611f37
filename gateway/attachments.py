"""Client images → bytes → Qwen uploads → the `files[]` entries of a completion (§7).

Qwen accepts only files on its own CDN, so every image a client sends (a `data:`
URI or an http(s) URL) is turned into bytes here, before any account is taken,
where a bad image is a 400 naming the field; then, inside a pool attempt, uploaded
through STS + OSS on the account serving the call. Uploads are cached per
(account, content hash) for less than their signed URL's ~300 s life.

The chat route's use:

    refs = image_refs(chat.messages)                    # 400s name messages[i].content[j].image_url
    images = await load_images(refs, media)             # before pool.acquire
    ...inside the attempt: files = await upload_images(client, images, media.uploads)
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

from .config import MediaSettings
from .errors import InvalidRequest, PayloadTooLarge
from .fetcher import ImageFetcher
from .qwen.client import QwenClient
from .qwen.files import StsKeys, UploadedFile, file_entry, upload

T = TypeVar("T")
MAX_CACHED_UPLOADS = 4096
OFF_LOOP_BYTES = 1 << 20  # smaller images are decoded on the event loop: a thread costs more
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
          (b"GIF89a", "image/gif"), (b"BM", "image/bmp"))
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp", "image/bmp": "bmp"}


@dataclass(frozen=True)
class ImageRef:
    """One image a request refers to, and the request field to name when it is bad."""

    param: str
    url: str
    message_index: int = 0


@dataclass(frozen=True)
class Attachment:
    data: bytes
    content_type: str
    filename: str
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", hashlib.sha256(self.data).hexdigest())


def image_refs(messages: list[dict[str, Any]]) -> list[ImageRef]:
    """Every `image_url` part (`{"url": ...}` or a bare string) of a chat message list."""
    refs = []
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        for j, part in enumerate(content if isinstance(content, list) else ()):
            if not isinstance(part, dict) or part.get("type") != "image_url":
                continue
            param = f"messages[{i}].content[{j}].image_url"
            value = part.get("image_url")
            url = value.get("url") if isinstance(value, dict) else value
            if not isinstance(url, str) or not url.strip():
                raise InvalidRequest(f"'{param}' must be an object with a 'url' string.", param=param)
            refs.append(ImageRef(param, url.strip(), i))
    return refs


def sniff_image_type(data: bytes) -> str | None:
    """The image type the bytes say, for uploads whose declared type is vague."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)


def image_attachment(data: bytes, declared: str, filename: str, param: str) -> Attachment:
    """Bytes known to be an image, with a usable type and name; else a 400."""
    content_type = declared.split(";")[0].strip().lower()
    if not content_type.startswith("image/"):
        content_type = sniff_image_type(data) or ""
    if not content_type:
        raise InvalidRequest(f"'{param}' is not an image (PNG, JPEG, GIF, WebP or BMP).", param=param,
                             code="invalid_image")
    if not filename or "." not in filename:
        filename = f"image.{_EXTENSIONS.get(content_type, 'png')}"
    return Attachment(data, content_type, filename)


def decode_data_uri(uri: str, param: str, max_bytes: int) -> Attachment:
    """`data:image/<type>[;base64],<payload>` → an Attachment; size-checked before decoding."""
    header, comma, payload = uri[5:].partition(",")
    if not comma:
        raise InvalidRequest(f"'{param}' is not a valid data: URI (no comma).", param=param, code="invalid_image")
    params = [p.strip().lower() for p in header.split(";")]
    if len(payload) * 3 // 4 > max_bytes + 3:
        raise PayloadTooLarge(f"The image in '{param}' is larger than the {max_bytes}-byte limit.", param=param)
    try:
        data = (base64.b64decode("".join(payload.split()), validate=True) if "base64" in params[1:]
                else unquote_to_bytes(payload))
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"'{param}' holds invalid base64.", param=param, code="invalid_image") from None
    if not data:
        raise InvalidRequest(f"'{param}' holds no data.", param=param, code="invalid_image")
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"The image in '{param}' is larger than the {max_bytes}-byte limit.", param=param)
    declared = params[0] or "text/plain"  # RFC 2397's default
    if not declared.startswith("image/"):
        raise InvalidRequest(f"'{param}' is a data: URI of type {declared}, not an image.", param=param,
                             code="invalid_image")
    return image_attachment(data, declared, "", param)


async def load_images(refs: list[ImageRef], media: MediaState) -> list[Attachment]:
    """Each referenced image as bytes: data: URIs decoded, http(s) URLs fetched in parallel."""
    async def load(ref: ImageRef) -> Attachment:
        scheme = ref.url.split(":", 1)[0].lower()
        if scheme == "data":
            return await _off_loop(len(ref.url), decode_data_uri, ref.url, ref.param, media.settings.fetch_max_bytes)
        if scheme not in ("http", "https"):
            raise InvalidRequest(f"'{ref.param}' must be an http(s) URL or a data: URI.", param=ref.param,
                                 code="invalid_image_url")
        data, content_type = await media.fetcher.fetch(ref.url, ref.param)
        name = ref.url.split("?", 1)[0].rsplit("/", 1)[-1]
        return await _off_loop(len(data), image_attachment, data, content_type, name, ref.param)

    return await gather_or_cancel(load(ref) for ref in refs)


async def _off_loop(size: int, work: Callable[..., T], *args: Any) -> T:
    """Run decoding and hashing of a large image in a thread: a 25 MB one takes ~50 ms of CPU."""
    if size < OFF_LOOP_BYTES:
        return work(*args)
    return await asyncio.to_thread(work, *args)


class UploadCache:
    """Uploads by (account id, sha256 of the bytes), kept while their signed URL is valid."""

    def __init__(self, ttl: float, sts_keys: str = "auto", *, clock: Callable[[], float] = time.time,
                 max_entries: int = MAX_CACHED_UPLOADS) -> None:
        self.ttl = ttl
        self.sts_keys = StsKeys(sts_keys)  # how new uploads ask for credentials, learnt once
        self._clock = clock
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[UploadedFile, float]] = OrderedDict()

    def get(self, account_id: str, digest: str) -> UploadedFile | None:
        entry = self._entries.get((account_id, digest))
        if entry is None or entry[1] <= self._clock():
            self._entries.pop((account_id, digest), None)
            return None
        return entry[0]

    def put(self, account_id: str, digest: str, uploaded: UploadedFile) -> None:
        now = self._clock()
        until = now + self.ttl
        if uploaded.expires_at is not None:  # the URL says when it dies: stop a minute before
            until = min(until, uploaded.expires_at - 60)
        if until <= now:
            return
        self._entries[(account_id, digest)] = (uploaded, until)
        self._entries.move_to_end((account_id, digest))
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


async def upload_images(client: QwenClient, images: list[Attachment], cache: UploadCache) -> list[dict[str, Any]]:
    """The `files[]` entries for `images` on `client`'s account, uploading what is not cached."""
    async def one(image: Attachment) -> dict[str, Any]:
        uploaded = cache.get(client.account_id, image.sha256)
        if uploaded is None:
            uploaded = await upload(client, image.data, image.filename, image.content_type, keys=cache.sts_keys)
            cache.put(client.account_id, image.sha256, uploaded)
        return file_entry(uploaded)

    return await gather_or_cancel(one(image) for image in images)


async def gather_or_cancel(work: Iterable[Awaitable[T]]) -> list[T]:
    """Like asyncio.gather, but the first failure cancels the rest and is raised as itself."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_awaited(w)) for w in work]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


async def _awaited(work: Awaitable[T]) -> T:
    return await work


class MediaState:
    """What the image and file routes share for the app's life (`app.state.media`)."""

    def __init__(self, settings: MediaSettings) -> None:
        self.settings = settings
        self.fetcher = ImageFetcher(settings.fetch_max_bytes, settings.fetch_timeout, settings.allow_private_fetch)
        self.uploads = UploadCache(settings.upload_cache_seconds, settings.sts_keys)

    async def close(self) -> None:
        await self.fetcher.close()
