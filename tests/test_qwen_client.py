"""QwenClient against a scripted upstream on a real socket: what it sends, and how every kind of
failure (transport, timeout, WAF page, error envelope) comes out as one UpstreamError."""

import asyncio
import socket

import orjson
import pytest
from aiohttp import TraceConfig, web
from stub_server import serve_all

from gateway.config import AccountSettings, Timeouts, UpstreamSettings
from gateway.errors import (
    UpstreamBlocked,
    UpstreamContract,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamTransport,
)
from gateway.qwen.auth import AuthUnreachable
from gateway.qwen.client import QwenClient
from gateway.qwen.events import Delta, ResponseCreated

TOKEN = "jwt-secret-token"


def sse(*objects):
    return b"".join(b"data: " + orjson.dumps(o) + b"\n\n" for o in objects)


ANSWER = sse(
    {"response.created": {"chat_id": "c1", "parent_id": "p1", "response_id": "r1"}},
    {"choices": [{"delta": {"role": "assistant", "content": "Hel", "phase": "answer", "status": "typing"}}]},
    {"choices": [{"delta": {"role": "assistant", "content": "lo", "phase": "answer", "status": "finished"}}]},
)


class Upstream:
    """Replies queued per path (status, body, content type, delay); every request is kept."""

    def __init__(self) -> None:
        self.replies: dict[str, list[tuple[int, bytes, str, float]]] = {}
        self.seen: list[dict] = []

    def reply(self, path, body, status=200, content_type="application/json", delay=0.0):
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        self.replies.setdefault(path, []).append((status, data, content_type, delay))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        data = await request.read()
        self.seen.append({"method": request.method, "path": request.path_qs, "data": data,
                          "headers": {k.lower(): v for k, v in request.headers.items()}})
        status, body, content_type, delay = self.replies[request.path].pop(0)
        await asyncio.sleep(delay)
        return web.Response(status=status, body=body, content_type=content_type)


@pytest.fixture
async def upstream():
    stub = Upstream()
    async with serve_all(stub.handle) as server:
        stub.base = str(server.make_url("")).rstrip("/")
        stub.client = QwenClient(AccountSettings(id="a1", token=TOKEN), stub.base, "0.2.63",
                                 Timeouts(first_event=1.0))
        yield stub
        await stub.client.close()


async def test_a_completion_streams_typed_events_with_the_protocol_headers(upstream):
    upstream.reply("/api/v2/chat/completions", ANSWER, content_type="text/event-stream")
    events = [e async for e in upstream.client.stream_completion("c1", {"stream": True})]
    assert isinstance(events[0], ResponseCreated) and events[0].response_id == "r1"
    assert "".join(e.content for e in events if isinstance(e, Delta)) == "Hello"
    (seen,) = upstream.seen
    assert seen["path"] == "/api/v2/chat/completions?chat_id=c1"
    headers = seen["headers"]
    assert headers["authorization"] == f"Bearer {TOKEN}" and headers["version"] == "0.2.63"
    assert headers["source"] == "web" and headers["x-request-id"] and headers["timezone"]
    assert headers["referer"] == f"{upstream.base}/c/c1"


async def test_a_whole_completion_goes_to_the_same_path_as_a_stream(upstream):
    upstream.reply("/api/v2/chat/completions", {"success": True, "data": {"task_id": "t1"}})
    reply = await upstream.client.complete("c9", {"stream": False})
    assert reply["data"]["task_id"] == "t1"
    assert upstream.seen[0]["path"] == "/api/v2/chat/completions?chat_id=c9"
    assert orjson.loads(upstream.seen[0]["data"]) == {"stream": False}


async def test_an_error_envelope_and_a_waf_page_become_their_upstream_errors(upstream):
    upstream.reply("/api/v2/chats/c1", {"success": False, "data": {"code": "RateLimited", "details": "limit",
                                                                   "num": 3}})
    with pytest.raises(UpstreamRateLimited) as caught:
        await upstream.client.chat_detail("c1")
    assert caught.value.hours == 3
    upstream.reply("/api/models", b"<!doctype html><html>aliyun_waf captcha</html>", content_type="text/html")
    with pytest.raises(UpstreamBlocked):
        await upstream.client.models()
    upstream.reply("/api/v2/chat/completions", {"success": True, "data": {}})  # JSON where SSE was due
    with pytest.raises(UpstreamContract):
        [e async for e in upstream.client.stream_completion("c1", {})]


