import orjson
import pytest

from gateway.errors import InvalidRequest
from gateway.translate.tools import (
    ToolCallFilter,
    lenient_json,
    parse_tool_calls,
    parse_tool_plan,
    render_tool_calls,
    tool_instructions,
)

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}


def test_plan_choices_and_instructions():
    plan = parse_tool_plan({"tools": [WEATHER, TIME]})
    assert plan.choice == "auto" and plan.parallel and plan.active
    text = tool_instructions(plan)
    assert '"name":"get_weather"' in text and "<tool_call>" in text and "only when it helps" in text
    named = parse_tool_plan({"tools": [WEATHER, TIME], "tool_choice": {"type": "function", "function": {"name": "get_time"}},
                             "parallel_tool_calls": False})
    assert [t["name"] for t in named.tools] == ["get_time"]
    assert 'must call the function "get_time"' in tool_instructions(named)
    assert "at most one function" in tool_instructions(named)
    assert "at least one" in tool_instructions(parse_tool_plan({"tools": [WEATHER], "tool_choice": "required"}))
    assert not parse_tool_plan({"tools": [WEATHER], "tool_choice": "none"}).active
    assert parse_tool_plan({}) is None


@pytest.mark.parametrize(("body", "param"), [
    ({"tools": "x"}, "tools"),
    ({"tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
    ({"tools": [{"type": "retrieval"}]}, "tools[0]"),
    ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
])
def test_bad_tool_definitions_name_the_param(body, param):
    with pytest.raises(InvalidRequest) as caught:
        parse_tool_plan(body)
    assert caught.value.param == param


def test_parsing_calls_with_fences_several_calls_and_broken_json():
    text = ('Let me check.\n```json\n<tool_call>{"name": "get_weather", "arguments": {"city": "Paris",}}</tool_call>\n```\n'
            "<tool_call>{'name': 'x'}</tool_call>"  # not JSON enough and not a declared tool: stays text
            '<tool_call>{"name": "get_time", "arguments": "{\\"tz\\": \\"UTC\\"}"}</tool_call>'
            '<tool_call>{"name": "get_weather", "arguments": {"city": "Rome", "metric": True}')
    content, calls = parse_tool_calls(text, {"get_weather", "get_time"})
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time", "get_weather"]
    assert [orjson.loads(c["function"]["arguments"]) for c in calls] == [
        {"city": "Paris"}, {"tz": "UTC"}, {"city": "Rome", "metric": True}]
    assert all(c["id"].startswith("call_") and c["type"] == "function" for c in calls)
    assert len({c["id"] for c in calls}) == 3
    assert content.startswith("Let me check.") and "'name': 'x'" in content and "Paris" not in content


def test_text_without_calls_is_left_alone():
    assert parse_tool_calls("Just an answer.", {"f"}) == ("Just an answer.", [])


def test_history_renders_back_as_tool_call_text():
    calls = [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]
    assert render_tool_calls(calls) == '<tool_call>{"name":"get_weather","arguments":{"city":"Oslo"}}</tool_call>'


def test_lenient_json():
    assert lenient_json('```json\n{"a": [1, 2,],}\n```') == {"a": [1, 2]}
    assert lenient_json('{"a": {"b": None}') == {"a": {"b": None}}
    assert lenient_json("not json") is None


def feed_all(pieces):
    filt = ToolCallFilter()
    out = "".join(filt.feed(p) for p in pieces)
    return out, filt.finish()


def test_filter_passes_plain_text_and_harmless_angle_brackets():
    assert feed_all(["a < b and ", "c > d"]) == ("a < b and c > d", "")


def test_filter_holds_a_call_split_across_pieces():
    out, held = feed_all(["Sure. <to", "ol_ca", 'll>{"name": "f"}</tool_call>'])
    assert out == "Sure. " and held == '<tool_call>{"name": "f"}</tool_call>'


def test_filter_holds_a_fenced_call_and_releases_code_fences():
    out, held = feed_all(["Here:\n``", "`json\n<tool_", 'call>{"name":"f"}</tool_call>\n```'])
    assert out == "Here:\n" and held.startswith("```json\n<tool_call>")
    out, held = feed_all(["```python\n", "print(1)\n```"])
    assert out == "```python\nprint(1)\n" and held == "```"  # a closing fence could open a call: held to the end


def test_filter_releases_a_false_start():
    out, held = feed_all(["x <tool", "box> y"])
    assert out == "x <toolbox> y" and held == ""
