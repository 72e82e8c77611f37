"""§6/§10 codes of Sep 2026 and must-think models (§9), through the openai client."""

import openai
import pytest

from gateway.config import ConversationSettings

from .harness import TOKENS, default_settings, live_stack

ALPHA, BRAVO = TOKENS
HELLO = [{"role": "user", "content": "Hello"}]
QUICK = ConversationSettings(busy_delay=(0.01, 0.02))


def client_for(stack):
    return openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)


def served_by(stack):
    return [r["token"] for r in stack.upstream_requests("/api/v2/chat/completions")]


def ask(stack, stream, messages=HELLO, model="qwen3-max", **extra):
    client = client_for(stack)
    if not stream:
        message = client.chat.completions.create(model=model, messages=messages,
                                                 extra_body=extra or None).choices[0].message
        return message.content, (message.model_extra or {}).get("reasoning_content") or ""
    content, reasoning = [], []
    for chunk in client.chat.completions.create(model=model, messages=messages, stream=True,
                                                extra_body=extra or None):
        for choice in chunk.choices:
            content.append(choice.delta.content or "")
            reasoning.append((choice.delta.model_extra or {}).get("reasoning_content") or "")
    return "".join(content), "".join(reasoning)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("form", ["PARENT_NOT_FOUND", "is_not_exist"])
def test_an_unknown_parent_folds_into_a_new_chat_once(stack, stream, form):
    stack.sim_options(parent_error=form)
    first = client_for(stack).chat.completions.create(model="qwen3-max", messages=HELLO)
    follow = [*HELLO, {"role": "assistant", "content": "You said: Hello"},
              {"role": "user", "content": "Tell me more"}]
    answer, _ = ask(stack, stream, follow, chat_id=first.model_extra["chat_id"], parent_id="gone-42")
    assert answer == "You said: user: Hello\n\nassistant: You said: Hello\n\nuser: Tell me more"  # folded
    bodies = [r["body"] for r in stack.upstream_requests("/api/v2/chat/completions")]
    assert [b["parent_id"] for b in bodies[1:]] == ["gone-42", None]
    assert bodies[2]["chat_id"] != bodies[1]["chat_id"]


@pytest.mark.parametrize("stream", [False, True])
def test_chat_in_progress_waits_and_retries_on_the_same_account(stream):
    with live_stack(default_settings(conversation=QUICK)) as stack:
        stack.fault(ALPHA, {"kind": "chat_in_progress"}, {"kind": "chat_in_progress"})
        assert ask(stack, stream)[0] == "You said: Hello"
        assert served_by(stack) == [ALPHA, ALPHA, ALPHA]
        assert stack.accounts()["acct-alpha"]["state"] == "healthy"


def test_chat_in_progress_three_times_is_a_502_without_penalty():
    with live_stack(default_settings(conversation=QUICK)) as stack:
        stack.fault(ALPHA, *[{"kind": "chat_in_progress"}] * 3)
        with pytest.raises(openai.InternalServerError) as caught:
            ask(stack, False)
        assert caught.value.status_code == 502 and "in progress" in caught.value.message
        assert served_by(stack) == [ALPHA] * 3
        assert stack.accounts()["acct-alpha"]["state"] == "healthy"


def test_too_many_messages_is_a_contract_error_without_penalty(stack):
    stack.fault(ALPHA, {"kind": "bad_request", "details": "Invalid input too many messages"})
    with pytest.raises(openai.InternalServerError) as caught:
        ask(stack, False)
    assert caught.value.status_code == 502 and "protocol may have changed" in caught.value.message
    assert served_by(stack) == [ALPHA]
    assert stack.accounts()["acct-alpha"]["state"] == "healthy"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("asked", [{}, {"enable_thinking": False}, {"reasoning_effort": "none"}])
def test_a_must_think_model_thinks_whatever_the_client_asked(stack, stream, asked):
    question = [{"role": "user", "content": "What is 17 * 19?"}]
    content, reasoning = ask(stack, stream, question, model="qwen3.8-max", **asked)
    assert content == "17 * 19 = 323."
    assert reasoning.startswith("Reading the question")
    [request] = stack.upstream_requests("/api/v2/chat/completions")
    assert request["body"]["messages"][0]["feature_config"]["thinking_enabled"] is True


def test_a_model_that_may_skip_thinking_still_gets_thinking_off_by_default(stack):
    content, reasoning = ask(stack, False, [{"role": "user", "content": "What is 17 * 19?"}])
    assert (content, reasoning) == ("17 * 19 = 323.", "")
