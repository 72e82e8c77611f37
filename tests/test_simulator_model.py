"""The simulator's instruction-following "model" (gateway/simulator/model.py)."""

import orjson

from gateway.simulator.model import follow_instructions, last_user_turn

TOOLS = "\n".join([
    "<instructions>", "# Tools", "<tools>",
    orjson.dumps({"name": "add", "parameters": {"type": "object", "properties": {"a": {"type": "integer"},
                                                                                  "b": {"type": "integer"}}}}).decode(),
    orjson.dumps({"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}).decode(),
    "</tools>", "{rule}", "</instructions>", "", "{conversation}",
])


def prompt(conversation, rule="Call a function only when it helps; otherwise answer directly."):
    return TOOLS.replace("{rule}", rule).replace("{conversation}", conversation)


def test_no_instructions_means_no_opinion():
    assert follow_instructions("plain text") is None


def test_calls_the_tools_named_in_the_last_user_turn_with_values_from_it():
    reply = follow_instructions(prompt("please add 2 and 40"))
    assert reply == '<tool_call>{"name":"add","arguments":{"a":2,"b":40}}</tool_call>'


def test_auto_without_a_named_tool_answers_normally():
    assert follow_instructions(prompt("hello")) is None


def test_required_and_named_choices():
    assert '"name":"add"' in follow_instructions(prompt("hello", "You must call at least one function now."))
    named = follow_instructions(prompt("add 1 and 2", 'You must call the function "lookup" now.'))
    assert named == '<tool_call>{"name":"lookup","arguments":{"q":"example"}}</tool_call>'


def test_tool_results_after_the_last_user_turn_are_reported():
    conversation = "user: add 1 and 2\n\nassistant: <tool_call>...</tool_call>\n\ntool: <tool_response tool_call_id=\"c\" name=\"add\">3</tool_response>"
    assert follow_instructions(prompt(conversation)) == "Tool results: 3"
    assert last_user_turn(conversation).startswith("add 1 and 2")


def test_schema_instances_and_lazy_first_answers():
    schema = {"type": "object", "properties": {"who": {"$ref": "#/$defs/Name"}, "tags": {"type": "array", "items": {"type": "string"}},
                                               "ok": {"type": "boolean"}, "kind": {"enum": ["x", "y"]}},
              "$defs": {"Name": {"type": "string"}}}
    text = ("<instructions>\nReply with one JSON object only: no prose, no code fences.\n<schema>\n"
            + orjson.dumps(schema).decode() + "\n</schema>\n</instructions>\n\nMeet \"Bo\" and Cy")
    assert orjson.loads(follow_instructions(text)) == {"who": "Bo", "tags": ["Cy"], "ok": True, "kind": "x"}
    lazy = text.replace("Meet", "[[sim:lazy]] Meet")
    assert follow_instructions(lazy).startswith("I would rather chat")
    corrected = lazy.replace("</instructions>", "Your previous reply was not valid: x.\n</instructions>")
    assert orjson.loads(follow_instructions(corrected))["who"] == "Bo"
