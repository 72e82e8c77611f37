"""Big prompts as context files (§7a), through the openai and LangChain clients.

The simulator answers a prompt over 118,000 characters with its anti-bot stub, and
"How many characters did you see?" with what reached its model: the chat's earlier
messages, the prompt and the attached text files.
"""

import re

import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from gateway.config import ConversationSettings
from gateway.simulator import SimOptions

from .harness import TOKENS, default_settings, live_stack

ALPHA, BRAVO = TOKENS
QUESTION = "How many characters did you see?"


def client_for(stack):
    return openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)


def long_conversation(turns, chars):
    messages = []
    for i in range(turns):
        messages += [{"role": "user", "content": f"Turn {i}: " + "lorem ipsum " * (chars // 12)},
                     {"role": "assistant", "content": f"Noted turn {i}."}]
    return messages + [{"role": "user", "content": QUESTION}]


def ask(stack, messages, stream):
    client = client_for(stack)
    if stream:
        chunks = client.chat.completions.create(model="qwen3-max", messages=messages, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return client.chat.completions.create(model="qwen3-max", messages=messages).choices[0].message.content


def seen(answer):
    match = re.fullmatch(r"I saw (\d+) characters\.", answer)
    assert match, answer
    return int(match.group(1))


def completions(stack):
    return [r for r in stack.upstream_requests("/api/v2/chat/completions")]


def context_files(request):
    return [f for f in request["body"]["messages"][0]["files"] if f.get("context") == "full"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_conversation_over_the_threshold_goes_as_context_files_and_is_seen_whole(stack, stream):
    messages = long_conversation(14, 10_000)  # ~140k characters
    total = sum(len(m["content"]) for m in messages)
    assert seen(ask(stack, messages, stream)) >= total
    [request] = completions(stack)
    assert len(request["body"]["messages"][0]["content"]) < 60_000
    [entry] = context_files(request)
    assert re.fullmatch(r"Pasted_Text_\d+\.txt", entry["name"]) and entry["file_class"] == "default"
    assert entry["file_type"] == "text/plain" and entry["status"] == "uploaded"
    [sts] = stack.upstream_requests("/api/v2/files/getstsToken")
    assert sts["body"]["filetype"] == "file" and sts["token"] == request["token"]
    assert stack.upstream_requests("/api/v2/files/parse")[0]["body"] == {"file_id": entry["id"]}
    assert len(stack.upstream_requests("/api/v2/files/parse/status")) == 2  # running, then success
    assert all(a["state"] == "healthy" for a in stack.accounts().values())


def test_history_past_a_file_size_goes_as_numbered_files_in_order():
    settings = default_settings(conversation=ConversationSettings(context_part_chars=50_000))
    with live_stack(settings) as stack:
        messages = long_conversation(14, 10_000)
        assert seen(ask(stack, messages, False)) >= sum(len(m["content"]) for m in messages)
        names = [f["name"] for f in context_files(completions(stack)[0])]
        assert len(names) >= 2
        assert names[1:] == [names[0].replace(".txt", f"_{i}.txt") for i in range(2, len(names) + 1)]


def test_with_the_threshold_set_too_high_the_anti_bot_answer_leads_to_the_file_not_a_block():
    settings = default_settings(conversation=ConversationSettings(context_file_chars=10**9))
    with live_stack(settings) as stack:
        messages = long_conversation(14, 10_000)
        assert seen(ask(stack, messages, False)) >= sum(len(m["content"]) for m in messages)
        first, second = completions(stack)
        assert first["token"] == second["token"] and context_files(second)
        assert all(a["state"] == "healthy" for a in stack.accounts().values())


def test_an_anti_bot_answer_to_an_oversized_prompt_rests_no_account_and_is_not_retried(stack):
    stack.fault(ALPHA, {"kind": "rgv587"})
    with pytest.raises(openai.InternalServerError) as caught:
        ask(stack, long_conversation(14, 10_000), False)
    assert caught.value.status_code == 503 and caught.value.code == "upstream_blocked"
    assert [r["token"] for r in completions(stack)] == [ALPHA]
    assert all(a["state"] == "healthy" for a in stack.accounts().values())


@pytest.mark.parametrize("stream", [False, True])
def test_an_empty_stream_on_a_long_prompt_is_retried_once_with_the_context_file_forced(stack, stream):
    stack.fault(ALPHA, {"kind": "empty_stream"})
    messages = long_conversation(4, 10_000)  # ~40k characters: inline at first
    assert seen(ask(stack, messages, stream)) >= sum(len(m["content"]) for m in messages)
    first, second = completions(stack)
    assert first["token"] == second["token"] == ALPHA
    assert not context_files(first) and len(context_files(second)) == 1


@tool
def read_chapter(number: int) -> str:
    """Read one chapter of the book."""
    return f"Chapter {number}: " + "The sea was calm that day. " * 400


@pytest.mark.parametrize("chain", [True, False])
def test_a_langchain_agent_conversation_past_the_threshold_keeps_its_whole_history(chain):
    settings = default_settings(conversation=ConversationSettings(chain=chain))
    with live_stack(settings) as stack:
        llm = ChatOpenAI(model="qwen3-max", base_url=stack.base_url, api_key="unused", max_retries=0)
        agent = llm.bind_tools([read_chapter])
        history = []
        for number in range(1, 13):  # 12 chapters of ~11k characters
            history.append(HumanMessage(f"Please call read_chapter for chapter {number}"))
            call = agent.invoke(history)
            assert call.tool_calls and call.tool_calls[0]["name"] == "read_chapter"
            history += [call, ToolMessage(read_chapter.invoke(call.tool_calls[0]["args"]),
                                          tool_call_id=call.tool_calls[0]["id"])]
            history.append(agent.invoke(history))
            assert history[-1].content.startswith("Tool results: Chapter")
        total = sum(len(str(m.content)) for m in history)
        assert total > 130_000
        history.append(HumanMessage(QUESTION))
        assert seen(agent.invoke(history).content) >= total
        assert all(a["state"] == "healthy" for a in stack.accounts().values())
        if not chain:
            assert context_files(completions(stack)[-1])


@pytest.mark.parametrize("stream", [False, True])
def test_an_anti_bot_answer_to_a_long_inline_prompt_retries_with_the_file_on_the_same_account(stream):
    """Qwen's limit floats (R saw the stub at 92,160 bytes): here it sits at 50,000 characters."""
    with live_stack(sim=SimOptions(speed=0, prompt_limit=50_000)) as stack:
        messages = long_conversation(6, 10_000)  # ~60k characters: under the gateway's threshold
        assert seen(ask(stack, messages, stream)) >= sum(len(m["content"]) for m in messages)
        first, second = completions(stack)
        assert first["token"] == second["token"] and not context_files(first) and context_files(second)
        assert all(a["state"] == "healthy" for a in stack.accounts().values())


def test_a_short_prompt_anti_bot_answer_is_still_a_block(stack):
    stack.fault(ALPHA, {"kind": "rgv587"})
    assert ask(stack, [{"role": "user", "content": "Hello"}], False) == "You said: Hello"
    assert [r["token"] for r in completions(stack)] == [ALPHA, BRAVO]
    assert stack.accounts()["acct-alpha"]["reason"] == "blocked"
