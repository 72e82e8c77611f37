"""The uploads service: a file to Qwen's storage (STS + OSS) and back.

A file goes up through the first healthy account, the way the original proxy uploaded;
the bytes are held in memory only while they stream through. The gateway remembers each
upload (metadata, not bytes) in the state store (namespace `files`) while Qwen's signed
URL lives, so any replica can look it up and read it back, after a restart too. A file
belongs to the API key that uploaded it.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict
from typing import Any

from starlette.requests import Request

from ..accounts import AccountPool
from ..attachments import MediaState
from ..errors import InvalidRequest, PayloadTooLarge
from ..file_records import NAMESPACE, find_upload, upload_bytes
from ..forms import FilePart, Form, read_form
from ..middleware import request_owner
from ..qwen.client import QwenClient
from ..qwen.files import UploadedFile, type_by_name, upload

SIGNED_URL_SECONDS = 300  # §3.6: when the URL does not say


async def read_upload(request: Request) -> tuple[Form, FilePart]:
    """The multipart body's `file` part, checked against the upload limit."""
    state = request.app.state
    limit = state.media.settings.upload_max_bytes
    form = await read_form(request, max_bytes=max(state.settings.max_body_bytes, limit + 65536), max_files=1)
    parts = form.files_named("file")
    if not parts:
        raise InvalidRequest("'file' is required: the file to upload, as a multipart part.", param="file")
    part = parts[0]
    if len(part.data) > limit:
        raise PayloadTooLarge(f"The file is larger than the upload limit of {limit} bytes.", param="file")
    if not part.data:
        raise InvalidRequest("The file is empty.", param="file")
    return form, part


async def store_upload(request: Request, part: FilePart, purpose: str) -> tuple[dict[str, Any], UploadedFile]:
    """Upload through a healthy account and remember it; the OpenAI File object and the upload."""
    state = request.app.state
    media: MediaState = state.media
    filename = part.filename or "file"
    content_type = _content_type(part.content_type, filename)

    async def attempt(client: QwenClient) -> UploadedFile:
        return await upload(client, part.data, filename, content_type, keys=media.uploads.sts_keys)

    pool: AccountPool = state.pool
    lease = await pool.run(attempt)
    request.state.account = lease.account_id
    created = int(time.time())
    record: dict[str, Any] = {
        "id": "file-" + secrets.token_hex(12),
        "object": "file",
        "bytes": len(part.data),
        "created_at": created,
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
        "expires_at": lease.value.expires_at or created + SIGNED_URL_SECONDS,
    }
    entry = {"record": record, "uploaded": asdict(lease.value), "account": lease.account_id,
             "owner": request_owner(request.scope), "created_ns": time.time_ns()}  # listing order within a second
    await state.store.put(NAMESPACE, record["id"], entry, record["expires_at"] - time.time())
    return record, lease.value


async def find_file(request: Request, file_id: str) -> dict[str, Any]:
    """The caller's upload `file_id` as stored: its File object, the upload and its account."""
    return await find_upload(request.app.state.store, file_id, request_owner(request.scope))


async def read_back(request: Request, entry: dict[str, Any]) -> tuple[bytes, str]:
    """The upload's bytes and content type, through the account that uploaded them."""
    state = request.app.state
    return await upload_bytes(state.pool, entry, state.media.settings)


def _content_type(declared: str, filename: str) -> str:
    declared = declared.split(";")[0].strip().lower()
    if declared and declared != "application/octet-stream":
        return declared
    return type_by_name(filename, "application/octet-stream")
