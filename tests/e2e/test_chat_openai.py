"""/v1/chat/completions through the real openai client, against the simulator."""

import asyncio
import time
from dataclasses import replace

import openai
import pytest

from .harness import FAST, TOKENS, default_settings, live_stack


def client_for(stack, **kwargs):
    return openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0, **kwargs)


def test_sync_non_stream_answer_and_usage(stack):
    reply = client_for(stack).chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": "Hello there"}])
    choice = reply.choices[0]
    assert choice.message.content == "You said: Hello there"
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    assert reply.object == "chat.completion" and reply.id.startswith("chatcmpl-")
    assert reply.model == "qwen3-max"
    assert reply.usage.prompt_tokens >= 1 and reply.usage.completion_tokens >= 1
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_sync_stream_role_first_then_content_then_finish(stack):
    chunks = list(client_for(stack).chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": "Stream this sentence, please"}], stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    assert all(c.object == "chat.completion.chunk" and c.model == "qwen3-max" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "You said: Stream this sentence, please"
    assert len([c for c in chunks if c.choices[0].delta.content]) > 1  # really incremental
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert all(c.usage is None for c in chunks)


def test_stream_usage_chunk_only_when_asked(stack):
    chunks = list(client_for(stack).chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": "count me"}], stream=True,
        stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_raw_stream_bytes_end_with_done(stack):
    body = {"model": "qwen3-max", "messages": [{"role": "user", "content": "raw"}], "stream": True}
    with stack.http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    events = [e for e in raw.split("\n\n") if e.strip() and not e.startswith(":")]
    assert events[-1] == "data: [DONE]"
    assert all(e.startswith("data: {") for e in events[:-1])


def test_a_failure_of_ours_after_the_first_byte_ends_the_stream_with_an_error_and_done(stack, monkeypatch):
    from gateway.translate.completion import ChunkWriter

    def broken(self, piece):
        raise RuntimeError("a bug in the translation")

    monkeypatch.setattr(ChunkWriter, "piece", broken)
    body = {"model": "qwen3-max", "messages": [{"role": "user", "content": "raw"}], "stream": True}
    with stack.http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        events = [e for e in response.read().decode().split("\n\n") if e.strip() and not e.startswith(":")]
    assert events[0].startswith('data: {"id"')  # the role chunk went out first
    assert '"error"' in events[-2] and "failed unexpectedly" in events[-2]
    assert events[-1] == "data: [DONE]"
    assert all(a["state"] == "healthy" for a in stack.accounts().values())


async def test_async_client_stream_and_not(stack):
    client = openai.AsyncOpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)
    reply = await client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "async"}])
    assert reply.choices[0].message.content == "You said: async"
    stream = await client.chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": "async stream"}], stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "You said: async stream"
    await client.close()


async def test_concurrent_requests_are_served_across_accounts(stack):
    client = openai.AsyncOpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)
    replies = await asyncio.gather(*(
        client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": f"n{i}"}])
        for i in range(8)))
    assert sorted(r.choices[0].message.content for r in replies) == sorted(f"You said: n{i}" for i in range(8))
    tokens = {r["token"] for r in stack.upstream_requests("/api/v2/chat/completions")}
    assert tokens == set(TOKENS)
    await client.close()


def test_thinking_summary_era_comes_back_as_reasoning_content(stack):
    client = client_for(stack)
    reply = client.chat.completions.create(
        model="qwen3-max-thinking", messages=[{"role": "user", "content": "What is 17 * 19?"}])
    message = reply.choices[0].message
    assert message.content == "17 * 19 = 323."
    assert message.reasoning_content == "Reading the question\nThe user wants an answer.\nAnswering now.\n"
    assert reply.usage.completion_tokens_details.reasoning_tokens > 0
    chunks = list(client.chat.completions.create(
        model="qwen3-max-thinking", messages=[{"role": "user", "content": "What is 17 * 19?"}], stream=True))
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks)
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert reasoning == message.reasoning_content and content == "17 * 19 = 323."
    sent = stack.upstream_requests("/api/v2/chat/completions")[-1]["body"]
    assert sent["model"] == "qwen3-max"
    assert sent["messages"][0]["feature_config"]["thinking_enabled"] is True


