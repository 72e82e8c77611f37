"""Documents in a chat: OpenAI `file` content parts, read into bytes before the call.

A part carries the file inline (`file_data`, base64 or a `data:` URI, with its
`filename`) or names an upload of `/v1/files` (`file_id`), which is read back from
Qwen's storage through the account that holds it: a Qwen file is usable only by its
uploader, so each answering account uploads its own copy (§3.8). Text, Markdown,
PDF and DOCX are accepted, within the upload size cap.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from .errors import InvalidRequest, PayloadTooLarge
from .file_records import find_upload, upload_bytes
from .middleware import request_owner

DOCUMENT_TYPES = {
    "txt": "text/plain", "md": "text/markdown", "markdown": "text/markdown", "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


@dataclass(frozen=True)
class DocumentFile:
    message_index: int
    data: bytes
    name: str
    content_type: str


def document_parts(messages: list[dict[str, Any]]) -> list[tuple[int, str, dict[str, Any]]]:
    """(message index, where, the part's `file` object) of every `file` part."""
    found = []
    for index, message in enumerate(messages):
        content = message.get("content")
        for part_index, part in enumerate(content if isinstance(content, list) else ()):
            if isinstance(part, dict) and part.get("type") == "file":
                found.append((index, f"messages[{index}].content[{part_index}]", part.get("file") or {}))
    return found


def _type_of(name: str, where: str) -> str:
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in DOCUMENT_TYPES:
        raise InvalidRequest(f"{where}: '{name}' is not a supported document; send .txt, .md, .pdf or .docx.",
                             param=where)
    return DOCUMENT_TYPES[extension]


def _decode(data: str, where: str) -> bytes:
    payload = data.split(",", 1)[1] if data.startswith("data:") and "," in data else data
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{where}.file.file_data must be base64 (or a base64 data: URI).",
                             param=f"{where}.file.file_data") from None


async def load_documents(request: Request, messages: list[dict[str, Any]]) -> list[DocumentFile]:
    state = request.app.state
    limit = state.media.settings.upload_max_bytes
    documents = []
    for index, where, file in document_parts(messages):
        if isinstance(file.get("file_id"), str):
            data, name = await _uploaded(request, file["file_id"], where)
        else:
            name = str(file.get("filename") or "")
            if not name:
                raise InvalidRequest(
                    f"{where}.file.filename is required with file_data.", param=f"{where}.file.filename"
                )
            _type_of(name, where)  # before decoding: refuse what cannot be used at once
            data = _decode(str(file.get("file_data") or ""), where)
        content_type = _type_of(name, where)
        if len(data) > limit:
            raise PayloadTooLarge(f"{where}: the document is larger than the upload limit of {limit} bytes.",
                                  param=where)
        if not data:
            raise InvalidRequest(f"{where}: the document is empty.", param=where)
        documents.append(DocumentFile(index, data, name, content_type))
    return documents


async def _uploaded(request: Request, file_id: str, where: str) -> tuple[bytes, str]:
    """A `/v1/files` upload's bytes and name, through the account that holds it."""
    state = request.app.state
    entry = await find_upload(state.store, file_id, request_owner(request.scope), param=f"{where}.file.file_id")
    data, _ = await upload_bytes(state.pool, entry, state.media.settings)
    return data, str(entry["record"]["filename"])
