"""limits.py: the per-request body cap (413), the budget for all bodies at once (503 +
Retry-After) and JSON body reading (415, 400), driven as plain ASGI calls (no server)."""

import asyncio

import orjson
import pytest
from starlette.requests import Request

from gateway.errors import InvalidRequest, Overloaded, PayloadTooLarge, UnsupportedMediaType
from gateway.limits import BodyBudget, read_body, read_json


def scope(headers=None):
    raw = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    return {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": raw, "query_string": b""}


def receiver(*chunks):
    """An ASGI receive giving `chunks` as the body, then a disconnect."""
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    messages.append({"type": "http.disconnect"})
    iterator = iter(messages)

    async def receive():
        return next(iterator)
    return receive


def request(*chunks, **headers):
    return Request(scope(headers), receiver(*chunks))


class Sent(list):
    async def __call__(self, message):
        self.append(message)

    @property
    def status(self):
        return self[0]["status"]


async def reader(scope, receive, send):
    """An app that reads its whole body, then answers 200."""
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def test_a_declared_length_past_what_is_left_is_refused_before_a_byte_is_read():
    budget = BodyBudget(reader, max_bytes=100)
    sent = Sent()

    async def never():
        raise AssertionError("the body was read")
    await budget(scope({"content-length": "101"}), never, sent)
    assert sent.status == 503
    assert dict(sent[0]["headers"])[b"retry-after"] == b"2"
    assert orjson.loads(sent[1]["body"])["error"]["code"] == "overloaded"


async def test_bodies_held_together_past_the_budget_are_refused_until_they_are_released():
    release = asyncio.Event()

    async def holder(scope, receive, send):  # holds its first 60 bytes until released
        await receive()
        await release.wait()
        await reader(scope, receive, send)
    budget = BodyBudget(holder, max_bytes=100)
    first = asyncio.create_task(budget(scope(), receiver(b"x" * 60, b""), Sent()))
    await asyncio.sleep(0)
    assert budget.held == 60
    with pytest.raises(Overloaded) as caught:  # the app's error handler renders it as a 503
        await budget(scope(), receiver(b"y" * 50), Sent())
    assert caught.value.status == 503 and caught.value.headers == {"retry-after": "2"}
    assert budget.held == 60  # the refused body reserved nothing
    release.set()
    await first
    assert budget.held == 0
    sent = Sent()
    await budget(scope(), receiver(b"y" * 50), sent)
    assert sent.status == 200 and budget.held == 0


async def test_a_body_over_the_cap_is_a_413_whether_declared_or_counted():
    with pytest.raises(PayloadTooLarge) as declared:
        await read_body(request(b"tiny", **{"content-length": "11"}), max_bytes=10)
    assert declared.value.status == 413 and "10 bytes" in declared.value.message
    with pytest.raises(PayloadTooLarge):
        await read_body(request(b"123456", b"789012"), max_bytes=10)
    assert await read_body(request(b"12345", b"67890"), max_bytes=10) == b"1234567890"


async def test_json_bodies_are_decoded_and_other_types_are_a_415():
    assert await read_json(request(b'{"a": [1, 2]}'), 1000) == {"a": [1, 2]}
    assert await read_json(request(b'{"a": 1}', **{"content-type": "application/merge-patch+json"}), 1000) == {"a": 1}
    with pytest.raises(UnsupportedMediaType) as caught:
        await read_json(request(b"a=1", **{"content-type": "application/x-www-form-urlencoded"}), 1000)
    assert caught.value.status == 415 and "application/x-www-form-urlencoded" in caught.value.message


@pytest.mark.parametrize(("body", "says"), [(b"", "empty"), (b"  \n", "empty"), (b'{"a": ', "not valid JSON")])
async def test_empty_or_broken_json_is_a_400_that_says_which(body, says):
    with pytest.raises(InvalidRequest) as caught:
        await read_json(request(body), 1000)
    assert caught.value.status == 400 and says in caught.value.message
