import pytest

from gateway.errors import InvalidRequest
from gateway.qwen.events import Delta, ResponseCreated
from gateway.translate.chat import completion_payload, fold_messages, parse_chat_request
from gateway.translate.completion import AnswerTranslator


def request(**fields):
    body = {"model": "qwen3-max", "messages": [{"role": "user", "content": "Hi"}]}
    body.update(fields)
    return body


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([], None),
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        (request(model=""), "model"),
        (request(messages=[]), "messages"),
        (request(messages="hi"), "messages"),
        (request(messages=[{"role": "robot", "content": "x"}]), "messages[0].role"),
        (request(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
        (request(messages=[{"role": "user"}]), "messages[0].content"),
        (request(messages=[{"role": "user", "content": [{"type": "audio"}]}]), "messages[0].content[0]"),
        (request(stream="yes"), "stream"),
        (request(n=2), "n"),
        (request(reasoning_effort="huge"), "reasoning_effort"),
    ],
)
def test_bad_requests_name_the_param(body, param):
    with pytest.raises(InvalidRequest) as caught:
        parse_chat_request(body)
    assert caught.value.param == param
    assert caught.value.status == 400


def test_thinking_switches():
    assert parse_chat_request(request()).thinking is None
    assert parse_chat_request(request(reasoning_effort="high")).thinking is True
    assert parse_chat_request(request(reasoning_effort="none")).thinking is False
    assert parse_chat_request(request(enable_thinking=True)).thinking is True


def test_usage_only_when_streaming_and_asked():
    assert parse_chat_request(request(stream=True, stream_options={"include_usage": True})).include_usage
    assert not parse_chat_request(request(stream=False, stream_options={"include_usage": True})).include_usage
    assert not parse_chat_request(request(stream=True)).include_usage


def test_unused_openai_fields_are_accepted():
    chat = parse_chat_request(request(temperature=0.2, seed=1, max_tokens=5, max_completion_tokens=5,
                                      metadata={"a": "b"}, user="u", store=False, logit_bias={}))
    assert chat.model == "qwen3-max"


def test_a_lone_user_message_is_sent_as_is_and_history_is_folded():
    assert fold_messages([{"role": "user", "content": "Hello"}]) == "Hello"
    folded = fold_messages([
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "My name is Ada."}]},
        {"role": "assistant", "content": "Hi Ada."},
        {"role": "user", "content": "What is my name?"},
    ])
    assert folded == "system: Be brief.\n\nuser: My name is Ada.\n\nassistant: Hi Ada.\n\nuser: What is my name?"


def test_payload_matches_the_protocol_reference():
    payload = completion_payload(chat_id="c1", model="qwen3-max", content="Hello", thinking=True)
    assert payload["chat_id"] == payload["chatId"] == "c1"
    assert payload["stream"] is True and payload["incremental_output"] is True
    (message,) = payload["messages"]
    assert message["role"] == "user" and message["content"] == "Hello"
    assert message["chat_type"] == message["sub_chat_type"] == message["extra"]["meta"]["subChatType"] == "t2t"
    features = message["feature_config"]
    assert features["output_schema"] == "phase"
    assert features["thinking_enabled"] is True and features["thinking_mode"] == "Thinking"
    assert payload["parent_id"] is None and payload["parentId"] == ""


def test_translator_handles_both_thinking_eras_and_usage():
    t = AnswerTranslator("qwen3-max", "question")
    assert t.feed(ResponseCreated("c", "p", "r1")) == []
    summary = {"summary_title": {"content": ["Title"]}, "summary_thought": {"content": ["Thought"]}}
    assert t.feed(Delta("thinking_summary", "", "typing", summary, None)) == [("reasoning_content", "Title\nThought\n")]
    again = {"summary_title": {"content": ["Title"]}, "summary_thought": {"content": ["Thought", "More"]}}
    assert t.feed(Delta("thinking_summary", "", "typing", again, None)) == [("reasoning_content", "More\n")]
    assert t.feed(Delta("thinking_summary", "", "finished", None, None)) == []
    assert t.feed(Delta("think", "hmm", "typing", None, None)) == [("reasoning_content", "hmm")]
    usage = {"input_tokens": 7, "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 4}}
    assert t.feed(Delta("answer", "42", "typing", None, usage)) == [("content", "42")]
    assert t.feed(Delta("web_search", "", "typing", None, None)) == []
    completion = t.completion("42", "r")
    assert completion["id"] == "chatcmpl-r1"
    assert completion["choices"][0]["message"] == {"role": "assistant", "content": "42", "refusal": None,
                                                   "reasoning_content": "r"}
    assert completion["usage"] == {"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16,
                                   "completion_tokens_details": {"reasoning_tokens": 4}}
    assert completion["chat_id"] == "c" and completion["parent_id"] == "r1"


def test_usage_is_estimated_when_the_upstream_sends_none():
    t = AnswerTranslator("m", "x" * 40)
    t.feed(Delta("answer", "y" * 20, "typing", None, None))
    assert t.usage() == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
