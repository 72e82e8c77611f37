"""middleware.py: the request id and access line every request gets, and API-key checks,
seen through an in-process ASGI client (no server)."""

import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from gateway.middleware import ApiKeyAuth, RequestLog, owner_id, request_owner


async def whoami(request: Request) -> JSONResponse:
    request.scope["state"]["model"] = "qwen3-max"
    return JSONResponse({"owner": request_owner(request.scope), "request_id": request.scope["state"]["request_id"]})


async def stream(request: Request) -> StreamingResponse:
    async def chunks():
        yield b"one"
        yield b"two"
    return StreamingResponse(chunks())


def client(keys=()):
    app = Starlette(routes=[Route("/v1/me", whoami), Route("/health", whoami), Route("/status", whoami),
                            Route("/v1/stream", stream)])
    wrapped = RequestLog(ApiKeyAuth(app, keys=keys))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://gateway")


async def test_each_request_gets_its_own_id_in_a_header_and_one_access_line(caplog):
    caplog.set_level(logging.INFO, logger="gateway.access")
    async with client() as http:
        first, second = await http.get("/v1/me"), await http.get("/v1/me")
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(i.startswith("req_") for i in ids) and ids[0] != ids[1]
    assert first.json()["request_id"] == ids[0]
    lines = [r for r in caplog.records if r.name == "gateway.access"]
    assert [r.request_id for r in lines] == ids
    assert lines[0].status == 200 and lines[0].path == "/v1/me" and lines[0].model == "qwen3-max"
    assert f"id={ids[0]} method=GET path=/v1/me status=200 model=qwen3-max" in lines[0].getMessage()


async def test_a_stream_logs_its_first_byte_time(caplog):
    caplog.set_level(logging.INFO, logger="gateway.access")
    async with client() as http:
        assert (await http.get("/v1/stream")).content == b"onetwo"
    [line] = [r for r in caplog.records if r.name == "gateway.access"]
    assert line.first_token_ms is not None and line.first_token_ms <= line.duration_ms


async def test_without_keys_everyone_is_let_in_as_the_same_empty_owner():
    async with client() as http:
        reply = await http.get("/v1/me")
    assert reply.status_code == 200 and reply.json()["owner"] == ""


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong"}, {"authorization": "Basic sk-one"},
                                     {"x-api-key": "sk-on"}])
async def test_a_missing_or_wrong_key_is_an_openai_401(headers):
    async with client(("sk-one", "sk-two")) as http:
        reply = await http.get("/v1/me", headers=headers)
    assert reply.status_code == 401 and reply.headers["content-type"] == "application/json"
    error = reply.json()["error"]
    assert error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error"
    assert set(error) == {"message", "type", "param", "code"} and "sk-one" not in reply.text


@pytest.mark.parametrize("headers", [{"authorization": "Bearer sk-two"}, {"authorization": "bearer  sk-two "},
                                     {"x-api-key": "sk-two"}])
async def test_a_right_key_gets_through_as_an_owner_that_is_not_the_key(headers):
    async with client(("sk-one", "sk-two")) as http:
        reply = await http.get("/v1/me", headers=headers)
    assert reply.status_code == 200
    assert reply.json()["owner"] == owner_id(b"sk-two") != owner_id(b"sk-one")
    assert "sk-two" not in reply.json()["owner"] and len(reply.json()["owner"]) == 24


async def test_health_and_the_status_page_need_no_key():
    async with client(("sk-one",)) as http:
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/status")).status_code == 200
