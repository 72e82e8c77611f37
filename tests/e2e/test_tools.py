"""Emulated tool calling, structured output and web search through the real clients."""

import json

import openai
import pytest
from pydantic import BaseModel

from gateway.config import ConversationSettings

from .harness import default_settings, live_stack

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                   "required": ["city"]}}}
CLOCK = {"type": "function", "function": {"name": "get_time", "description": "The time in a city",
                                          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


def client_for(stack):
    return openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)


def sent_prompts(stack):
    return [r["body"]["messages"][0]["content"] for r in stack.upstream_requests("/api/v2/chat/completions")]


def test_tool_call_non_stream(stack):
    reply = client_for(stack).chat.completions.create(
        model="qwen3-max", tools=[WEATHER, CLOCK],
        messages=[{"role": "user", "content": "Use get_weather for Paris over 3 days"}])
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "days": 3}
    assert "<tools>" in sent_prompts(stack)[0]  # the definitions travelled as instructions


def test_tool_call_stream_deltas(stack):
    chunks = list(client_for(stack).chat.completions.create(
        model="qwen3-max", tools=[WEATHER, CLOCK], stream=True,
        messages=[{"role": "user", "content": "Call get_weather and get_time for Paris"}]))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert not "".join(d.content or "" for d in deltas)  # no <tool_call> text leaks as content
    pieces = [tc for d in deltas for tc in (d.tool_calls or [])]
    assert {p.index for p in pieces} == {0, 1}
    firsts = [p for p in pieces if p.id]
    assert [p.function.name for p in firsts] == ["get_weather", "get_time"]
    assert all(p.type == "function" for p in firsts)
    assert all(p.id is None and p.function.name is None for p in pieces if p not in firsts)
    arguments = {i: "".join(p.function.arguments or "" for p in pieces if p.index == i) for i in (0, 1)}
    assert json.loads(arguments[0]) == {"city": "Paris", "days": 1} and json.loads(arguments[1]) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_parallel_tool_calls_false_keeps_one_call(stack):
    reply = client_for(stack).chat.completions.create(
        model="qwen3-max", tools=[WEATHER, CLOCK], parallel_tool_calls=False,
        messages=[{"role": "user", "content": "Call get_weather and get_time for Paris"}])
    assert [c.function.name for c in reply.choices[0].message.tool_calls] == ["get_weather"]


def _tool_round_trip(stack):
    client = client_for(stack)
    messages = [{"role": "user", "content": "What does get_weather say for Oslo?"}]
    first = client.chat.completions.create(model="qwen3-max", tools=[WEATHER], messages=messages)
    call = first.choices[0].message.tool_calls[0]
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "Snow, -3 C"}]
    second = client.chat.completions.create(model="qwen3-max", tools=[WEATHER], messages=messages)
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "Tool results: Snow, -3 C"
    prompt = sent_prompts(stack)[-1]
    assert f'<tool_response tool_call_id="{call.id}" name="get_weather">Snow, -3 C</tool_response>' in prompt
    return prompt


def test_a_tool_result_round_trip_continues_the_upstream_chat(stack):
    prompt = _tool_round_trip(stack)
    assert "<tool_call>" not in prompt.split("</instructions>")[-1]  # the call is upstream already
    first, second = [r["body"] for r in stack.upstream_requests("/api/v2/chat/completions")]
    assert second["chat_id"] == first["chat_id"] and second["parent_id"] is not None


def test_a_tool_result_round_trip_folds_with_chaining_off():
    with live_stack(default_settings(conversation=ConversationSettings(chain=False))) as stack:
        prompt = _tool_round_trip(stack)
        assert '<tool_call>{"name":"get_weather","arguments":{"city":"Oslo","days":1}}</tool_call>' in prompt


def test_tool_choice_none_and_auto_answer_in_text(stack):
    client = client_for(stack)
    none = client.chat.completions.create(model="qwen3-max", tools=[WEATHER], tool_choice="none",
                                          messages=[{"role": "user", "content": "get_weather in Paris"}])
    assert none.choices[0].message.content == "You said: get_weather in Paris"
    assert "<tools>" not in sent_prompts(stack)[-1]
    auto = client.chat.completions.create(model="qwen3-max", tools=[WEATHER],
                                          messages=[{"role": "user", "content": "Just say hi"}])
    assert auto.choices[0].message.content == "You said: Just say hi" and not auto.choices[0].message.tool_calls


def test_required_call_missing_gets_one_corrective_retry(stack):
    reply = client_for(stack).chat.completions.create(
        model="qwen3-max", tools=[WEATHER], tool_choice="required",
        messages=[{"role": "user", "content": "[[sim:lazy]] Weather in Rome?"}])
    assert reply.choices[0].message.tool_calls[0].function.name == "get_weather"
    prompts = sent_prompts(stack)
    assert len(prompts) == 2 and "called no function" in prompts[1]


