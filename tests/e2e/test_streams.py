"""Streams as chat.qwen.ai sends them since Aug 2026 (§4), through the openai client."""

import openai
import pytest

from .harness import TOKENS

ALPHA, BRAVO = TOKENS
HELLO = [{"role": "user", "content": "Hello"}]


def client_for(stack):
    return openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)


def served_by(stack):
    return [r["token"] for r in stack.upstream_requests("/api/v2/chat/completions")]


def ask(stack, stream, messages=HELLO, **extra):
    """(content, reasoning, finish_reason, the whole answer's extra fields) stream or not."""
    client = client_for(stack)
    if not stream:
        answer = client.chat.completions.create(model="qwen3-max", messages=messages, extra_body=extra or None)
        message = answer.choices[0].message
        return (message.content, getattr(message, "reasoning_content", None) or "",
                answer.choices[0].finish_reason, answer.model_extra)
    content, reasoning, finish, fields = [], [], None, {}
    for chunk in client.chat.completions.create(model="qwen3-max", messages=messages, stream=True,
                                                extra_body=extra or None):
        fields.update({k: v for k, v in (chunk.model_extra or {}).items() if v})
        for choice in chunk.choices:
            content.append(choice.delta.content or "")
            reasoning.append((choice.delta.model_extra or {}).get("reasoning_content") or "")
            finish = choice.finish_reason or finish
    return "".join(content), "".join(reasoning), finish, fields


@pytest.mark.parametrize("stream", [False, True])
def test_only_the_main_answer_of_a_two_answer_stream_reaches_the_client(stack, stream):
    stack.fault(ALPHA, {"kind": "dual_answer"})
    content, _, finish, fields = ask(stack, stream)
    assert (content, finish) == ("You said: Hello", "stop")
    assert served_by(stack) == [ALPHA]
    # the main answer's response_id is the next parent: the chat continues with its context
    follow = [*HELLO, {"role": "assistant", "content": content}, {"role": "user", "content": "What did I say before?"}]
    again, _, _, _ = ask(stack, stream, follow, chat_id=fields["chat_id"], parent_id=fields["parent_id"])
    assert again == "Earlier you said: Hello"


@pytest.mark.parametrize("stream", [False, True])
def test_a_clean_end_of_stream_after_answer_text_is_a_normal_end(stack, stream):
    stack.fault(ALPHA, {"kind": "truncate", "after": 1})
    content, _, finish, _ = ask(stack, stream)
    assert (content, finish) == ("You said", "stop")
    assert served_by(stack) == [ALPHA]
    assert stack.accounts()["acct-alpha"]["state"] == "healthy"


@pytest.mark.parametrize("stream", [False, True])
def test_an_empty_stream_is_retried_on_another_account(stack, stream):
    stack.fault(ALPHA, {"kind": "empty_stream"})
    assert ask(stack, stream)[0] == "You said: Hello"
    assert served_by(stack) == [ALPHA, BRAVO]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("upstream", "openai_reason"), [
    ("length", "length"), ("max_tokens", "length"), ("content_filter", "content_filter"), ("end_turn", "stop"),
])
def test_the_upstream_finish_reason_becomes_openais(stack, stream, upstream, openai_reason):
    stack.fault(ALPHA, {"kind": "finish_reason", "reason": upstream})
    content, _, finish, _ = ask(stack, stream)
    assert (content, finish) == ("You said: Hello", openai_reason)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("framing", ["none", "crlf"])
def test_frames_without_blank_lines_or_with_crlf_parse(stack, stream, framing):
    stack.sim_options(framing=framing)
    question = [{"role": "user", "content": "What is 17 * 19?"}]
    content, reasoning, finish, _ = ask(stack, stream, question, enable_thinking=True)
    assert (content, finish) == ("17 * 19 = 323.", "stop")
    assert reasoning.startswith("Reading the question")


@pytest.mark.parametrize("stream", [False, True])
def test_unknown_phases_are_ignored(stack, stream):
    stack.fault(ALPHA, {"kind": "unknown_phase"})
    content, reasoning, finish, _ = ask(stack, stream)
    assert (content, reasoning, finish) == ("You said: Hello", "", "stop")


def test_a_status_error_delta_before_output_fails_over(stack):
    stack.fault(ALPHA, {"kind": "status_error", "after": 0})
    assert ask(stack, True)[0] == "You said: Hello"
    assert served_by(stack) == [ALPHA, BRAVO]


def test_a_status_error_delta_after_output_is_an_in_stream_error(stack):
    stack.fault(ALPHA, {"kind": "status_error", "after": 1})
    with pytest.raises(openai.APIError) as caught:
        ask(stack, True)
    assert "Internal error" in caught.value.message
    assert served_by(stack) == [ALPHA]
