"""The simulator's core protocol: models, auth, chats, the t2t stream grammar and the tree."""

from __future__ import annotations

import asyncio
import base64

import httpx
import orjson
import pytest

from gateway.simulator import RunningSimulator, SimOptions, build_simulator, start_simulator
from gateway.simulator.testing import answer_text, complete, deltas, new_chat, parse_sse, set_options
from gateway.simulator.testing import completion_body as body_for

TOKEN = "token-alpha"
AUTH = {"authorization": f"Bearer {TOKEN}"}


# One server per module (starting and stopping uvicorn costs ~0.1 s); each test starts
# from a reset, which also restores the options the server was built with.
pytestmark = pytest.mark.asyncio(loop_scope="module")


# `sim` and `client` (a fresh simulator state per test) come from tests/conftest.py.


# -- models and auth -----------------------------------------------------------

async def test_models_open_list_needs_no_auth(sim: RunningSimulator) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as anonymous:
        reply = await anonymous.get("/api/models")
    assert reply.status_code == 200
    models = {m["id"]: m for m in reply.json()["data"]}
    assert {"qwen3-max", "qwen3.7-plus", "qwen3-vl-plus", "qwen-max-latest", "qwen-plus-2025-09-11",
            "qwen-image-2.0-pro", "qwen2.5-old-instruct"} <= set(models)
    max_meta = models["qwen3-max"]["info"]["meta"]
    assert max_meta["abilities"]["thinking"] > 0 and max_meta["capabilities"]["vision"] is False
    assert models["qwen3.7-plus"]["info"]["meta"]["capabilities"]["vision"] is True
    assert "t2v" in models["qwen3.7-plus"]["info"]["meta"]["chat_type"]
    assert models["qwen-max-latest"]["info"]["meta"]["capabilities"]["thinking"] is False
    assert models["qwen2.5-old-instruct"]["info"]["is_active"] is False
    assert models["qwen3-max"]["name"] == "Qwen3-Max" and models["qwen3-max"]["object"] == "model"


async def test_models_v2_is_wrapped_and_needs_auth(sim: RunningSimulator, client: httpx.AsyncClient) -> None:
    reply = await client.get("/api/v2/models/")
    assert reply.json()["success"] is True
    assert [m["id"] for m in reply.json()["data"]["data"]] == [
        m["id"] for m in (await client.get("/api/models")).json()["data"]]
    async with httpx.AsyncClient(base_url=sim.url) as anonymous:
        refused = await anonymous.get("/api/v2/models/")
    assert refused.status_code == 401
    assert refused.json()["data"]["code"] == "Unauthorized"


async def test_whoami_returns_the_user_record(client: httpx.AsyncClient) -> None:
    record = (await client.get("/api/v1/auths/")).json()
    assert record["token"] == TOKEN and record["role"] == "user" and record["id"]
    again = (await client.get("/api/v1/auths/")).json()
    assert again["id"] == record["id"]


async def test_whoami_uses_the_jwt_id_claim(client: httpx.AsyncClient) -> None:
    claims = base64.urlsafe_b64encode(b'{"id":"user-42","exp":9999999999}').rstrip(b"=").decode()
    jwt = f"eyJhbGciOiJIUzI1NiJ9.{claims}.sig"
    record = (await client.get("/api/v1/auths/", headers={"authorization": f"Bearer {jwt}"})).json()
    assert record["id"] == "user-42"


async def test_missing_or_unknown_token_is_401() -> None:
    running = await start_simulator(SimOptions(speed=0, valid_tokens=frozenset({"good"})))
    try:
        async with httpx.AsyncClient(base_url=running.url) as http:
            assert (await http.post("/api/v2/chats/new", json={"models": ["qwen3-max"]})).status_code == 401
            bad = await http.get("/api/v1/auths/", headers={"authorization": "Bearer nope"})
            assert bad.status_code == 401 and bad.json()["success"] is False
            good = await http.get("/api/v1/auths/", headers={"authorization": "Bearer good"})
            assert good.status_code == 200
    finally:
        await running.stop()


