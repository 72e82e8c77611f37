"""Valid JSON of the wrong types is a 400 naming the field, on every route: never a 5xx."""

import pytest

from .harness import live_stack

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def stack():
    with live_stack() as stack:
        yield stack


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "qwen3-max", "messages": [{"role": {"x": 1}, "content": "hi"}]}, "messages[0].role"),
    ({"model": "qwen3-max", "messages": HI, "reasoning_effort": ["high"]}, "reasoning_effort"),
    ({"model": "qwen3-max", "messages": HI, "response_format": {"type": ["json_object"]}}, "response_format.type"),
    ({"model": "qwen3-max", "messages": HI, "tool_choice": {"type": "function", "function": "f"}},
     "tool_choice.function"),
    ({"model": "qwen3-max", "messages": [{"role": "assistant", "tool_calls": [{"id": "a", "function": "f"}]}, *HI]},
     "messages[0].tool_calls[0].function"),
    ({"model": "qwen3-max", "messages": [{"role": "tool", "content": "x", "tool_call_id": ["a"]}, *HI]},
     "messages[0].tool_call_id"),
    ({"model": "qwen3-max", "messages": [{"role": "assistant", "tool_calls": [
        {"id": ["a"], "function": {"name": "f"}}]}, *HI]}, "messages[0].tool_calls[0].id"),
    ({"model": "qwen3-max", "messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]},
     "messages[0].content[0].text"),
    ({"model": "qwen3-max", "messages": [{"role": "user", "content": {"text": "hi"}}]}, "messages[0].content"),
    ({"model": "qwen3-max", "messages": HI, "stream": "yes"}, "stream"),
    ({"model": ["qwen3-max"], "messages": HI}, "model"),
])
def test_chat_completions_wrong_types(stack, body, param):
    for path in ("/v1/chat/completions", "/api/chat/completions"):
        answer = stack.http.post(path, json=body)
        assert answer.status_code == 400, (path, answer.text)
    error = stack.http.post("/v1/chat/completions", json=body).json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and param in error["message"]


@pytest.mark.parametrize(("body", "words"), [
    ({"message": "hi", "chatId": ["c"]}, "chatId"),
    ({"message": {"text": "hi"}}, "message"),
    ({"message": "hi", "stream": "true"}, "stream"),
    ({"messages": [{"role": 1, "content": "hi"}]}, "messages[0].role"),
])
def test_the_original_api_wrong_types(stack, body, words):
    answer = stack.http.post("/api/chat", json=body)
    assert answer.status_code == 400 and words in answer.json()["error"]


@pytest.mark.parametrize("query", ["limit=²", "limit=-1", "limit=1000", "limit=abc", "order=sideways"])
def test_video_list_query_wrong_values(stack, query):
    answer = stack.http.get("/v1/videos?" + query)
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == query.split("=")[0]


@pytest.mark.parametrize(("path", "body", "param"), [
    ("/v1/images/generations", {"prompt": "x", "n": "2"}, "n"),
    ("/v1/images/generations", {"prompt": ["x"]}, "prompt"),
    ("/v1/videos", {"prompt": "x", "seconds": [4]}, "seconds"),
    ("/v1/videos", {"prompt": {"text": "x"}}, "prompt"),
])
def test_media_routes_wrong_types(stack, path, body, param):
    answer = stack.http.post(path, json=body)
    assert answer.status_code == 400 and answer.json()["error"]["param"] == param


def test_openapi_json_describes_the_validated_bodies(stack):
    document = stack.http.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    chat = document["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    name = chat["$ref"].rsplit("/", 1)[-1]
    assert "messages" in document["components"]["schemas"][name]["properties"]
    assert {"/v1/images/generations", "/v1/videos", "/api/chat"} <= set(document["paths"])
