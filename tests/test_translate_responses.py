"""Responses request → chat plan, and answer → Response items (pure)."""

import orjson

from gateway.translate.chat import fold_messages
from gateway.translate.response_events import ResponseRender
from gateway.translate.responses import parse_responses_request


def parse(**body):
    return parse_responses_request({"model": "qwen3-max", **body})


def test_a_string_input_is_one_user_message_and_one_input_item():
    request = parse(input="Hi")
    assert request.chat.messages == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    (item,) = request.items
    assert item["type"] == "message" and item["id"].startswith("msg_")
    assert item["content"] == [{"type": "input_text", "text": "Hi"}]


def test_function_calls_and_outputs_become_one_assistant_turn_and_named_tool_results():
    request = parse(input=[
        {"role": "user", "content": "add"},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call", "call_id": "c1", "name": "add", "arguments": '{"a":1}'},
        {"type": "function_call", "call_id": "c2", "name": "sub", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "0"}]},
    ])
    user, assistant, result = request.chat.messages
    assert [c["function"]["name"] for c in assistant["tool_calls"]] == ["add", "sub"]
    assert result == {"role": "tool", "tool_call_id": "c2", "content": "0", "name": "sub"}
    assert '<tool_response tool_call_id="c2" name="sub">0</tool_response>' in fold_messages(request.chat.messages)


def test_history_instructions_and_continuation_ids():
    request = parse(input=[{"type": "function_call_output", "call_id": "c9", "output": "42"}], instructions="Be brief.")
    history = [{"role": "user", "content": "x"},
               {"role": "assistant", "content": None,
                "tool_calls": [{"id": "c9", "type": "function", "function": {"name": "mul", "arguments": "{}"}}]}]
    chat = request.with_history(history, "chat-1", "resp-1")
    assert chat.messages[0] == {"role": "system", "content": "Be brief."}
    assert chat.messages[-1]["name"] == "mul" and (chat.chat_id, chat.parent_id) == ("chat-1", "resp-1")


def test_tools_formats_and_reasoning_map_onto_the_chat_plan():
    request = parse(input="x", tools=[{"type": "function", "name": "f", "parameters": {"type": "object"}},
                                      {"type": "web_search_preview"}],
                    tool_choice={"type": "function", "name": "f"}, parallel_tool_calls=False,
                    text={"format": {"type": "json_schema", "name": "p", "schema": {"type": "object"}}},
                    reasoning={"effort": "minimal"})
    chat = request.chat
    assert chat.tools.names == {"f"} and chat.tools.choice == "f" and not chat.tools.parallel
    assert chat.json_format.schema == {"type": "object"} and chat.json_format.name == "p"
    assert chat.web_search and chat.thinking is False


def test_a_whole_answer_and_its_stream_build_the_same_output():
    render = ResponseRender(parse(input="x"), "qwen3-max")
    events = render.opening() + render.reasoning("hmm") + render.text("Hel") + render.text("lo")
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    events += render.finish([call], [{"url": "https://a.example", "title": "A"}], {
        "prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
        "completion_tokens_details": {"reasoning_tokens": 2}})
    decoded = [orjson.loads(e.split(b"\ndata: ", 1)[1]) for e in events]
    assert [d["sequence_number"] for d in decoded] == list(range(len(decoded)))
    final = decoded[-1]["response"]
    assert final == render.response and final["status"] == "completed"
    assert [item["type"] for item in final["output"]] == ["reasoning", "message", "function_call"]
    assert final["output"][1]["content"][0]["annotations"][0] == {
        "type": "url_citation", "url": "https://a.example", "title": "A", "start_index": 0, "end_index": 5}
    assert final["output"][2]["call_id"] == "call_1" and final["output"][2]["arguments"] == '{"a": 1}'
    assert final["usage"]["output_tokens_details"] == {"reasoning_tokens": 2}
    done = [d["item"] for d in decoded if d["type"] == "response.output_item.done"]
    assert done == final["output"]


def test_errors_about_chat_messages_name_the_input_item():
    from gateway.errors import InvalidRequest
    from gateway.translate.responses import input_error

    items = [{"type": "function_call"}, {"type": "function_call"}, {"type": "reasoning"},
             {"type": "function_call_output"}, {"type": "message"}]
    error = input_error(InvalidRequest("'messages[3].content[0]' is bad.", param="messages[3].content[0]"), items, 1)
    assert error.param == "input[4].content[0]" and error.message == "'input[4].content[0]' is bad."
    history = InvalidRequest("old", param="messages[0]")
    assert input_error(history, items, 1) is history  # not this request's input: left as it is