# -- the t2t stream --------------------------------------------------------------

async def test_t2t_stream_grammar_without_thinking(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    reply = await complete(client, body_for(chat_id, "Hello there, simulator"))
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    first_line = reply.text.split("\n", 1)[0]
    assert first_line.startswith("data: {") and first_line.endswith("} ")  # trailing space, as captured
    events = parse_sse(reply.text)
    created = events[0]["response.created"]
    assert created["chat_id"] == chat_id and created["response_index"] == "0"
    assert created["parent_id"] and created["response_id"] and created["parent_id"] != created["response_id"]
    assert events[1]["response.info"]["action"] == "keep_alive"
    ds = deltas(events)
    assert all(d["phase"] == "answer" for d in ds)
    typing = [d for d in ds if d["status"] == "typing"]
    assert len(typing) > 1 and all(0 < len(d["content"]) <= 8 for d in typing)
    assert answer_text(events) == "You said: Hello there, simulator"
    assert ds[-1] == {"role": "assistant", "content": "", "phase": "answer", "status": "finished"}
    assert events[-1]["response_id"] == created["response_id"]
    assert "[DONE]" not in events


async def test_usage_grows_and_counts_input(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    text = "Count these tokens please, all of them"
    events = parse_sse((await complete(client, body_for(chat_id, text))).text)
    usages = [e["usage"] for e in events if isinstance(e, dict) and "usage" in e]
    assert usages, "answer deltas carry usage"
    assert all(u["input_tokens"] == len(text) // 4 for u in usages)
    outputs = [u["output_tokens"] for u in usages]
    assert outputs == sorted(set(outputs))  # strictly growing
    assert all(u["total_tokens"] == u["input_tokens"] + u["output_tokens"] for u in usages)


async def test_summary_era_thinking_prologue(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    events = parse_sse((await complete(client, body_for(chat_id, "What is 17 * 19?", thinking=True))).text)
    ds = deltas(events)
    thinking = [d for d in ds if d["phase"] == "thinking_summary"]
    assert [d["status"] for d in thinking] == ["typing", "typing", "finished"]
    assert all(d["content"] == "" for d in thinking)
    assert thinking[0]["extra"]["summary_title"]["content"] == ["Reading the question"]
    assert thinking[1]["extra"]["summary_thought"]["content"] == ["The user wants an answer.", "Answering now."]
    # the phase's own `finished` is not the end: the answer follows it
    finished_at = ds.index(thinking[2])
    assert [d["phase"] for d in ds[finished_at + 1:]] == ["answer"] * len(ds[finished_at + 1:])
    assert answer_text(events) == "17 * 19 = 323."
    last_usage = [e["usage"] for e in events if isinstance(e, dict) and "usage" in e][-1]
    assert last_usage["output_tokens_details"]["reasoning_tokens"] == 20


async def test_think_era_prologue(client: httpx.AsyncClient) -> None:
    await set_options(client, era="think")
    chat_id = await new_chat(client)
    events = parse_sse((await complete(client, body_for(chat_id, "hi", thinking=True))).text)
    ds = deltas(events)
    think = [d for d in ds if d["phase"] == "think"]
    assert "".join(d["content"] for d in think) == "Let me think about this."
    assert think[-1]["status"] == "finished"
    assert answer_text(events) == "You said: hi"
    assert ds[-1]["phase"] == "answer" and ds[-1]["status"] == "finished"


async def test_era_switch_at_runtime(sim: RunningSimulator, client: httpx.AsyncClient) -> None:
    switched = await client.post("/__sim/options", json={"era": "think"})
    assert switched.json()["options"]["era"] == "think"
    chat_id = await new_chat(client)
    events = parse_sse((await complete(client, body_for(chat_id, "hi", thinking=True))).text)
    assert any(d["phase"] == "think" for d in deltas(events))
    assert (await client.post("/__sim/options", json={"era": "2024"})).status_code == 400


async def test_thinking_ignored_for_a_model_that_cannot_think(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client, "qwen-max-latest")
    events = parse_sse((await complete(client, body_for(chat_id, "hi", model="qwen-max-latest", thinking=True))).text)
    assert {d["phase"] for d in deltas(events)} == {"answer"}


async def test_missing_output_schema_drops_phase(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    body = body_for(chat_id, "hello")
    del body["messages"][0]["feature_config"]["output_schema"]
    ds = deltas(parse_sse((await complete(client, body)).text))
    assert ds and all("phase" not in d for d in ds)
    assert "".join(d["content"] for d in ds) == "You said: hello"


async def test_send_done_and_keepalives(client: httpx.AsyncClient) -> None:
    await set_options(client, send_done=True, keepalive_every=2)
    chat_id = await new_chat(client)
    events = parse_sse((await complete(client, body_for(chat_id, "a somewhat longer prompt here"))).text)
    assert events[-1] == "[DONE]"
    keepalives = [e for e in events if isinstance(e, dict) and "response.info" in e]
    typing = [d for d in deltas(events) if d["status"] == "typing"]
    assert len(keepalives) == 1 + len(typing) // 2


async def test_array_content_and_markers_are_cleaned(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    content = [{"type": "text", "text": "  Hello "}, {"type": "text", "text": "[[sim:nothing=1]]world  "}]
    events = parse_sse((await complete(client, body_for(chat_id, content))).text)
    assert answer_text(events) == "You said: Hello world"


async def test_tool_marker_scripts_a_tool_call(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    prompt = "weather? [[sim:tool=get_weather,city=Paris,days=2]]"
    events = parse_sse((await complete(client, body_for(chat_id, prompt))).text)
    assert answer_text(events) == '<tool_call>{"name":"get_weather","arguments":{"city":"Paris","days":2}}</tool_call>'
    folded = ('user:weather? [[sim:tool=get_weather,city=Paris]];'
              '<tool_response tool_call_id="c1" name="get_weather">sunny</tool_response>')
    chat_id = await new_chat(client)
    events = parse_sse((await complete(client, body_for(chat_id, folded))).text)
    assert answer_text(events).startswith("You said: user:weather? ;<tool_response")


async def test_search_chat_type_streams_web_search_first(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client, chat_type="search")
    events = parse_sse((await complete(client, body_for(chat_id, "news today", chat_type="search"))).text)
    ds = deltas(events)
    search = [d for d in ds if d["phase"] == "web_search"]
    assert search[0]["function_call"]["name"] == "web_search"
    assert orjson.loads(search[0]["function_call"]["arguments"]) == {"queries": ["news today"]}
    assert search[1]["status"] == "finished" and search[1]["extra"]["web_search_info"]
    assert answer_text(events) == "You said: news today"


# -- validation ------------------------------------------------------------------

async def test_missing_chat_id_is_a_validation_error(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    body = body_for(chat_id, "hi")
    del body["chat_id"]
    reply = await client.post("/api/v2/chat/completions", params={"chat_id": chat_id}, json=body)
    assert reply.status_code == 200 and reply.headers["x-actual-status-code"] == "400"
    assert reply.json()["data"] == {"code": "RequestValidationError", "details": "Field 'chat_id': Field required"}


async def test_unknown_or_foreign_chat_is_chat_not_found(client: httpx.AsyncClient) -> None:
    reply = await complete(client, body_for("no-such-chat", "hi"))
    assert reply.json()["success"] is False and reply.json()["data"]["code"] == "CHAT_NOT_FOUND"
    assert reply.headers["x-actual-status-code"] == "404"
    chat_id = await new_chat(client)
    other = await client.post("/api/v2/chat/completions", json=body_for(chat_id, "hi"),
                              headers={"authorization": "Bearer someone-else"})
    assert other.json()["data"]["code"] == "CHAT_NOT_FOUND"
    detail = await client.get(f"/api/v2/chats/{chat_id}", headers={"authorization": "Bearer someone-else"})
    assert detail.json()["data"]["code"] == "CHAT_NOT_FOUND"


async def test_unknown_and_inactive_models_are_refused(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    for model in ("gpt-4o", "qwen2.5-old-instruct"):
        reply = await complete(client, body_for(chat_id, "hi", model=model))
        assert reply.json() == {"success": False, "request_id": reply.json()["request_id"],
                                "data": {"code": "Bad_Request", "details": "Model not found"}}


async def test_unsupported_chat_type_for_model_is_refused(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    reply = await complete(client, body_for(chat_id, "a cat", chat_type="t2i", size="1:1"))
    assert reply.json()["data"]["code"] == "Bad_Request"


async def test_more_than_one_message_is_refused_as_too_many(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    body = body_for(chat_id, "second")
    body["messages"].insert(0, dict(body["messages"][0], content="first"))
    reply = (await complete(client, body)).json()
    assert reply["success"] is False and reply["data"] == {"code": "Bad_Request",
                                                           "details": "Invalid input too many messages"}


# -- the conversation tree -------------------------------------------------------------

async def test_response_id_is_the_next_parent_and_tree_is_stored(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    first = parse_sse((await complete(client, body_for(chat_id, "my name is Ada"))).text)[0]["response.created"]
    second_events = parse_sse((await complete(
        client, body_for(chat_id, "what did I say before?", parent_id=first["response_id"]))).text)
    second = second_events[0]["response.created"]
    assert answer_text(second_events) == "Earlier you said: my name is Ada"
    detail = (await client.get(f"/api/v2/chats/{chat_id}")).json()
    history = detail["data"]["chat"]["history"]
    messages = history["messages"]
    assert history["currentId"] == second["response_id"]
    assert messages[first["parent_id"]]["role"] == "user" and messages[first["parent_id"]]["parentId"] is None
    assert messages[first["response_id"]]["parentId"] == first["parent_id"]
    assert messages[first["response_id"]]["content"] == "You said: my name is Ada"
    assert messages[second["parent_id"]]["parentId"] == first["response_id"]
    assert messages[first["response_id"]]["childrenIds"] == [second["parent_id"]]
    assert [m["role"] for m in detail["data"]["chat"]["messages"]] == ["user", "assistant"] * 2


async def test_a_fresh_chat_has_no_context(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    events = parse_sse((await complete(client, body_for(chat_id, "What did I say before?"))).text)
    assert answer_text(events) == "Earlier you said nothing."


async def test_unknown_parent_is_parent_not_found(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    reply = await complete(client, body_for(chat_id, "hi", parent_id="nope-123"))
    assert reply.json()["success"] is False and reply.json()["data"]["code"] == "PARENT_NOT_FOUND"


async def test_unknown_parent_is_not_exist_in_the_2025_form(client: httpx.AsyncClient) -> None:
    await set_options(client, parent_error="is_not_exist")
    chat_id = await new_chat(client)
    reply = await complete(client, body_for(chat_id, "hi", parent_id="nope-123"))
    assert reply.json()["success"] is False
    assert reply.json()["data"]["details"] == "Invalid input chat parent_id nope-123 is not exist."


async def test_parent_from_another_chat_is_not_exist(client: httpx.AsyncClient) -> None:
    await set_options(client, parent_error="is_not_exist")
    first_chat = await new_chat(client)
    created = parse_sse((await complete(client, body_for(first_chat, "hi"))).text)[0]["response.created"]
    other_chat = await new_chat(client)
    reply = await complete(client, body_for(other_chat, "hi", parent_id=created["response_id"]))
    assert "is not exist" in reply.json()["data"]["details"]


async def test_stop_ends_a_running_stream_with_finished(client: httpx.AsyncClient) -> None:
    await set_options(client, speed=1.0, first_event_delay=0, delta_delay=0.05)
    chat_id = await new_chat(client)
    body = body_for(chat_id, "a long prompt " * 10)
    async with client.stream("POST", "/api/v2/chat/completions", json=body) as reply:
        lines = reply.aiter_lines()
        created = orjson.loads((await anext(lines))[5:])["response.created"]
        stop = await client.post("/api/v2/chat/completions/stop",
                                 json={"chat_id": chat_id, "response_id": created["response_id"]})
        assert stop.json()["success"] is True
        rest = "\n".join([line async for line in lines])
    ds = deltas(parse_sse(rest))
    assert ds[-1]["status"] == "finished"
    assert len("".join(d["content"] for d in ds)) < len("You said: " + ("a long prompt " * 10).strip())


async def test_requests_are_recorded(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    await client.post("/api/v2/chat/completions", params={"chat_id": chat_id}, json=body_for(chat_id, "hi"),
                      headers={"x-request-id": "rid-1", "Version": "0.2.63"})
    recorded = (await client.get("/__sim/requests")).json()["requests"]
    assert [r["path"] for r in recorded] == ["/api/v2/chats/new", "/api/v2/chat/completions"]
    last = recorded[-1]
    assert last["query"] == {"chat_id": chat_id} and last["token"] == TOKEN
    assert last["headers"]["x-request-id"] == "rid-1" and last["headers"]["version"] == "0.2.63"
    assert last["body"]["messages"][0]["content"] == "hi"
    await client.post("/__sim/reset")
    assert (await client.get("/__sim/requests")).json()["requests"] == []


async def test_stream_outcomes_are_recorded(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    created = parse_sse((await complete(client, body_for(chat_id, "hi"))).text)[0]["response.created"]
    streams = (await client.get("/__sim/streams")).json()["streams"]
    assert streams == [{"response_id": created["response_id"], "chat_id": chat_id, "token": TOKEN,
                        "status": "finished"}]


async def test_client_disconnect_is_seen_as_cancelled(sim: RunningSimulator, client: httpx.AsyncClient) -> None:
    await set_options(client, speed=1.0, first_event_delay=0, delta_delay=0.2)
    chat_id = await new_chat(client)
    async with client.stream("POST", "/api/v2/chat/completions", json=body_for(chat_id, "hi " * 20)) as reply:
        await anext(reply.aiter_lines())
    for _ in range(100):
        statuses = [s.status for s in sim.state.streams.values()]
        if statuses == ["cancelled"]:
            break
        await asyncio.sleep(0.02)
    assert statuses == ["cancelled"]


async def test_works_in_process_through_asgi_transport() -> None:
    app = build_simulator(SimOptions(speed=0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers=AUTH) as http:
        chat_id = await new_chat(http)
        events = parse_sse((await complete(http, body_for(chat_id, "What is 17 * 19?"))).text)
    assert answer_text(events) == "17 * 19 = 323."
    assert app.state.sim.chats[chat_id].owner == TOKEN


async def test_stop_ends_open_streams_at_once() -> None:
    running = await start_simulator(SimOptions(speed=0))
    assert running.url.startswith("http://127.0.0.1:") and not running.url.endswith("/")
    async with httpx.AsyncClient(base_url=running.url, headers=AUTH) as http:
        chat_id = await new_chat(http)
        body = body_for(chat_id, "hi [[sim:fault=stall,seconds=30]]")
        pending = asyncio.create_task(http.post("/api/v2/chat/completions", json=body))
        while not running.state.streams:
            await asyncio.sleep(0.01)
        started = asyncio.get_running_loop().time()
        await running.stop()
        assert asyncio.get_running_loop().time() - started < 2
        reply = await pending
    events = parse_sse(reply.text)
    assert "response.created" in events[0] and len(events) == 1
    assert [s.status for s in running.state.streams.values()] == ["closed"]
