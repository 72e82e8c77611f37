"""/v1/responses client mistakes: 400s (or 404s) in OpenAI's shape, naming the parameter, before any upstream call."""

import pytest

from .test_bad_input import assert_openai_error

SCHEMA_ERROR = {"type": "json_schema", "name": "x", "schema": {"type": "wrong"}}


@pytest.mark.parametrize(("body", "param"), [
    ({"input": "x"}, "model"),
    ({"model": "qwen3-max"}, "input"),
    ({"model": "qwen3-max", "input": []}, "input"),
    ({"model": "qwen3-max", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"model": "qwen3-max", "input": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "input[0].content[0]"),
    ({"model": "qwen3-max", "input": [{"role": "user", "content": [{"type": "input_file", "file_url": "https://x/a.pdf"}]}]},
     "input[0].content[0]"),
    ({"model": "qwen3-max", "input": [{"type": "function_call_output", "output": "1"}]}, "input[0].call_id"),
    ({"model": "qwen3-max", "input": [{"type": "computer_call_output"}]}, "input[0].type"),
    ({"model": "qwen3-max", "input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
    ({"model": "qwen3-max", "input": "x", "tools": [{"type": "function", "name": "f"}],
      "tool_choice": {"type": "function", "name": "g"}}, "tool_choice"),
    ({"model": "qwen3-max", "input": "x", "text": {"format": {"type": "xml"}}}, "text.format"),
    ({"model": "qwen3-max", "input": "x", "text": {"format": SCHEMA_ERROR}}, "text.format.schema"),
    ({"model": "qwen3-max", "input": "x", "reasoning": {"effort": "extreme"}}, "reasoning.effort"),
    ({"model": "qwen3-max", "input": "x", "reasoning": {"summary": "long"}}, "reasoning.summary"),
    ({"model": "qwen3-max", "input": "x", "temperature": "hot"}, "temperature"),
    ({"model": "qwen3-max", "input": "x", "metadata": ["a"]}, "metadata"),
    ({"model": "qwen3-max", "input": "x", "max_output_tokens": "many"}, "max_output_tokens"),
    ({"model": "qwen3-max", "input": "x", "conversation": "conv_1"}, "conversation"),
    ({"model": "qwen3-max", "input": "x", "background": True}, "background"),
])
def test_bad_fields_are_400_naming_the_param(stack, body, param):
    assert_openai_error(stack.http.post("/v1/responses", json=body), 400, param)
    assert not stack.upstream_requests("/api/v2/chat/completions")


@pytest.mark.parametrize("tool", ["file_search", "code_interpreter", "computer_use_preview", "image_generation", "mcp"])
def test_builtin_tools_the_gateway_cannot_honour_are_400_naming_the_tool(stack, tool):
    body = {"model": "qwen3-max", "input": "x", "tools": [{"type": "function", "name": "f"}, {"type": tool}]}
    error = assert_openai_error(stack.http.post("/v1/responses", json=body), 400, "tools[1].type", "unsupported_tool")
    assert f"'{tool}'" in error["message"]


def test_unknown_model_and_unknown_previous_response_are_404(stack):
    assert_openai_error(stack.http.post("/v1/responses", json={"model": "gpt-4o", "input": "x"}), 404, "model",
                        "model_not_found")
    body = {"model": "qwen3-max", "input": "x", "previous_response_id": "resp_nope"}
    assert_openai_error(stack.http.post("/v1/responses", json=body), 404, "previous_response_id")
    assert_openai_error(stack.http.get("/v1/responses/resp_nope"), 404)
    assert_openai_error(stack.http.get("/v1/responses/resp_nope/input_items"), 404)


def test_input_items_paging_params_are_checked(stack):
    created = stack.http.post("/v1/responses", json={"model": "qwen3-max", "input": "x"}).json()
    for query, param in (({"limit": "0"}, "limit"), ({"order": "up"}, "order"), ({"after": "msg_nope"}, "after")):
        assert_openai_error(stack.http.get(f"/v1/responses/{created['id']}/input_items", params=query), 400, param)


def test_a_bad_image_is_named_after_its_input_item(stack):
    content = [{"type": "input_text", "text": "look"}, {"type": "input_image", "image_url": "data:image/png;base64,"}]
    body = {"model": "qwen3.7-plus", "instructions": "Be brief.", "input": [
        {"type": "reasoning", "id": "rs_1", "summary": []}, {"role": "user", "content": content}]}
    error = assert_openai_error(stack.http.post("/v1/responses", json=body), 400, "input[1].content[1].image_url")
    assert "'input[1].content[1].image_url'" in error["message"]