def test_named_tool_choice(stack):
    reply = client_for(stack).chat.completions.create(
        model="qwen3-max", tools=[WEATHER, CLOCK], tool_choice={"type": "function", "function": {"name": "get_time"}},
        messages=[{"role": "user", "content": "Anything for Lima"}])
    assert reply.choices[0].message.tool_calls[0].function.name == "get_time"
    assert '"name":"get_weather"' not in sent_prompts(stack)[0]


class Person(BaseModel):
    name: str
    age: int


def test_parse_with_a_pydantic_model(stack):
    reply = client_for(stack).chat.completions.parse(
        model="qwen3-max", response_format=Person,
        messages=[{"role": "user", "content": 'Extract the person: "Ada", 36 years old.'}])
    assert reply.choices[0].message.parsed == Person(name="Ada", age=36)


def test_json_object_mode_and_stream(stack):
    client = client_for(stack)
    reply = client.chat.completions.create(model="qwen3-max", response_format={"type": "json_object"},
                                           messages=[{"role": "user", "content": "hello json"}])
    assert json.loads(reply.choices[0].message.content) == {"answer": "You said: hello json"}
    chunks = list(client.chat.completions.create(model="qwen3-max", response_format={"type": "json_object"},
                                                 stream=True, messages=[{"role": "user", "content": "streamed"}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert json.loads(text) == {"answer": "You said: streamed"}


def test_invalid_json_gets_one_corrective_retry(stack):
    reply = client_for(stack).chat.completions.parse(
        model="qwen3-max", response_format=Person,
        messages=[{"role": "user", "content": '[[sim:lazy]] "Grace" is 85'}])
    assert reply.choices[0].message.parsed == Person(name="Grace", age=85)
    prompts = sent_prompts(stack)
    assert len(prompts) == 2 and "previous reply was not valid" in prompts[1]


def test_invalid_schema_is_a_400(stack):
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(stack).chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": "x"}],
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "wrong"}}})
    assert caught.value.body["param"] == "response_format.json_schema.schema"


class Team(BaseModel):
    lead: Person
    members: list[Person]


def test_parse_with_a_nested_pydantic_model_follows_its_refs(stack):
    reply = client_for(stack).chat.completions.parse(
        model="qwen3-max", response_format=Team, messages=[{"role": "user", "content": "A team of one"}])
    assert isinstance(reply.choices[0].message.parsed, Team)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("ref", ["#/$defs/Missing", "https://example.com/schema.json", "#/properties/nope"])
def test_a_schema_whose_ref_cannot_be_resolved_is_a_400_before_any_upstream_call(stack, stream, ref):
    schema = {"type": "object", "properties": {"a": {"$ref": ref}}, "$defs": {"Here": {"type": "string"}}}
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(stack).chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": "x"}], stream=stream,
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})
    assert caught.value.body["param"] == "response_format.json_schema.schema"
    assert ref in caught.value.message
    assert not stack.upstream_requests("/api/v2/chat/completions")
    assert all(a["state"] == "healthy" for a in stack.accounts().values())


@pytest.mark.parametrize("stream", [False, True])
def test_web_search_on_a_model_without_search_is_a_400_naming_it(stack, stream):
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(stack).chat.completions.create(model="qwen-plus-2025-09-11", web_search_options={}, stream=stream,
                                                  messages=[{"role": "user", "content": "news"}])
    assert caught.value.body["param"] == "web_search_options" and caught.value.code == "model_not_supported"
    assert "qwen-plus-2025-09-11" in caught.value.message and "search" in caught.value.message
    assert not stack.upstream_requests("/api/v2/chat/completions")


def test_web_search_returns_url_citations(stack):
    client = client_for(stack)
    reply = client.chat.completions.create(model="qwen3-max-search",
                                           messages=[{"role": "user", "content": "Qwen news"}])
    message = reply.choices[0].message
    assert message.content == "You said: Qwen news"
    (annotation,) = message.annotations
    assert annotation.type == "url_citation"
    assert annotation.url_citation.url.startswith("https://")
    assert annotation.url_citation.end_index == len(message.content)
    sent = stack.upstream_requests("/api/v2/chat/completions")[-1]["body"]
    assert sent["messages"][0]["chat_type"] == "search"
    chunks = list(client.chat.completions.create(model="qwen3-max", web_search_options={}, stream=True,
                                                 messages=[{"role": "user", "content": "Qwen news"}]))
    annotations = [a for c in chunks if c.choices for a in (c.choices[0].delta.model_extra.get("annotations") or [])]
    assert annotations and annotations[0]["type"] == "url_citation"
    assert "qwen3-max-search" in [m.id for m in client.models.list()]
