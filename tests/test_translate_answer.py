"""translate/answer.py: which answer text reaches the client, when, and what comes back as
tool calls or a correction. Pure calls: pieces in, pieces and a Shaped result out."""

import orjson

from gateway.translate.answer import ClientAnswerShaper
from gateway.translate.structured import parse_response_format
from gateway.translate.tools import REQUIRED_REMINDER, parse_tool_plan

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


def tools(choice="auto", parallel=True, *functions):
    return parse_tool_plan({"tools": list(functions or (WEATHER, TIME)), "tool_choice": choice,
                            "parallel_tool_calls": parallel})


def json_schema(schema):
    return parse_response_format({"response_format": {"type": "json_schema",
                                                      "json_schema": {"name": "answer", "schema": schema}}})


def call(name, **arguments):
    return "<tool_call>" + orjson.dumps({"name": name, "arguments": arguments}).decode() + "</tool_call>"


def run(shaper, *texts):
    """Feed content pieces; return what went out on the way, and the finish."""
    sent = [shaper.feed(("content", text)) for text in texts]
    return "".join(piece[1] for piece in sent if piece is not None), shaper.finish()


def test_a_plain_answer_passes_straight_through_and_finishes_with_stop():
    shaper = ClientAnswerShaper(None, None)
    assert not shaper.holds_content
    assert shaper.feed(("content", "Hel")) == ("content", "Hel")
    assert shaper.feed(("reasoning_content", "hmm")) == ("reasoning_content", "hmm")
    done = shaper.finish()
    assert (done.content, done.tool_calls, done.correction, done.finish_reason) == ("", [], None, "stop")


def test_tool_choice_none_is_a_plain_answer():
    sent, done = run(ClientAnswerShaper(tools("none"), None), "I would ", call("get_weather", city="Paris"))
    assert sent == "I would " + call("get_weather", city="Paris")
    assert done.tool_calls == [] and done.finish_reason == "stop"


def test_text_before_a_tool_call_streams_and_the_call_is_held_back_and_parsed():
    shaper = ClientAnswerShaper(tools(), None)
    sent, done = run(shaper, "Let me check. ", "<tool_", "call>", '{"name": "get_weather", ',
                     '"arguments": {"city": "Paris"}}</tool_call>')
    assert sent == "Let me check. "
    assert done.finish_reason == "tool_calls" and done.correction is None
    [only] = done.tool_calls
    assert only["type"] == "function" and only["id"].startswith("call_")
    assert only["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}


def test_a_held_angle_bracket_that_opens_no_call_is_released():
    sent, done = run(ClientAnswerShaper(tools(), None), "1 <", " 2 and done")
    assert sent + done.content == "1 < 2 and done"
    assert done.tool_calls == [] and done.finish_reason == "stop"


def test_calls_to_unknown_functions_stay_text():
    sent, done = run(ClientAnswerShaper(tools(), None), call("launch_rocket"))
    assert sent + done.content == call("launch_rocket")
    assert done.tool_calls == []


def test_without_parallel_calls_only_the_first_call_is_kept():
    _, done = run(ClientAnswerShaper(tools("auto", False), None), call("get_weather", city="Oslo") + call("get_time"))
    assert [c["function"]["name"] for c in done.tool_calls] == ["get_weather"]
    _, both = run(ClientAnswerShaper(tools("auto", True), None), call("get_weather", city="Oslo") + call("get_time"))
    assert [c["function"]["name"] for c in both.tool_calls] == ["get_weather", "get_time"]


def test_a_required_call_that_never_came_asks_the_model_again():
    sent, done = run(ClientAnswerShaper(tools("required"), None), "It is sunny.")
    assert sent + done.content == "It is sunny."
    assert done.tool_calls == [] and done.correction == REQUIRED_REMINDER
    _, auto = run(ClientAnswerShaper(tools("auto"), None), "It is sunny.")
    assert auto.correction is None


def test_a_json_answer_is_held_whole_then_given_compact():
    shaper = ClientAnswerShaper(None, parse_response_format({"response_format": {"type": "json_object"}}))
    assert shaper.holds_content
    sent, done = run(shaper, "Here: ```json\n{\"a\": ", "1, \"b\": [true]}\n```")
    assert sent == ""
    assert done.content == '{"a":1,"b":[true]}' and done.correction is None and done.finish_reason == "stop"


def test_an_answer_without_json_gets_a_correction_naming_the_problem():
    _, done = run(ClientAnswerShaper(None, parse_response_format({"response_format": {"type": "json_object"}})),
                  "Sorry, no.")
    assert done.content == "Sorry, no."
    assert done.correction is not None and "no JSON object" in done.correction


def test_json_that_breaks_the_schema_gets_a_correction_naming_where():
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
    _, good = run(ClientAnswerShaper(None, json_schema(schema)), '{"age": 41}')
    assert good.content == '{"age":41}' and good.correction is None
    _, bad = run(ClientAnswerShaper(None, json_schema(schema)), '{"age": "old"}')
    assert bad.correction is not None and "age" in bad.correction


def test_with_tools_and_a_json_format_a_call_wins_else_the_json_is_checked():
    fmt = parse_response_format({"response_format": {"type": "json_object"}})
    sent, called = run(ClientAnswerShaper(tools(), fmt), call("get_time"))
    assert sent == "" and [c["function"]["name"] for c in called.tool_calls] == ["get_time"]
    _, answered = run(ClientAnswerShaper(tools(), fmt), '{"time": "noon"}')
    assert answered.tool_calls == [] and answered.content == '{"time":"noon"}' and answered.correction is None