async def test_a_silent_upstream_is_a_timeout_and_a_closed_port_names_its_host(upstream):
    upstream.reply("/api/v2/chats/c1", {"success": True}, delay=3.0)
    with pytest.raises(UpstreamTimeout, match="/api/v2/chats/c1"):
        await upstream.client.chat_detail("c1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = QwenClient(AccountSettings(id="a2", token=TOKEN), f"http://127.0.0.1:{port}", "0.2.63", Timeouts())
    try:
        with pytest.raises(UpstreamTransport, match="cannot reach 127.0.0.1") as caught:
            await closed.models()
        assert TOKEN not in caught.value.message
    finally:
        await closed.close()


async def test_upload_credentials_fall_back_to_v1_and_the_storage_put_carries_no_account_secret(upstream):
    upstream.reply("/api/v2/files/getstsToken", {"detail": "Not Found"}, status=404)
    upstream.reply("/api/v1/files/getstsToken", {"success": True, "data": {"access_key_id": "k"}})
    grant = await upstream.client.upload_grant({"filename": "a.png"})
    assert grant["data"]["access_key_id"] == "k"
    assert [s["path"] for s in upstream.seen] == ["/api/v2/files/getstsToken", "/api/v1/files/getstsToken"]
    upstream.reply("/oss/a.png", b"", content_type="application/xml")
    status, _ = await upstream.client.put_object(upstream.base + "/oss/a.png", b"png", {"content-type": "image/png"})
    put = upstream.seen[-1]
    assert status == 200 and put["method"] == "PUT" and put["data"] == b"png"
    assert "authorization" not in put["headers"] and TOKEN not in put["headers"].get("cookie", "")


async def test_document_parse_calls_and_task_status_fall_back_to_v1_once(upstream):
    upstream.reply("/api/v2/files/parse", {"success": True})
    upstream.reply("/api/v2/files/parse/status", {"success": True, "data": [{"file_id": "f1", "status": "success"}]})
    await upstream.client.parse_file("f1")
    status = await upstream.client.parse_status("f1")
    assert status["data"][0]["status"] == "success"
    assert orjson.loads(upstream.seen[1]["data"]) == {"file_id_list": ["f1"]}
    upstream.reply("/api/v2/task/status/t1", b"404: Not Found", status=404, content_type="text/plain")
    upstream.reply("/api/v1/tasks/status/t1", {"task_status": "running", "content": ""})
    upstream.reply("/api/v1/tasks/status/t1", {"task_status": "success", "content": "https://cdn/v.mp4"})
    assert (await upstream.client.task_status("t1")).status == "running"
    done = await upstream.client.task_status("t1")  # v1 straight away: the v2 route is known missing
    assert (done.status, done.content) == ("success", "https://cdn/v.mp4")
    assert [s["path"] for s in upstream.seen[2:]] == ["/api/v2/task/status/t1", "/api/v1/tasks/status/t1",
                                                      "/api/v1/tasks/status/t1"]


def closed_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_reachable_takes_any_answer_sends_no_token_and_names_the_host_when_nothing_answers(upstream, caplog):
    upstream.reply("/", b"<html>a WAF page</html>", status=403, content_type="text/html")
    await upstream.client.reachable(1.0)  # any HTTP answer: Qwen is reachable
    assert upstream.seen[-1]["path"] == "/" and "authorization" not in upstream.seen[-1]["headers"]
    closed = QwenClient(AccountSettings(id="a2", token=TOKEN), closed_url(), "0.2.63", Timeouts())
    try:
        with pytest.raises(UpstreamTransport, match="cannot reach 127.0.0.1: connection failed"):
            await closed.reachable(1.0)
    finally:
        await closed.close()
    assert not [r for r in caplog.records if "127.0.0.1" in r.getMessage()]  # the caller logs, once per outage


async def test_an_unreachable_auth_host_is_said_as_every_transport_failure_is():
    account = AccountSettings(id="a3", token="", refresh_token="rt-secret")
    client = QwenClient(account, "https://chat.example", "0.2.63", Timeouts(),
                        upstream=UpstreamSettings(auth_url=closed_url()))
    try:
        with pytest.raises(AuthUnreachable, match="cannot reach 127.0.0.1: connection failed") as caught:
            await client.refresh_call("rt-secret")
        assert "rt-secret" not in str(caught.value)
    finally:
        await client.close()


async def test_a_trace_config_sees_every_call_of_the_client(upstream):
    seen: list[str] = []

    async def on_start(session, context, params) -> None:
        seen.append(params.url.path)

    trace = TraceConfig()
    trace.on_request_start.append(on_start)
    traced = QwenClient(AccountSettings(id="a4", token=TOKEN), upstream.base, "0.2.63", Timeouts(),
                        trace_configs=[trace])
    upstream.reply("/api/v1/auths/", {"id": "u1"})
    try:
        assert (await traced.user())["id"] == "u1"
    finally:
        await traced.close()
    assert seen == ["/api/v1/auths/"]