def test_think_era_and_reasoning_effort(stack):
    stack.sim_options(era="think")
    reply = client_for(stack).chat.completions.create(
        model="qwen3-max", reasoning_effort="high", messages=[{"role": "user", "content": "Think first"}])
    assert reply.choices[0].message.reasoning_content == "Let me think about this."
    assert reply.choices[0].message.content == "You said: Think first"


def test_enable_thinking_through_extra_body_and_off_by_default(stack):
    client = client_for(stack)
    plain = client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "plain"}])
    assert getattr(plain.choices[0].message, "reasoning_content", None) is None
    thought = client.chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": "deep"}], extra_body={"enable_thinking": True})
    assert thought.choices[0].message.reasoning_content
    flags = [r["body"]["messages"][0]["feature_config"]["thinking_enabled"]
             for r in stack.upstream_requests("/api/v2/chat/completions")]
    assert flags == [False, True]


def test_a_full_message_list_is_folded_into_one_upstream_message(stack):
    reply = client_for(stack).chat.completions.create(model="qwen3-max", messages=[
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello Ada."},
        {"role": "user", "content": "What is my name?"},
    ])
    (sent,) = stack.upstream_requests("/api/v2/chat/completions")
    (message,) = sent["body"]["messages"]
    assert message["content"] == ("system: You are terse.\n\nuser: My name is Ada.\n\n"
                                  "assistant: Hello Ada.\n\nuser: What is my name?")
    assert sent["body"]["parent_id"] is None
    assert reply.choices[0].message.content == "You said: " + message["content"]


def test_chat_id_and_parent_id_continue_the_upstream_conversation(stack):
    client = client_for(stack)
    first = client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "Turn one"}])
    chat_id, parent_id = first.model_extra["chat_id"], first.model_extra["parent_id"]
    assert chat_id and parent_id
    second = client.chat.completions.create(
        model="qwen3-max", extra_body={"chat_id": chat_id, "parent_id": parent_id},
        messages=[{"role": "user", "content": "Turn one"}, {"role": "assistant", "content": "..."},
                  {"role": "user", "content": "Turn two"}])
    assert second.choices[0].message.content == "You said: Turn two"
    assert second.model_extra["chat_id"] == chat_id
    assert second.model_extra["parent_id"] not in (None, parent_id)
    sends = stack.upstream_requests("/api/v2/chat/completions")
    assert len(stack.upstream_requests("/api/v2/chats/new")) == 1
    assert sends[1]["body"]["chat_id"] == chat_id and sends[1]["body"]["parent_id"] == parent_id
    assert sends[1]["token"] == sends[0]["token"]  # the chat's owner serves the next turn
    detail = stack.sim.get(f"/api/v2/chats/{chat_id}", headers={"authorization": f"Bearer {sends[0]['token']}"})
    messages = detail.json()["data"]["chat"]["history"]["messages"]
    user_turns = sorted(m["content"] if isinstance(m["content"], str) else str(m["content"])
                        for m in messages.values() if m["role"] == "user")
    assert user_turns == ["Turn one", "Turn two"]


