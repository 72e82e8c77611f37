"""Multipart form bodies (image edits, file uploads), read into memory with caps.

Starlette's parser spools file parts over 1 MB to a temporary file written through
a thread pool; the gateway keeps uploads in memory (25 MB each by default) and caps
the whole body while it streams in, so an oversized upload is a 413 before it is
buffered, not after.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from .errors import InvalidRequest, UnsupportedMediaType
from .limits import capped_stream

MAX_FIELD_BYTES = 1024 * 1024  # a text field (a prompt); OpenAI caps prompts at 32 000 characters


@dataclass(frozen=True)
class FilePart:
    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[FilePart] = field(default_factory=list)

    def text(self, name: str) -> str | None:
        return self.fields.get(name)

    def files_named(self, *names: str) -> list[FilePart]:
        return [f for f in self.files if f.field in names]


class _InMemoryParser(MultiPartParser):
    def __init__(self, request: Request, stream: AsyncGenerator[bytes, None], max_bytes: int, max_files: int) -> None:
        super().__init__(request.headers, stream, max_files=max_files, max_fields=100, max_part_size=MAX_FIELD_BYTES)
        self.spool_max_size = max_bytes + 1  # never rolls over to disk


async def read_form(request: Request, *, max_bytes: int, max_files: int) -> Form:
    """The multipart body as text fields and in-memory files; 413 past `max_bytes`, 415 if not multipart."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "multipart/form-data":
        raise UnsupportedMediaType(f"Expected a multipart/form-data body, got '{content_type or 'none'}'.")
    parser = _InMemoryParser(request, capped_stream(request, max_bytes), max_bytes, max_files)
    try:
        parsed = await parser.parse()
    except MultiPartException as exc:
        raise InvalidRequest(f"The multipart body is malformed: {exc.message}") from None
    form = Form()
    for name, value in parsed.multi_items():
        if isinstance(value, UploadFile):
            form.files.append(FilePart(name, value.filename or "", value.content_type or "", value.file.read()))
            value.file.close()
        else:
            form.fields.setdefault(name, value)
    return form

