"""Blame the right party: a request whose content makes Qwen fail rests no account."""

import openai
import pytest

from .harness import TOKENS

ALPHA, BRAVO = TOKENS
HELLO = [{"role": "user", "content": "Hello"}]


def served_by(stack):
    return [r["token"] for r in stack.upstream_requests("/api/v2/chat/completions")]


@pytest.mark.parametrize("kind", ["internal_error", "http_5xx", "stream_error"])
def test_a_request_failing_on_two_accounts_stops_there_and_rests_none(stack, kind):
    client = openai.OpenAI(base_url=stack.base_url, api_key="unused")  # the client's own retries left on
    bad = [{"role": "user", "content": f"[[sim:fault={kind}]] this request breaks Qwen"}]
    for _ in range(4):
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(model="qwen3-max", messages=bad)
        assert caught.value.status_code == 502
        assert caught.value.response.headers["x-should-retry"] == "false"
        assert "second Qwen account" in caught.value.message
    assert len(served_by(stack)) == 8  # two accounts per request, no retry by the client
    assert {a["state"] for a in stack.accounts().values()} == {"healthy"}
    answer = client.chat.completions.create(model="qwen3-max", messages=HELLO)
    assert answer.choices[0].message.content == "You said: Hello"


def test_an_account_that_fails_what_another_serves_is_still_blamed(stack):
    client = openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)
    for _ in range(3):  # cooldowns.failure_threshold
        stack.fault(ALPHA, {"kind": "internal_error"})
        answer = client.chat.completions.create(model="qwen3-max", messages=HELLO)
        assert answer.choices[0].message.content == "You said: Hello"
    alpha = stack.accounts()["acct-alpha"]
    assert alpha["state"] == "cooling" and alpha["reason"] == "failing"
