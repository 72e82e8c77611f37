"""Fault modes, header strictness, quotas and the control plane of the simulator."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from gateway.simulator import RunningSimulator
from gateway.simulator.testing import (
    answer_text,
    complete,
    completion_body,
    deltas,
    faulted,
    new_chat,
    parse_sse,
    queue_faults,
    recorded_requests,
    set_options,
)

TOKEN = "token-faults"
pytestmark = pytest.mark.asyncio(loop_scope="module")


# `sim` and `client` (a fresh simulator state per test) come from tests/conftest.py.


# -- immediate replies ------------------------------------------------------------

async def test_ratelimited_json_form(client: httpx.AsyncClient) -> None:
    reply = await faulted(client, TOKEN, {"kind": "ratelimited"})
    assert reply.status_code == 200
    body = reply.json()
    assert body["success"] is False and body["request_id"]
    assert body["data"]["code"] == "RateLimited" and body["data"]["num"] == 10
    assert body["data"]["details"] == "You've reached the upper limit for today's usage."
    assert "{{num}}" in body["data"]["template"]


async def test_ratelimited_num_and_missing_num(client: httpx.AsyncClient) -> None:
    assert (await faulted(client, TOKEN, {"kind": "ratelimited", "num": 6})).json()["data"]["num"] == 6
    assert "num" not in (await faulted(client, TOKEN, {"kind": "ratelimited", "num": None})).json()["data"]


async def test_ratelimited_sse_form(client: httpx.AsyncClient) -> None:
    reply = await faulted(client, TOKEN, {"kind": "ratelimited", "form": "sse"})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(reply.text)
    assert len(events) == 1 and events[0]["data"]["code"] == "RateLimited"


async def test_ratelimited_http429_form(client: httpx.AsyncClient) -> None:
    reply = await faulted(client, TOKEN, {"kind": "ratelimited", "form": "http429"})
    assert reply.status_code == 429 and reply.json()["data"]["code"] == "RateLimited"


async def test_unauthorized(client: httpx.AsyncClient) -> None:
    reply = await faulted(client, TOKEN, {"kind": "unauthorized"})
    assert reply.status_code == 401
    assert reply.json()["data"] == {"code": "Unauthorized", "details": "Token has expired"}


async def test_waf_page(client: httpx.AsyncClient) -> None:
    reply = await faulted(client, TOKEN, {"kind": "waf"})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html")
    assert reply.text.startswith("<!doctypehtml>") and "aliyun_waf_aa" in reply.text
    assert len(reply.content) > 10_000


async def test_rgv587(client: httpx.AsyncClient) -> None:
    body = (await faulted(client, TOKEN, {"kind": "rgv587"})).json()
    assert body["ret"][0] == "FAIL_SYS_USER_VALIDATE" and body["ret"][1].startswith("RGV587_ERROR::SM::")
    assert "punish" in body["data"]["url"]


async def test_bad_request_transient(client: httpx.AsyncClient) -> None:
    reply = await faulted(client, TOKEN, {"kind": "bad_request"})
    assert reply.status_code == 200 and "x-actual-status-code" not in reply.headers
    data = reply.json()["data"]
    assert data["code"] == "Bad_Request" and data["details"].startswith("Internal error")


async def test_validation(client: httpx.AsyncClient) -> None:
    reply = await faulted(client, TOKEN, {"kind": "validation"})
    assert reply.status_code == 200 and reply.headers["x-actual-status-code"] == "400"
    assert reply.json()["data"]["code"] == "RequestValidationError"


async def test_http_5xx(client: httpx.AsyncClient) -> None:
    assert (await faulted(client, TOKEN, {"kind": "http_5xx"})).status_code == 502
    reply = await faulted(client, TOKEN, {"kind": "http_5xx", "status": 504})
    assert reply.status_code == 504 and "<h1>504 Gateway Timeout</h1>" in reply.text


async def test_internal_error(client: httpx.AsyncClient) -> None:
    reply = await faulted(client, TOKEN, {"kind": "internal_error"})
    assert reply.status_code == 200 and reply.headers["x-actual-status-code"] == "400"
    assert reply.json()["data"] == {"code": "internal_error", "details": "Internal Error"}


# -- in-stream faults ---------------------------------------------------------------

async def test_stream_error_after_two_deltas(client: httpx.AsyncClient) -> None:
    reply = await faulted(client, TOKEN, {"kind": "stream_error", "after": 2})
    events = parse_sse(reply.text)
    typing = [d for d in deltas(events) if d["status"] == "typing"]
    assert len(typing) == 2
    assert events[-1] == {"error": "Internal error!"}
    assert all(d["status"] != "finished" for d in deltas(events))


async def test_invalid_input_right_after_created(client: httpx.AsyncClient) -> None:
    events = parse_sse((await faulted(client, TOKEN, {"kind": "invalid_input"})).text)
    assert "response.created" in events[0]
    assert events[1] == {"error": {"code": "invalid_input", "details": "输入或附件无效。请检查后重试。"}}
    assert len(events) == 2


async def test_truncate_closes_cleanly_without_finished(sim: RunningSimulator, client: httpx.AsyncClient) -> None:
    reply = await faulted(client, TOKEN, {"kind": "truncate", "after": 1})
    ds = deltas(parse_sse(reply.text))
    assert len(ds) == 1 and ds[0]["status"] == "typing"
    assert [s.status for s in sim.state.streams.values()] == ["faulted"]


async def test_truncate_past_the_end_drops_only_finished(client: httpx.AsyncClient) -> None:
    events = parse_sse((await faulted(client, TOKEN, {"kind": "truncate", "after": 999})).text)
    assert answer_text(events) == "You said: hello there"
    assert all(d["status"] == "typing" for d in deltas(events))


async def test_drop_aborts_the_connection(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    await queue_faults(client, TOKEN, {"kind": "drop", "after": 1})
    received: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        async with client.stream("POST", "/api/v2/chat/completions", json=completion_body(chat_id, "hello")) as r:
            async for line in r.aiter_lines():
                received.append(line)
    assert any("response.created" in line for line in received)


async def test_stall_is_not_scaled_by_speed(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    await queue_faults(client, TOKEN, {"kind": "stall", "seconds": 0.3})
    async with client.stream("POST", "/api/v2/chat/completions", json=completion_body(chat_id, "hi")) as reply:
        lines = reply.aiter_lines()
        assert "response.created" in await anext(lines)
        started = time.monotonic()
        rest = [line async for line in lines]
    assert time.monotonic() - started >= 0.28
    assert answer_text(parse_sse("\n".join(rest))) == "You said: hi"


async def test_slow_first_byte(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    await queue_faults(client, TOKEN, {"kind": "slow_first_byte", "seconds": 0.3})
    started = time.monotonic()
    reply = await complete(client, completion_body(chat_id, "hi"))
    assert time.monotonic() - started >= 0.28
    assert answer_text(parse_sse(reply.text)) == "You said: hi"


# -- queueing rules ------------------------------------------------------------------

async def test_faults_are_consumed_in_order_per_token(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    await queue_faults(client, TOKEN, {"kind": "ratelimited"}, {"kind": "bad_request"})
    first = await complete(client, completion_body(chat_id, "hi"))
    assert first.json()["data"]["code"] == "RateLimited"
    second = await complete(client, completion_body(chat_id, "hi"))
    assert second.json()["data"]["code"] == "Bad_Request"
    third = await complete(client, completion_body(chat_id, "hi"))
    assert answer_text(parse_sse(third.text)) == "You said: hi"


async def test_faults_do_not_leak_to_other_tokens(client: httpx.AsyncClient) -> None:
    await queue_faults(client, "someone-else", {"kind": "ratelimited"})
    chat_id = await new_chat(client)
    reply = await complete(client, completion_body(chat_id, "hi"))
    assert answer_text(parse_sse(reply.text)) == "You said: hi"
    pending = (await client.get("/__sim/faults")).json()["faults"]
    assert pending == {"someone-else": [{"kind": "ratelimited", "on": "completions"}]}


async def test_faults_target_chats_new(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    await queue_faults(client, TOKEN, {"kind": "waf", "on": "chats_new"})
    assert answer_text(parse_sse((await complete(client, completion_body(chat_id, "hi"))).text)) == "You said: hi"
    blocked = await client.post("/api/v2/chats/new", json={"models": ["qwen3-max"]})
    assert "aliyun_waf_aa" in blocked.text


async def test_bad_fault_definitions_are_refused(client: httpx.AsyncClient) -> None:
    for fault in ({"kind": "meteor"}, {"kind": "waf", "on": "nowhere"}, {"kind": "ratelimited", "form": "xml"}):
        reply = await client.post("/__sim/faults", json={"token": TOKEN, "faults": [fault]})
        assert reply.status_code == 400
    assert (await client.post("/__sim/faults", json={"faults": []})).status_code == 400


async def test_prompt_markers_trigger_faults(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    limited = await complete(client, completion_body(chat_id, "hi [[sim:fault=ratelimited,num=3]]"))
    assert limited.json()["data"] == {"code": "RateLimited", "details": limited.json()["data"]["details"],
                                      "template": limited.json()["data"]["template"], "num": 3}
    events = parse_sse((await complete(client, completion_body(chat_id, "[[sim:fault=stream_error,after=1]] hi"))).text)
    assert events[-1] == {"error": "Internal error!"}
    assert len([d for d in deltas(events) if d["status"] == "typing"]) == 1
    nonum = await complete(client, completion_body(chat_id, "[[sim:fault=ratelimited,num=null,form=http429]]"))
    assert nonum.status_code == 429 and "num" not in nonum.json()["data"]


async def test_queued_fault_wins_over_a_marker(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    await queue_faults(client, TOKEN, {"kind": "bad_request"})
    reply = await complete(client, completion_body(chat_id, "[[sim:fault=waf]]"))
    assert reply.json()["data"]["code"] == "Bad_Request"


# -- header strictness and quotas -------------------------------------------------------

async def test_strict_headers(client: httpx.AsyncClient) -> None:
    await set_options(client, strict_headers=True)
    chat_body = {"models": ["qwen3-max"]}
    no_cookie = await client.post("/api/v2/chats/new", json=chat_body, headers={"version": "0.2.63"})
    assert no_cookie.json()["ret"][0] == "FAIL_SYS_USER_VALIDATE"
    wrong_cookie = await client.post("/api/v2/chats/new", json=chat_body,
                                     headers={"version": "0.2.63", "cookie": "cna=x; token=other"})
    assert "ret" in wrong_cookie.json()
    no_version = await client.post("/api/v2/chats/new", json=chat_body, headers={"cookie": f"token={TOKEN}"})
    assert no_version.json()["success"] is False and no_version.json()["code"] == "Bad_Request"
    ok = await client.post("/api/v2/chats/new", json=chat_body,
                           headers={"version": "0.2.63", "cookie": f"cna=a=b; token={TOKEN}; ssxmod_itna=Qq==x"})
    assert ok.json()["success"] is True
    assert (await client.get("/api/v2/models/")).json()["success"] is True  # reads stay open


async def test_bx_ua_required_on_writes_only(client: httpx.AsyncClient) -> None:
    await set_options(client, require_bx_ua=True)
    blocked = await client.post("/api/v2/chats/new", json={"models": ["qwen3-max"]})
    assert blocked.text.startswith("<!doctypehtml>")
    passed = await client.post("/api/v2/chats/new", json={"models": ["qwen3-max"]}, headers={"bx-ua": "231!abc"})
    assert passed.json()["success"] is True
    assert (await client.get("/api/v1/auths/")).status_code == 200


async def test_daily_chat_limit(client: httpx.AsyncClient) -> None:
    await set_options(client, daily_chat_limit=2, daily_limit_num=7)
    chat_id = await new_chat(client)
    for _ in range(2):
        assert answer_text(parse_sse((await complete(client, completion_body(chat_id, "hi"))).text)) == "You said: hi"
    limited = await complete(client, completion_body(chat_id, "hi"))
    assert limited.status_code == 200 and limited.json()["data"]["code"] == "RateLimited"
    assert limited.json()["data"]["num"] == 7
    other = httpx.AsyncClient(base_url=str(client.base_url), headers={"authorization": "Bearer another"})
    async with other:
        other_chat = await new_chat(other)
        assert answer_text(parse_sse((await complete(other, completion_body(other_chat, "hi"))).text)) == "You said: hi"


# -- control plane ----------------------------------------------------------------------

async def test_options_endpoint_validates_and_reset_restores(client: httpx.AsyncClient) -> None:
    assert (await client.post("/__sim/options", json={"no_such": 1})).status_code == 400
    assert (await client.post("/__sim/options", json={"speed": "fast"})).status_code == 400
    assert (await client.post("/__sim/options", json={"strict_headers": 1})).status_code == 400
    reply = await client.post("/__sim/options", json={"valid_tokens": ["a", "b"], "sts_form": "flat"})
    assert reply.json()["options"]["valid_tokens"] == ["a", "b"]
    assert (await client.get("/api/v1/auths/")).status_code == 401
    await client.post("/__sim/reset")
    options = (await client.get("/__sim/options")).json()["options"]
    assert options["valid_tokens"] is None and options["sts_form"] == "wrapped" and options["speed"] == 0


async def test_reset_clears_chats_faults_and_requests(sim: RunningSimulator, client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    await queue_faults(client, TOKEN, {"kind": "waf"})
    assert (await client.post("/__sim/reset")).json() == {"ok": True}
    assert await recorded_requests(client) == []
    assert sim.state.faults == {} and sim.state.chats == {}
    reply = await complete(client, completion_body(chat_id, "hi"))
    assert reply.json()["data"]["code"] == "CHAT_NOT_FOUND"


async def test_marker_text_reaches_the_recorded_body(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    await complete(client, completion_body(chat_id, "[[sim:fault=bad_request]]"))
    last = (await recorded_requests(client))[-1]
    assert orjson.dumps(last["body"]).count(b"[[sim:fault=bad_request]]") == 1
