"""Upstream chats made ahead of use (gateway/fresh_chats.py), seen through the openai client
and the simulator's request log: the chat a new conversation needs is already there."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import openai

from gateway.config import AccountSettings, Cooldowns, UpstreamSettings

from .harness import TOKENS, Stack, default_settings, live_stack
from .processes import wait_until

ALPHA, BRAVO = TOKENS
NEW, SEND = "/api/v2/chats/new", "/api/v2/chat/completions"
ONE_ACCOUNT = (AccountSettings(id="acct-alpha", token=ALPHA),)


def settings(fresh: int = 2, ttl: float = 600.0, **overrides: Any) -> Any:
    return default_settings(fresh_chats=fresh, upstream=UpstreamSettings(fresh_chat_ttl=ttl), **overrides)


def client_for(stack: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)


def ask(stack: Stack, text: str, stream: bool = False) -> str:
    """One new conversation; the upstream chat id it ran in."""
    messages = [{"role": "user", "content": text}]
    if not stream:
        reply = client_for(stack).chat.completions.create(model="qwen3-max", messages=messages)
        assert reply.choices[0].message.content == f"You said: {text}"
        return str(reply.model_extra["chat_id"])
    chunks = list(client_for(stack).chat.completions.create(model="qwen3-max", messages=messages, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == f"You said: {text}"
    return str(chunks[0].model_extra["chat_id"])


def wait_for(check: Callable[[], bool], what: str) -> None:
    """Background work is awaited by its effect, never by a fixed sleep."""
    assert wait_until(check, within=10, step=0.02), f"still waiting for {what}"


def count(stack: Stack, path: str, method: str = "POST") -> int:
    return sum(1 for r in stack.upstream_requests() if r["path"] == path and r["method"] == method)


def deletes(stack: Stack) -> list[str]:
    return [r["path"].rsplit("/", 1)[1] for r in stack.upstream_requests()
            if r["method"] == "DELETE" and r["path"].startswith("/api/v2/chats/")]


def stocked(stack: Stack, made: int) -> None:
    wait_for(lambda: count(stack, NEW) == made, f"{made} chats made")


def owns(stack: Stack, token: str, chat_id: str) -> bool:
    detail = stack.sim.get(f"/api/v2/chats/{chat_id}", headers={"authorization": f"Bearer {token}"}).json()
    return bool(detail["success"])


def test_a_streamed_chat_runs_in_a_chat_made_before_it_was_asked_for() -> None:
    with live_stack(settings(accounts=ONE_ACCOUNT)) as stack:
        first = ask(stack, "learn the model")  # nothing on the shelf yet: made in its path, as without the pool
        assert [r["path"] for r in stack.upstream_requests() if r["path"] in (NEW, SEND)][:2] == [NEW, SEND]
        stocked(stack, 3)  # then two made ahead
        before = len(stack.upstream_requests())
        chat_id = ask(stack, "first token now", stream=True)
        path = [r for r in stack.upstream_requests()[before:] if r["path"] in (NEW, SEND)]
        assert path[0]["path"] == SEND and path[0]["query"]["chat_id"] == chat_id  # no chats/new in its path
        assert chat_id != first
        stocked(stack, 4)  # the one taken is replaced, after the answer started
        assert [r["path"] for r in stack.upstream_requests()[before:] if r["path"] in (NEW, SEND)] == [SEND, NEW]


def test_each_fresh_chat_serves_one_conversation() -> None:
    with live_stack(settings(accounts=ONE_ACCOUNT)) as stack:
        chats = [ask(stack, f"conversation {n}", stream=n % 2 == 0) for n in range(6)]
        assert len(set(chats)) == 6
        stocked(stack, 6 + 2)  # one chat per conversation, and the shelf full again: none reused, none lost
        for chat_id in chats:
            detail = stack.sim.get(f"/api/v2/chats/{chat_id}", headers={"authorization": f"Bearer {ALPHA}"}).json()
            messages = detail["data"]["chat"]["history"]["messages"].values()
            assert [m["role"] for m in messages] == ["user", "assistant"]


def test_unused_fresh_chats_are_deleted_at_shutdown() -> None:
    with live_stack(settings(accounts=ONE_ACCOUNT)) as stack:
        used = ask(stack, "one conversation")
        stocked(stack, 3)
        stack.restart_gateway()
        gone = deletes(stack)
        assert len(gone) == len(set(gone)) == 2 and used not in gone  # every chat made and never used
        for chat_id in gone:
            detail = stack.sim.get(f"/api/v2/chats/{chat_id}", headers={"authorization": f"Bearer {ALPHA}"}).json()
            assert detail["data"]["code"] == "Not_Found"
        assert owns(stack, ALPHA, used)  # the conversation's own chat stays


def test_unused_chats_age_out_and_an_idle_model_is_no_longer_stocked() -> None:
    with live_stack(settings(accounts=ONE_ACCOUNT, ttl=1.0)) as stack:
        used = ask(stack, "then nothing for a while")
        wait_for(lambda: len(deletes(stack)) == 2, "the two unused chats deleted")
        stack.restart_gateway()  # its shutdown would wait for any refill and delete what it made
        assert count(stack, NEW) == 3 and len(deletes(stack)) == 2 and used not in deletes(stack)


def test_a_continued_conversation_takes_no_fresh_chat() -> None:
    with live_stack(settings(accounts=ONE_ACCOUNT)) as stack:
        client = client_for(stack)
        history = [{"role": "user", "content": "turn one"}]
        first = client.chat.completions.create(model="qwen3-max", messages=history)
        stocked(stack, 3)
        history += [{"role": "assistant", "content": first.choices[0].message.content or ""},
                    {"role": "user", "content": "turn two"}]
        chunks = list(client.chat.completions.create(model="qwen3-max", messages=history, stream=True))
        assert chunks[0].model_extra["chat_id"] == first.model_extra["chat_id"]  # chained: the same upstream chat
        stack.restart_gateway()  # a refill, had there been a take, would show before shutdown ends
        assert count(stack, NEW) == 3 and len(deletes(stack)) == 2


def test_turned_off_every_chat_is_made_in_its_request_as_before() -> None:
    with live_stack(settings(fresh=0)) as stack:
        for n in range(3):
            before = len(stack.upstream_requests())
            chat_id = ask(stack, f"plain {n}", stream=n == 1)
            path = [r for r in stack.upstream_requests()[before:] if r["path"] in (NEW, SEND)]
            assert [r["path"] for r in path] == [NEW, SEND] and path[1]["query"]["chat_id"] == chat_id
        stack.restart_gateway()
        assert count(stack, NEW) == 3 and deletes(stack) == []


def test_a_background_failure_rests_no_account_and_costs_no_request() -> None:
    # One counted failure would rest the account: so a healthy account proves none was counted.
    with live_stack(settings(accounts=ONE_ACCOUNT, cooldowns=Cooldowns(failure_threshold=1))) as stack:
        ask(stack, "stock up")
        stocked(stack, 3)
        stack.fault(ALPHA, {"kind": "http_5xx", "on": "chats_new"})
        ask(stack, "takes one; its refill meets a 5xx", stream=True)
        wait_for(lambda: not stack.sim.get("/__sim/faults").json()["faults"].get(ALPHA), "the refill to fail")
        assert stack.accounts()["acct-alpha"]["state"] == "healthy"
        ask(stack, "the other one made ahead")  # the shelf's own, no chats/new in the path...
        ask(stack, "an empty shelf")  # ...then made in the request: the paused refill costs nobody
        assert stack.accounts()["acct-alpha"]["state"] == "healthy"


def test_a_rate_limit_met_in_the_background_rests_the_account_for_chat() -> None:
    with live_stack(settings()) as stack:
        for n in range(2):  # one conversation on each account: both stock up
            ask(stack, f"stock {n}")
        stocked(stack, 6)
        stack.fault(ALPHA, {"kind": "ratelimited", "on": "chats_new", "num": 5})
        requests = len(stack.upstream_requests())
        while not any(r["token"] == ALPHA for r in stack.upstream_requests()[requests:] if r["path"] == SEND):
            ask(stack, "until alpha takes one")
        wait_for(lambda: stack.accounts()["acct-alpha"]["modes"]["t2t"]["state"] == "cooling", "alpha to rest")
        assert stack.accounts()["acct-alpha"]["modes"]["t2t"]["reason"] == "rate limited"
        assert stack.accounts()["acct-bravo"]["state"] == "healthy"
        ask(stack, "bravo serves")


def test_accounts_never_share_their_fresh_chats() -> None:
    with live_stack(settings()) as stack:
        chats = [ask(stack, f"spread {n}", stream=n % 2 == 1) for n in range(8)]
        stocked(stack, 8 + 2 * 2)  # no chat had to be made again after a refusal
        sends = {r["query"]["chat_id"]: r["token"] for r in stack.upstream_requests(SEND)}
        assert {sends[c] for c in chats} == {ALPHA, BRAVO}
        for chat_id in chats:
            assert owns(stack, sends[chat_id], chat_id)
        made = Counter(r["token"] for r in stack.upstream_requests(NEW))
        used = Counter(sends[c] for c in chats)
        assert made == {token: used[token] + 2 for token in TOKENS}


def test_fresh_chats_lost_upstream_are_replaced_inside_the_request() -> None:
    with live_stack(settings(accounts=ONE_ACCOUNT)) as stack:
        ask(stack, "stock up")
        stocked(stack, 3)
        stack.sim.delete("/api/v2/chats/", headers={"authorization": f"Bearer {ALPHA}"})  # "clear all" in the web UI
        before = len(stack.upstream_requests())
        chat_id = ask(stack, "still answered", stream=True)
        path = [r["path"] for r in stack.upstream_requests()[before:] if r["path"] in (NEW, SEND)]
        assert path[:3] == [SEND, NEW, SEND] and owns(stack, ALPHA, chat_id)
        assert stack.accounts()["acct-alpha"]["state"] == "healthy"


def metric(stack: Stack, line: str) -> float:
    text = stack.http.get("/metrics").text
    return float(next(row.split()[-1] for row in text.splitlines() if row.startswith(line + " ")))


def test_metrics_say_how_many_chats_wait_and_what_became_of_them() -> None:
    with live_stack(settings(accounts=ONE_ACCOUNT)) as stack:
        ask(stack, "learn the model")
        stocked(stack, 3)
        wait_for(lambda: metric(stack, "gateway_fresh_chats") == 2, "two chats on the shelf in /metrics")
        ask(stack, "take one", stream=True)
        stocked(stack, 4)
        assert metric(stack, 'gateway_fresh_chats_events_total{event="missed"}') == 1  # the first found none
        assert metric(stack, 'gateway_fresh_chats_events_total{event="taken"}') == 1
        assert metric(stack, 'gateway_fresh_chats_events_total{event="made"}') == 3
        assert metric(stack, "gateway_fresh_chats") == 2
