import pytest

from gateway.config import ConversationSettings
from gateway.conversations import ConversationMap, normalised
from gateway.store import MemoryStore
from gateway.store.write_behind import WriteBehind

CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1,"b":[2]}'}}


def test_a_message_is_the_same_however_a_client_reserialises_it():
    ours = {"role": "assistant", "content": None, "tool_calls": [CALL]}
    langchain = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"b": [2], "a": 1}'}}]}
    assert normalised(ours) == normalised(langchain)
    assert normalised({"role": "user", "content": [{"type": "text", "text": "hi"}]}) == normalised(
        {"role": "user", "content": "hi"})
    assert normalised({"role": "user", "content": "hi"}) != normalised({"role": "user", "content": "hello"})


async def test_find_what_was_remembered_for_the_same_owner_model_and_instructions_only():
    conversations = ConversationMap(MemoryStore(), ConversationSettings())
    asked = [{"role": "user", "content": "Hello"}]
    answer = {"role": "assistant", "content": "Hi", "tool_calls": []}
    await conversations.remember("owner", "m", "", asked, answer, account_id="a", chat_id="c", parent_id="p")
    follow = [*asked, {"role": "assistant", "content": "Hi"}, {"role": "user", "content": "Next"}]
    link = await conversations.find("owner", "m", "", follow)
    assert link is not None and (link.account_id, link.chat_id, link.parent_id, link.consumed) == ("a", "c", "p", 2)
    assert await conversations.find("other", "m", "", follow) is None
    assert await conversations.find("owner", "m2", "", follow) is None
    assert await conversations.find("owner", "m", "<tools>", follow) is None
    edited = [*asked, {"role": "assistant", "content": "Hey"}, {"role": "user", "content": "Next"}]
    assert await conversations.find("owner", "m", "", edited) is None
    await conversations.forget(link)
    assert await conversations.find("owner", "m", "", follow) is None
    off = ConversationMap(MemoryStore(), ConversationSettings(chain=False))
    await off.remember("owner", "m", "", asked, answer, account_id="a", chat_id="c", parent_id="p")
    assert await off.find("owner", "m", "", follow) is None


async def test_links_expire_and_a_memory_store_is_swept(monkeypatch):
    import gateway.conversations as module

    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    monkeypatch.setattr(module, "SWEEP_EVERY", 3)
    writes = WriteBehind(store)
    conversations = ConversationMap(store, ConversationSettings(chain_ttl=60), writes)
    answer = {"role": "assistant", "content": "Hi", "tool_calls": []}
    for i in range(2):
        await conversations.remember("o", "m", "", [{"role": "user", "content": f"q{i}"}], answer,
                                     account_id="a", chat_id="c", parent_id="p")
    await writes.flush()
    now[0] += 61
    await conversations.remember("o", "m", "", [{"role": "user", "content": "q2"}], answer,
                                 account_id="a", chat_id="c", parent_id="p")
    await writes.flush()
    assert len(store._spaces[module.NAMESPACE]) == 1  # the two expired links went with the sweep
