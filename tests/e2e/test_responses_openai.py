"""/v1/responses through the real openai client, against the simulator."""

import base64

import httpx
import openai
import pytest
from pydantic import BaseModel

from gateway.store import MemoryStore

from .harness import TOKENS, default_settings, live_stack
from .test_disconnect import busy_accounts, wait_until_idle
from .test_vision import DATA_URI, PNG, VISION, note

MULTIPLY = {"type": "function", "name": "multiply", "description": "Multiply two whole numbers.",
            "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                           "required": ["a", "b"]}}
TEXT_EVENTS = ["response.output_item.added", "response.content_part.added", "response.output_text.delta",
               "response.output_text.done", "response.content_part.done", "response.output_item.done"]


def client_for(stack, api_key="unused"):
    return openai.OpenAI(base_url=stack.base_url, api_key=api_key, max_retries=0)


def collapsed(types):
    """Event types with runs of the same delta event folded into one."""
    out = []
    for kind in types:
        if not (out and out[-1] == kind and kind.endswith(".delta")):
            out.append(kind)
    return out


def test_create_answers_with_one_message_and_usage(stack):
    response = client_for(stack).responses.create(model="qwen3-max", input="Hello there")
    assert response.output_text == "You said: Hello there"
    assert response.id.startswith("resp_") and response.object == "response" and response.status == "completed"
    assert response.model == "qwen3-max" and response.store is True
    (message,) = response.output
    assert message.type == "message" and message.role == "assistant" and message.status == "completed"
    assert message.content[0].type == "output_text" and message.content[0].annotations == []
    usage = response.usage
    assert usage.input_tokens >= 1 and usage.output_tokens >= 1
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.output_tokens_details.reasoning_tokens == 0


def test_instructions_metadata_and_sampling_are_accepted(stack):
    response = client_for(stack).responses.create(
        model="qwen3-max", instructions="Be terse.", input=[{"role": "user", "content": "Hi"}],
        metadata={"ticket": "42"}, temperature=0.2, max_output_tokens=64)
    assert response.output_text == "You said: system: Be terse.\n\nuser: Hi"
    assert response.metadata == {"ticket": "42"} and response.temperature == 0.2
    assert response.max_output_tokens == 64 and response.instructions == "Be terse."


def test_stream_sends_openais_event_sequence(stack):
    events = list(client_for(stack).responses.create(model="qwen3-max", input="Stream this sentence", stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert collapsed([e.type for e in events]) == ["response.created", "response.in_progress", *TEXT_EVENTS,
                                                  "response.completed"]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) > 1 and "".join(deltas) == "You said: Stream this sentence"
    created, completed = events[0].response, events[-1].response
    assert created.status == "in_progress" and created.output == []
    assert completed.id == created.id and completed.status == "completed"
    assert completed.output_text == "You said: Stream this sentence" and completed.usage.total_tokens > 0
    item_ids = {e.item_id for e in events if hasattr(e, "item_id")}
    assert item_ids == {completed.output[0].id}


def test_thinking_model_streams_a_reasoning_item_with_summary_first(stack):
    events = list(client_for(stack).responses.create(model="qwen3-max-thinking", input="What is 17 * 19?",
                                                     stream=True))
    assert collapsed([e.type for e in events]) == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
        *TEXT_EVENTS, "response.completed"]
    reasoning, message = events[-1].response.output
    assert reasoning.type == "reasoning" and message.type == "message"
    assert reasoning.summary[0].text == "Reading the question\nThe user wants an answer.\nAnswering now.\n"
    assert events[-1].response.output_text == "17 * 19 = 323."
    assert events[-1].response.usage.output_tokens_details.reasoning_tokens > 0


def test_reasoning_effort_turns_thinking_on(stack):
    response = client_for(stack).responses.create(model="qwen3-max", input="What is 17 * 19?",
                                                  reasoning={"effort": "high", "summary": "auto"})
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.reasoning.effort == "high"
    sent = stack.upstream_requests("/api/v2/chat/completions")[-1]["body"]
    assert sent["messages"][0]["feature_config"]["thinking_enabled"] is True


def test_stream_helper_accumulates_the_final_response(stack):
    with client_for(stack).responses.stream(model="qwen3-max", input="helper stream") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == final.output_text == "You said: helper stream"


class Person(BaseModel):
    name: str
    age: int


def test_parse_with_a_pydantic_model(stack):
    response = client_for(stack).responses.parse(model="qwen3-max", input='Who is "Alan", aged 41?',
                                                  text_format=Person)
    assert response.output_parsed == Person(name="Alan", age=41)


def test_function_tool_round_trip_with_previous_response_id(stack):
    client = client_for(stack)
    first = client.responses.create(model="qwen3-max", input="Please multiply 6 and 7", tools=[MULTIPLY])
    (call,) = first.output
    assert call.type == "function_call" and call.name == "multiply" and call.arguments == '{"a":6,"b":7}'
    assert call.call_id.startswith("call_") and call.id.startswith("fc_")
    second = client.responses.create(model="qwen3-max", previous_response_id=first.id, tools=[MULTIPLY],
                                     input=[{"type": "function_call_output", "call_id": call.call_id, "output": "42"}])
    assert second.output_text == "Tool results: 42"
    assert second.previous_response_id == first.id
    assert len(stack.upstream_requests("/api/v2/chats/new")) == 1  # the same upstream chat went on


def test_function_tool_round_trip_with_the_whole_history_and_streamed_arguments(stack):
    client = client_for(stack)
    events = list(client.responses.create(model="qwen3-max", input="multiply 3 by 5", tools=[MULTIPLY], stream=True,
                                          store=False))
    assert collapsed([e.type for e in events])[2:] == [
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    (call,) = events[-1].response.output
    assert "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta") == call.arguments
    history = [{"role": "user", "content": "multiply 3 by 5"},
               {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
               {"type": "function_call_output", "call_id": call.call_id, "output": "15"}]
    assert client.responses.create(model="qwen3-max", input=history, tools=[MULTIPLY]).output_text == \
        "Tool results: 15"


def test_previous_response_id_continues_the_upstream_chat(stack):
    client = client_for(stack)
    first = client.responses.create(model="qwen3-max", input="Turn one")
    second = client.responses.create(model="qwen3-max", input="Turn two", previous_response_id=first.id)
    assert second.output_text == "You said: Turn two"
    first_send, second_send = stack.upstream_requests("/api/v2/chat/completions")
    assert len(stack.upstream_requests("/api/v2/chats/new")) == 1
    assert second_send["body"]["chat_id"] == first_send["body"]["chat_id"] and second_send["body"]["parent_id"]
    assert second_send["token"] == first_send["token"]


def test_previous_response_id_continues_across_a_restart_and_folds_once_the_upstream_lost_the_chat():
    with live_stack(store=MemoryStore()) as stack:
        client = client_for(stack)
        first = client.responses.create(model="qwen3-max", input="My name is Ada.")
        stack.restart_gateway()  # the stored response and its chat's owner survive in the store
        second = client.responses.create(model="qwen3-max", input="What is my name?", previous_response_id=first.id)
        assert second.output_text == "You said: What is my name?"  # only the new turn went upstream
        assert len(stack.upstream_requests("/api/v2/chats/new")) == 1
        stack.sim.post("/__sim/reset").raise_for_status()  # the upstream forgets every chat
        third = client.responses.create(model="qwen3-max", input="And now?", previous_response_id=second.id)
        assert third.output_text == ("You said: user: My name is Ada.\n\nassistant: You said: My name is Ada."
                                     "\n\nuser: What is my name?\n\nassistant: You said: What is my name?"
                                     "\n\nuser: And now?")


def test_retrieve_input_items_and_delete(stack):
    client = client_for(stack)
    created = client.responses.create(model="qwen3-max", input=[
        {"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "input_text", "text": "second"}]}])
    fetched = client.responses.retrieve(created.id)
    assert fetched.id == created.id and fetched.output_text == created.output_text
    items = client.responses.input_items.list(created.id)
    assert [i.content[0].text for i in items.data] == ["second", "ok", "first"]  # newest first by default
    assert all(i.id.startswith("msg_") and i.type == "message" for i in items.data)
    oldest = client.responses.input_items.list(created.id, order="asc", limit=2)
    assert [i.content[0].text for i in oldest.data] == ["first", "ok"] and oldest.has_more
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created.id)


def test_stored_responses_belong_to_the_api_key_that_made_them():
    with live_stack(default_settings(api_keys=("key-one", "key-two"))) as stack:
        mine = client_for(stack, "key-one").responses.create(model="qwen3-max", input="private")
        theirs = client_for(stack, "key-two")
        for attempt in (lambda: theirs.responses.retrieve(mine.id), lambda: theirs.responses.input_items.list(mine.id),
                        lambda: theirs.responses.delete(mine.id),
                        lambda: theirs.responses.create(model="qwen3-max", input="x", previous_response_id=mine.id)):
            with pytest.raises(openai.NotFoundError):
                attempt()
        assert client_for(stack, "key-one").responses.retrieve(mine.id).output_text == "You said: private"


def test_store_false_is_not_kept(stack):
    client = client_for(stack)
    response = client.responses.create(model="qwen3-max", input="forget me", store=False)
    assert response.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_web_search_tool_uses_qwen_search_and_cites_sources(stack):
    client = client_for(stack)
    response = client.responses.create(model="qwen3-max", input="Qwen news", tools=[{"type": "web_search"}])
    search, message = response.output
    assert search.type == "web_search_call" and search.status == "completed" and search.action.query == "Qwen news"
    (annotation,) = message.content[0].annotations
    assert annotation.type == "url_citation" and annotation.url.startswith("https://")
    assert annotation.end_index == len(response.output_text) == len("You said: Qwen news")
    assert stack.upstream_requests("/api/v2/chat/completions")[-1]["body"]["messages"][0]["chat_type"] == "search"
    events = list(client.responses.create(model="qwen3-max", input="Qwen news", tools=[{"type": "web_search"}],
                                          stream=True))
    assert "response.web_search_call.completed" in [e.type for e in events]
    assert [e.annotation.type for e in events if e.type == "response.output_text.annotation.added"] == \
        ["url_citation"]


def test_a_failure_after_the_first_byte_ends_the_stream_with_error_and_response_failed(stack):
    stack.fault(TOKENS[0], {"kind": "stream_error", "after": 2})
    events = list(client_for(stack).responses.create(
        model="qwen3-max", input="Please answer with a long enough sentence", stream=True))
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]
    assert events[-1].response.status == "failed" and events[-1].response.error.message
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta")


def test_an_input_image_reaches_a_vision_model_by_url_or_by_file_id(stack):
    client = client_for(stack)
    content = [{"type": "input_text", "text": "Describe it"}, {"type": "input_image", "image_url": DATA_URI}]
    response = client.responses.create(model=VISION, input=[{"role": "user", "content": content}])
    assert response.output_text == "You said: Describe it" + note(PNG)
    uploaded = client.files.create(file=("dot.png", PNG, "image/png"), purpose="vision")
    content[1] = {"type": "input_image", "file_id": uploaded.id, "detail": "auto"}
    response = client.responses.create(model=VISION, input=[{"role": "user", "content": content}])
    assert response.output_text == "You said: Describe it" + note(PNG)
    content[1] = {"type": "input_image", "file_id": "file-nope"}
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=VISION, input=[{"role": "user", "content": content}])
    assert caught.value.body["param"] == "input[0].content[1].file_id"


def test_leaving_a_response_stream_or_answer_frees_the_upstream_call(stack):
    stack.sim_options(speed=1.0, delta_delay=0.5)
    body = {"model": "qwen3-max", "input": "a fairly long question to answer slowly"}
    with stack.http.stream("POST", "/v1/responses", json={**body, "stream": True}) as response:
        chunks = response.iter_raw()
        assert next(chunks).startswith(b"event: response.created")
        assert busy_accounts(stack) == 1
    assert wait_until_idle(stack)
    with pytest.raises(httpx.ReadTimeout):
        stack.http.post("/v1/responses", json=body, timeout=1.0)
    assert wait_until_idle(stack)


NOTES = b"# Notes\nThe launch is on Friday.\n"


def test_an_input_file_document_is_uploaded_parsed_and_read_whole(stack):
    encoded = base64.b64encode(NOTES).decode()
    question = "How many characters did you see?"
    response = client_for(stack).responses.create(model="qwen3.7-plus", input=[{"role": "user", "content": [
        {"type": "input_text", "text": question},
        {"type": "input_file", "filename": "notes.md", "file_data": f"data:text/markdown;base64,{encoded}"}]}])
    assert response.output_text.startswith(f"I saw {len(question) + len(NOTES)}")
    [entry] = stack.upstream_requests("/api/v2/chat/completions")[-1]["body"]["messages"][0]["files"]
    assert entry["name"] == "notes.md" and entry["file_class"] == "document"


def test_an_input_file_on_a_model_without_documents_is_a_400_naming_the_model(stack):
    encoded = base64.b64encode(NOTES).decode()
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(stack).responses.create(model="qwen3-max", input=[{"role": "user", "content": [
            {"type": "input_file", "filename": "notes.md", "file_data": encoded}]}])
    assert caught.value.body["param"] == "model" and "documents" in caught.value.message