def test_stream_returns_chat_continuation_ids_too(stack):
    chunks = list(client_for(stack).chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": "ids"}], stream=True))
    assert chunks[0].model_extra["chat_id"] and chunks[-1].model_extra["parent_id"]


def test_unknown_chat_id_falls_back_to_a_new_folded_chat(stack):
    reply = client_for(stack).chat.completions.create(
        model="qwen3-max", extra_body={"chat_id": "not-a-chat", "parent_id": "nope"},
        messages=[{"role": "user", "content": "fresh start"}])
    assert reply.choices[0].message.content == "You said: fresh start"
    assert reply.model_extra["chat_id"] != "not-a-chat"


def test_models_list_and_retrieve(stack):
    client = client_for(stack)
    ids = [m.id for m in client.models.list()]
    assert "qwen3-max" in ids and "qwen3-max-thinking" in ids
    assert "qwen-max-latest-thinking" not in ids  # it cannot think
    assert "qwen2.5-old-instruct" not in ids  # inactive upstream
    model = client.models.retrieve("qwen3-max-thinking")
    assert model.id == "qwen3-max-thinking" and model.owned_by == "qwen" and model.object == "model"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_aliases_and_display_names_resolve(stack):
    client = client_for(stack)
    for name in ("qwen-max", "Qwen3-Max", "QWEN3-MAX"):
        client.chat.completions.create(model=name, messages=[{"role": "user", "content": "alias"}])
    assert {r["body"]["model"] for r in stack.upstream_requests("/api/v2/chat/completions")} == {"qwen3-max"}


def test_upstream_requests_carry_the_reference_headers(stack):
    client_for(stack).chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "h"}])
    client_for(stack).chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "h"}])
    writes = stack.upstream_requests("/api/v2/chat/completions") + stack.upstream_requests("/api/v2/chats/new")
    for request in writes:
        headers = request["headers"]
        token = request["token"]
        assert headers["authorization"] == f"Bearer {token}"
        assert f"token={token}" in headers["cookie"]
        assert headers["version"] and headers["source"] == "web"
        assert headers["x-accel-buffering"] == "no"
    ids = [r["headers"]["x-request-id"] for r in writes]
    assert len(set(ids)) == len(ids)


def test_strict_upstream_header_checks_pass():
    from gateway.simulator import SimOptions

    with live_stack(sim=SimOptions(speed=0.0, strict_headers=True)) as stack:
        reply = client_for(stack).chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "s"}])
        assert reply.choices[0].message.content == "You said: s"


def test_request_id_header_reaches_the_client(stack):
    raw = client_for(stack).chat.completions.with_raw_response.create(
        model="qwen3-max", messages=[{"role": "user", "content": "id"}])
    assert raw.headers["x-request-id"].startswith("req_")


def test_one_access_log_line_per_request_with_model_account_and_upstream_time(stack, caplog):
    caplog.set_level("INFO", logger="gateway.access")
    client_for(stack).chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "log me"}])
    lines: list = []
    for _ in range(100):  # the line is written just after the response is sent
        lines = [r.getMessage() for r in caplog.records if "path=/v1/chat/completions" in r.getMessage()]
        if lines:
            break
        time.sleep(0.01)
    (line,) = lines
    assert "status=200" in line and "model=qwen3-max" in line and "account=acct-" in line
    assert "upstream_ms=" in line and "upstream_ms=-" not in line


def test_a_parent_the_upstream_does_not_know_falls_back_to_a_new_folded_chat(stack):
    client = client_for(stack)
    first = client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "one"}])
    reply = client.chat.completions.create(
        model="qwen3-max", extra_body={"chat_id": first.model_extra["chat_id"], "parent_id": "not-a-message"},
        messages=[{"role": "user", "content": "one"}, {"role": "assistant", "content": "You said: one"},
                  {"role": "user", "content": "two"}])
    assert reply.choices[0].message.content == "You said: user: one\n\nassistant: You said: one\n\nuser: two"
    assert reply.model_extra["chat_id"] != first.model_extra["chat_id"]
    assert len(stack.upstream_requests("/api/v2/chats/new")) == 2  # the refused turn, then a fresh chat


def test_a_long_answer_is_not_cut_by_the_request_deadline():
    with live_stack(default_settings(timeouts=replace(FAST, deadline=1))) as stack:
        stack.sim_options(speed=1.0, delta_delay=0.4)  # about 2.5 s of answer, well past the deadline
        text = "a question with a fairly long answer"
        reply = client_for(stack).chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": text}])
        assert reply.choices[0].message.content == "You said: " + text
