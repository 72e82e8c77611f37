"""The simulator's Aug–Oct 2026 behaviours (§3.8, §4, §6, §7a, §9), driven directly."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.simulator import RunningSimulator
from gateway.simulator.state import StoredFile
from gateway.simulator.testing import (
    answer_text,
    complete,
    completion_body,
    deltas,
    faulted,
    new_chat,
    parse_sse,
    queue_faults,
    set_options,
)

TOKEN = "token-2026"
pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_dual_answer_interleaves_a_second_answer_with_its_own_finished_first(client: httpx.AsyncClient) -> None:
    events = parse_sse((await faulted(client, TOKEN, {"kind": "dual_answer"})).text)
    created = [e["response.created"] for e in events if isinstance(e, dict) and "response.created" in e]
    assert [c["response_index"] for c in created] == ["0", "1"]
    main, other = created[0]["response_id"], created[1]["response_id"]
    by_id = {rid: "".join(e["choices"][0]["delta"]["content"] for e in events
                          if isinstance(e, dict) and e.get("response_id") == rid and "choices" in e)
             for rid in (main, other)}
    assert by_id[main] == "You said: hello there" and by_id[other].startswith("A second answer")
    finished = [e["response_id"] for e in events if isinstance(e, dict) and "choices" in e
                and e["choices"][0]["delta"].get("status") == "finished"]
    assert finished == [other, main]


@pytest.mark.parametrize(("framing", "separator"), [("none", b'}\ndata: '), ("crlf", b'}\r\n\r\ndata: ')])
async def test_framing_switch(client: httpx.AsyncClient, framing: str, separator: bytes) -> None:
    await set_options(client, framing=framing)
    chat_id = await new_chat(client)
    reply = await complete(client, completion_body(chat_id, "hi"))
    assert separator in reply.content and b"}\n\n" not in reply.content


async def test_finish_reason_unknown_phase_status_error_and_empty_stream(client: httpx.AsyncClient) -> None:
    events = parse_sse((await faulted(client, TOKEN, {"kind": "finish_reason", "reason": "length"})).text)
    assert events[-1]["choices"][0]["finish_reason"] == "length"
    events = parse_sse((await faulted(client, TOKEN, {"kind": "unknown_phase"})).text)
    assert "fetch_page" in [d.get("phase") for d in deltas(events)]
    assert answer_text(events) == "You said: hello there"
    events = parse_sse((await faulted(client, TOKEN, {"kind": "status_error", "after": 1})).text)
    assert deltas(events)[-1]["status"] == "error" and answer_text(events) == "You said"
    events = parse_sse((await faulted(client, TOKEN, {"kind": "empty_stream"})).text)
    assert not deltas(events) and "response.created" in events[0]


async def test_a_chat_that_still_streams_is_in_progress(client: httpx.AsyncClient) -> None:
    await set_options(client, speed=1.0, delta_delay=0.05)
    chat_id = await new_chat(client)
    async with client.stream("POST", "/api/v2/chat/completions", params={"chat_id": chat_id},
                             json=completion_body(chat_id, "a long enough answer to keep streaming")) as running:
        await running.aiter_bytes().__anext__()
        busy = (await complete(client, completion_body(chat_id, "again"))).json()
    assert busy["data"] == {"code": "Bad_Request", "details": "The chat is in progress"}


async def test_prompts_over_the_limit_get_the_anti_bot_stub(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    reply = (await complete(client, completion_body(chat_id, "x" * 118_001))).json()
    assert "RGV587" in reply["ret"][1]
    assert answer_text(parse_sse((await complete(client, completion_body(chat_id, "x" * 117_000))).text))


async def test_must_think_model_refuses_thinking_off(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client, "qwen3.8-max")
    off = parse_sse((await complete(client, completion_body(chat_id, "hi", model="qwen3.8-max"))).text)
    assert any(isinstance(e, dict) and (e.get("error") or {}).get("code") == "invalid_input" for e in off)
    on = parse_sse((await complete(client, completion_body(chat_id, "hi", model="qwen3.8-max", thinking=True))).text)
    assert answer_text(on) == "You said: hi"
    models = (await client.get("/api/models")).json()["data"]
    meta = {m["id"]: m["info"]["meta"] for m in models}
    assert meta["qwen3.8-max"]["think_skip"] == {"enable": False} and meta["qwen3-max"]["think_skip"]["enable"]


async def _upload(client: httpx.AsyncClient, sim: RunningSimulator, text: bytes) -> dict[str, Any]:
    reply = (await client.post("/api/v2/files/getstsToken",
                               json={"filename": "a.txt", "filesize": str(len(text)), "filetype": "file"})).json()
    grant = reply["data"]
    sim.state.files["/files/" + grant["file_path"]] = StoredFile("text/plain", text)  # the PUT is tested elsewhere
    return grant


async def test_parse_runs_then_succeeds_and_only_parsed_files_reach_the_model(sim: RunningSimulator,
                                                                               client: httpx.AsyncClient) -> None:
    grant = await _upload(client, sim, b"the hidden chapter")
    entry = {"type": "file", "id": grant["file_id"], "url": grant["file_url"], "file_class": "default",
             "context": "full"}
    chat_id = await new_chat(client)
    body = completion_body(chat_id, "How many characters did you see?", files=[entry])
    unparsed = parse_sse((await complete(client, body)).text)
    assert any(isinstance(e, dict) and "error" in e for e in unparsed)
    assert (await client.post("/api/v2/files/parse", json={"file_id": grant["file_id"]})).json()["success"]
    statuses = []
    for _ in range(2):
        reply = await client.post("/api/v2/files/parse/status", json={"file_id_list": [grant["file_id"]]})
        statuses.append(reply.json()["data"][0]["status"])
    assert statuses == ["running", "success"]
    body = completion_body(chat_id, "How many characters did you see?", files=[entry])
    assert answer_text(parse_sse((await complete(client, body)).text)) == f"I saw {32 + 18} characters."


async def test_parse_failed_fault(sim: RunningSimulator, client: httpx.AsyncClient) -> None:
    grant = await _upload(client, sim, b"broken")
    await queue_faults(client, TOKEN, {"kind": "parse_failed"})
    await client.post("/api/v2/files/parse", json={"file_id": grant["file_id"]})
    reply = await client.post("/api/v2/files/parse/status", json={"file_id_list": [grant["file_id"]]})
    assert reply.json()["data"][0]["status"] == "failed"
