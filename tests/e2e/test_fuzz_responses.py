"""Property-based fuzzing of `POST /v1/responses`: no body gives a 5xx.

Its body is checked by `translate/responses.py` rather than a pydantic schema (the Responses
input is a union of item kinds), so it is not in /openapi.json; bodies are drawn here in the
shape of the Responses API, each value of its documented type or any JSON at all.
"""

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .harness import live_stack
from .test_fuzz import ANY_JSON


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, ANY_JSON)


TEXT = st.text(max_size=12)
PART = st.fixed_dictionaries(
    {"type": maybe(st.sampled_from(["input_text", "output_text", "refusal", "input_image", "input_file"]))},
    optional={"text": maybe(TEXT), "refusal": maybe(TEXT), "image_url": maybe(TEXT), "file_id": maybe(TEXT),
              "file_data": maybe(TEXT), "filename": maybe(TEXT), "detail": maybe(TEXT)})
MESSAGE = st.fixed_dictionaries(
    {"role": maybe(st.sampled_from(["user", "assistant", "system", "developer"]))},
    optional={"type": maybe(st.just("message")), "content": maybe(st.one_of(TEXT, st.lists(maybe(PART), max_size=3))),
              "id": maybe(TEXT), "status": maybe(TEXT)})
CALL = st.fixed_dictionaries(
    {"type": st.just("function_call")},
    optional={"call_id": maybe(TEXT), "name": maybe(TEXT), "arguments": maybe(TEXT), "id": maybe(TEXT)})
OUTPUT = st.fixed_dictionaries(
    {"type": st.just("function_call_output")},
    optional={"call_id": maybe(TEXT), "output": maybe(st.one_of(TEXT, st.lists(maybe(PART), max_size=2)))})
ITEM = st.one_of(MESSAGE, CALL, OUTPUT, st.fixed_dictionaries({"type": maybe(TEXT)}))
TOOL = st.fixed_dictionaries(
    {"type": maybe(st.sampled_from(["function", "web_search", "web_search_preview", "file_search"]))},
    optional={"name": maybe(TEXT), "parameters": maybe(st.just({"type": "object", "properties": {}})),
              "strict": maybe(st.booleans()), "description": maybe(TEXT)})
BODY = st.fixed_dictionaries(
    {"model": maybe(st.sampled_from(["qwen3-max", "qwen3.7-plus", "qwen-image-2.0-pro"])),
     "input": maybe(st.one_of(TEXT, st.lists(maybe(ITEM), min_size=1, max_size=3)))},
    optional={
        "instructions": maybe(TEXT), "tools": maybe(st.lists(maybe(TOOL), max_size=2)),
        "tool_choice": maybe(st.one_of(st.sampled_from(["auto", "none", "required"]),
                                       st.fixed_dictionaries({"type": maybe(TEXT), "name": maybe(TEXT)}))),
        "reasoning": maybe(st.fixed_dictionaries({}, optional={"effort": maybe(TEXT), "summary": maybe(TEXT)})),
        "text": maybe(st.fixed_dictionaries({}, optional={"format": maybe(st.fixed_dictionaries(
            {"type": maybe(st.sampled_from(["text", "json_object", "json_schema"]))},
            optional={"name": maybe(TEXT), "schema": maybe(st.just({"type": "object"})),
                      "strict": maybe(st.booleans())}))})),
        "max_output_tokens": maybe(st.integers(-5, 50)), "metadata": maybe(st.dictionaries(TEXT, TEXT, max_size=2)),
        "store": maybe(st.booleans()), "previous_response_id": maybe(TEXT), "temperature": maybe(st.floats(0, 2)),
        "top_p": maybe(st.floats(0, 1)), "parallel_tool_calls": maybe(st.booleans()), "user": maybe(TEXT),
        "include": maybe(st.lists(TEXT, max_size=2)), "truncation": maybe(TEXT), "background": maybe(st.booleans()),
    })


@pytest.fixture(scope="module")
def stack():
    with live_stack() as stack:
        yield stack


def test_no_responses_body_gives_a_server_error(stack):
    @settings(max_examples=400, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(body=BODY | ANY_JSON)
    def no_5xx(body: Any) -> None:
        answer = stack.http.post("/v1/responses", json=body, timeout=30)
        assert answer.status_code < 500, (body, answer.status_code, answer.text[:300])

    no_5xx()
