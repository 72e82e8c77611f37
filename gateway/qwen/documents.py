"""Documents in a chat (§3.8, §7a): upload, `files/parse`, poll its status, attach.

Only the uploading account can use a file (Q), so all of this runs inside the
attempt, on the account that sends the completion. Parsing is polled about once
a second; past `PARSE_WAIT` the file is sent anyway, as the web UI does (parsing
ends server-side).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import urlsplit

from ..errors import UpstreamInvalidInput
from .client import QwenClient
from .files import StsKeys, UploadedFile, upload

log = logging.getLogger("gateway.documents")
PARSE_POLL = 1.0  # seconds between status polls
PARSE_WAIT = 15.0  # then send anyway
PARSED = frozenset({"success", "completed", "done"})
FAILED = frozenset({"failed", "error"})


async def upload_document(client: QwenClient, data: bytes, name: str, content_type: str, keys: StsKeys | str,
                          *, poll: float = PARSE_POLL, wait: float = PARSE_WAIT) -> UploadedFile:
    """Upload and parse one document; an unparseable one is the client's fault (400)."""
    uploaded = await upload(client, data, name, content_type, keys=keys)
    await client.parse_file(uploaded.file_id)
    deadline = time.monotonic() + wait
    while True:
        status, message = _status(await client.parse_status(uploaded.file_id), uploaded.file_id)
        if status in PARSED:
            return uploaded
        if status in FAILED:
            detail = f": {message}" if message else ""
            raise UpstreamInvalidInput(f"Qwen could not read the document '{name}'{detail}")
        if time.monotonic() >= deadline:
            log.info("document %s still %s after %.0f s; sending it anyway", uploaded.file_id, status, wait)
            return uploaded
        await asyncio.sleep(poll)


def _status(reply: Any, file_id: str) -> tuple[str, str]:
    """`data[0].status`, or the record whose `file_id` matches (R)."""
    records = reply.get("data") if isinstance(reply, dict) else None
    if isinstance(records, dict):
        records = [records]
    if not isinstance(records, list) or not records:
        return "running", ""
    record = next((r for r in records if isinstance(r, dict) and r.get("file_id") == file_id), records[0])
    if not isinstance(record, dict):
        return "running", ""
    return str(record.get("status") or "running").lower(), str(record.get("error_msg") or "")


def document_entry(uploaded: UploadedFile, *, context_file: bool = False) -> dict[str, Any]:
    """The §7a `files[]` item: a parsed document, or (`context_file`) the web UI's pasted-text file."""
    now = int(time.time() * 1000)
    segments = urlsplit(uploaded.file_url).path.strip("/").split("/")
    user_id = segments[-2] if len(segments) >= 2 else ""  # the file path's first segment: <uid>/<id>_<name>
    meta = {"name": uploaded.name, "size": uploaded.size, "content_type": uploaded.content_type,
            "parse_meta": {"parse_status": "success"}}
    return {
        "type": "file", "id": uploaded.file_id, "url": uploaded.file_url, "name": uploaded.name,
        "size": uploaded.size,
        "file": {"id": uploaded.file_id, "user_id": user_id, "filename": uploaded.name, "name": uploaded.name,
                 "size": uploaded.size, "type": uploaded.content_type, "created_at": now, "update_at": now,
                 "data": {}, "hash": None, "meta": meta},
        "file_type": uploaded.content_type, "showType": "file",
        "file_class": "default" if context_file else "document", "context": "full", "status": "uploaded",
        "greenNet": "success", "progress": 0, "error": "", "collection_name": "", "itemId": uploaded.file_id,
        "uploadTaskId": uploaded.file_id,
    }
