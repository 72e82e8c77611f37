"""Automatic conversation chaining (§6): only new turns go upstream once a conversation is known."""

import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from gateway.config import ConversationSettings

from .harness import default_settings, live_stack

TURNS = 50


def completions(stack):
    return [r["body"] for r in stack.upstream_requests("/api/v2/chat/completions")]


def prompt_of(body):
    return body["messages"][0]["content"]


@pytest.mark.parametrize("streaming", [False, True])
def test_a_50_turn_chatopenai_conversation_sends_only_new_turns_from_the_second_on(stack, streaming):
    llm = ChatOpenAI(model="qwen3-max", base_url=stack.base_url, api_key="unused", max_retries=0, streaming=streaming)
    history = [SystemMessage("Be brief.")]
    for turn in range(1, TURNS + 1):
        history.append(HumanMessage(f"Note number {turn}"))
        reply = llm.invoke(history)
        history.append(AIMessage(reply.content))
    bodies = completions(stack)
    assert len(bodies) == TURNS
    assert len(stack.upstream_requests("/api/v2/chats/new")) == 1
    assert prompt_of(bodies[0]) == "system: Be brief.\n\nuser: Note number 1"
    for turn, body in enumerate(bodies[1:], start=2):
        assert prompt_of(body) == f"Note number {turn}"  # the new turn only
        assert body["chat_id"] == bodies[0]["chat_id"] and body["parent_id"]
    history.append(HumanMessage("What did I say before?"))
    recalled = llm.invoke(history).content  # the upstream chat holds every earlier turn
    assert recalled.startswith("Earlier you said: system: Be brief.") and f"Note number {TURNS}" in recalled


def client_for(stack, key="unused"):
    return openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)


def two_turns(stack, second_messages=None, key2="unused", model2="qwen3-max", **second):
    client = client_for(stack)
    first = [{"role": "user", "content": "Hello"}]
    answer = client.chat.completions.create(model="qwen3-max", messages=first).choices[0].message.content
    messages = second_messages or [*first, {"role": "assistant", "content": answer},
                                   {"role": "user", "content": "And then?"}]
    client_for(stack, key2).chat.completions.create(model=model2, messages=messages, **second)
    return completions(stack)


def test_a_continued_conversation_reuses_the_chat(stack):
    first, second = two_turns(stack)
    assert second["chat_id"] == first["chat_id"] and prompt_of(second) == "And then?"


def test_an_edited_history_folds(stack):
    edited = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Something else"},
              {"role": "user", "content": "And then?"}]
    first, second = two_turns(stack, edited)
    assert second["chat_id"] != first["chat_id"] and second["parent_id"] is None
    assert prompt_of(second).startswith("user: Hello\n\nassistant: Something else")


def test_other_tools_fold(stack):
    tool = {"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}}
    first, second = two_turns(stack, tools=[tool])
    assert second["chat_id"] != first["chat_id"]


def test_a_chat_the_upstream_lost_folds_and_is_forgotten(stack):
    client = client_for(stack)
    first = [{"role": "user", "content": "Hello"}]
    answer = client.chat.completions.create(model="qwen3-max", messages=first).choices[0].message.content
    stack.sim.post("/__sim/reset").raise_for_status()  # the upstream forgets every chat
    messages = [*first, {"role": "assistant", "content": answer}, {"role": "user", "content": "And then?"}]
    assert client.chat.completions.create(model="qwen3-max", messages=messages).choices[0].message.content \
        == "You said: user: Hello\n\nassistant: You said: Hello\n\nuser: And then?"


def test_chaining_is_per_api_key():
    with live_stack(default_settings(api_keys=("sk-one", "sk-two"))) as stack:
        client = client_for(stack, "sk-one")
        first = [{"role": "user", "content": "Hello"}]
        answer = client.chat.completions.create(model="qwen3-max", messages=first).choices[0].message.content
        messages = [*first, {"role": "assistant", "content": answer}, {"role": "user", "content": "And then?"}]
        client_for(stack, "sk-two").chat.completions.create(model="qwen3-max", messages=messages)
        one, two = completions(stack)
        assert two["chat_id"] != one["chat_id"]


def test_chaining_off_folds_every_turn():
    with live_stack(default_settings(conversation=ConversationSettings(chain=False))) as stack:
        first, second = two_turns(stack)
        assert second["chat_id"] != first["chat_id"] and prompt_of(second).startswith("user: Hello")


def test_a_chained_conversation_whose_account_fails_folds_on_another(stack):
    client = client_for(stack)
    first = [{"role": "user", "content": "Hello"}]
    answer = client.chat.completions.create(model="qwen3-max", messages=first).choices[0].message.content
    owner = stack.upstream_requests("/api/v2/chat/completions")[0]["token"]
    stack.fault(owner, {"kind": "http_5xx"})
    messages = [*first, {"role": "assistant", "content": answer}, {"role": "user", "content": "And then?"}]
    assert client.chat.completions.create(model="qwen3-max", messages=messages).choices[0].message.content \
        == "You said: user: Hello\n\nassistant: You said: Hello\n\nuser: And then?"
    tokens = [r["token"] for r in stack.upstream_requests("/api/v2/chat/completions")]
    assert tokens[1] == owner and tokens[2] != owner
