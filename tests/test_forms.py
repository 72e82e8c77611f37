"""forms.py: multipart bodies read into text fields and in-memory files, with a 413 past the cap,
a 415 when not multipart and a 400 when malformed. Bodies are encoded by httpx, read as a
Starlette request (no server)."""

import httpx
import pytest
from starlette.requests import Request

from gateway.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from gateway.forms import read_form

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8  # binary, over one chunk


def as_request(body: bytes, content_type: str, chunk: int = 1000) -> Request:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    pieces = [body[i:i + chunk] for i in range(0, len(body), chunk)] or [b""]
    messages = iter([{"type": "http.request", "body": p, "more_body": i < len(pieces) - 1}
                     for i, p in enumerate(pieces)])

    async def receive():
        return next(messages)
    return Request({"type": "http", "method": "POST", "path": "/v1/files", "headers": headers,
                    "query_string": b""}, receive)


def multipart(data=None, files=None) -> Request:
    encoded = httpx.Request("POST", "http://gateway/v1/files", data=data, files=files)
    return as_request(encoded.read(), encoded.headers["content-type"])


async def test_fields_and_files_come_back_whole_and_in_order():
    form = await read_form(multipart({"prompt": "add a hat", "n": "2"},
                                     [("image", ("cat.png", PNG, "image/png")),
                                      ("image", ("dog.png", b"dog", "image/png")),
                                      ("mask", ("mask.png", b"mask", "image/png"))]),
                           max_bytes=100_000, max_files=5)
    assert form.text("prompt") == "add a hat" and form.text("n") == "2" and form.text("size") is None
    assert [(f.field, f.filename, f.content_type, f.data) for f in form.files_named("image")] == [
        ("image", "cat.png", "image/png", PNG), ("image", "dog.png", "image/png", b"dog")]
    assert [f.filename for f in form.files_named("mask", "image")] == ["cat.png", "dog.png", "mask.png"]


async def test_a_repeated_text_field_keeps_its_first_value():
    form = await read_form(multipart({"purpose": ["user_data", "assistants"]},
                                     [("file", ("a.txt", b"x", "text/plain"))]),
                           max_bytes=10_000, max_files=1)
    assert form.text("purpose") == "user_data"


async def test_a_body_past_the_cap_is_a_413():
    with pytest.raises(PayloadTooLarge) as caught:
        await read_form(multipart(files=[("file", ("big.png", PNG, "image/png"))]), max_bytes=len(PNG) // 2,
                        max_files=1)
    assert caught.value.status == 413


@pytest.mark.parametrize("content_type", ["application/json", ""])
async def test_a_body_that_is_not_multipart_is_a_415_naming_what_came(content_type):
    with pytest.raises(UnsupportedMediaType) as caught:
        await read_form(as_request(b"{}", content_type), max_bytes=1000, max_files=1)
    assert caught.value.status == 415 and (content_type or "none") in caught.value.message


async def test_more_files_than_allowed_is_a_400():
    request = multipart(files=[("image", ("a.png", b"a", "image/png")), ("image", ("b.png", b"b", "image/png"))])
    with pytest.raises(InvalidRequest) as caught:
        await read_form(request, max_bytes=10_000, max_files=1)
    assert caught.value.status == 400 and "multipart" in caught.value.message


async def test_a_multipart_body_without_its_boundary_is_a_400():
    with pytest.raises(InvalidRequest) as caught:
        await read_form(as_request(b"--x\r\n", "multipart/form-data"), max_bytes=1000, max_files=1)
    assert caught.value.status == 400 and "malformed" in caught.value.message
