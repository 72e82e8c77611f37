"""The `/v1/files` uploads the gateway remembers: one record per upload in the state store.

A record holds the OpenAI File object, where Qwen keeps the bytes and which account
uploaded them (a Qwen file is usable only by its uploader), and the API key that owns
it. Routes and chat documents look uploads up and read them back only through here.
"""

from __future__ import annotations

from typing import Any

from .accounts import AccountPool
from .config import MediaSettings
from .errors import NotFound
from .qwen.client import QwenClient
from .qwen.files import UploadedFile, download
from .store import Store

NAMESPACE = "files"


async def find_upload(store: Store, file_id: str, owner: str, param: str = "file_id") -> dict[str, Any]:
    """The record of `file_id` if `owner` uploaded it; anyone else is told it does not exist."""
    entry = await store.get(NAMESPACE, file_id)
    if entry is None or entry.get("owner", "") != owner:
        raise NotFound(f"No file with id '{file_id}' was uploaded to this gateway (or it was forgotten).",
                       param=param)
    return entry


async def upload_bytes(pool: AccountPool, entry: dict[str, Any], settings: MediaSettings) -> tuple[bytes, str]:
    """An upload's bytes and content type, read back from Qwen's storage by the account that holds it."""
    uploaded = UploadedFile(**entry["uploaded"])

    async def attempt(client: QwenClient) -> tuple[bytes, str]:
        return await download(client, uploaded.file_url, settings.fetch_max_bytes, settings.fetch_timeout)

    lease = await pool.run(attempt, pinned=entry["account"])
    return lease.value[0], uploaded.content_type
