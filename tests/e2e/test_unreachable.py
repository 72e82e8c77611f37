"""An upstream out of reach or silent: the error and the log say where and why, accounts and
/health stop saying "healthy", and a 504 tells the client that its own retry cannot help."""

import logging
from dataclasses import replace

import openai

from gateway.config import Settings, Timeouts

from .harness import FAST, TOKENS, default_settings, live_stack

ALPHA, BRAVO = TOKENS
HELLO = [{"role": "user", "content": "Hello"}]
NOWHERE = "http://qwen-upstream.invalid"  # .invalid never resolves (RFC 2606)


def test_a_dns_failure_names_the_host_and_accounts_and_health_say_so(caplog):
    caplog.set_level(logging.WARNING)
    with live_stack(default_settings(qwen_base_url=NOWHERE, max_attempts=2)) as stack:
        client = openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)
        try:
            client.chat.completions.create(model="qwen3-max", messages=HELLO)
        except openai.APIStatusError as exc:
            error = exc
        assert error.status_code in (502, 503)
        assert "qwen-upstream.invalid" in error.message and "DNS lookup failed" in error.message
        lines = [r.getMessage() for r in caplog.records if "qwen-upstream.invalid" in r.getMessage()]
        assert any("DNS lookup failed" in line and "account acct-" in line for line in lines)
        assert all("\n" not in line and "token-" not in line for line in lines)
        accounts = stack.accounts()
        assert {a["state"] for a in accounts.values()} == {"unreachable"}
        assert "DNS lookup failed" in accounts["acct-alpha"]["reason"]
        health = stack.http.get("/health").json()
        assert health["status"] == "degraded" and health["accounts"]["healthy"] == 0


def test_a_silent_upstream_is_a_504_the_client_does_not_retry():
    timeouts = replace(FAST, first_event=0.3)
    with live_stack(default_settings(timeouts=timeouts, max_attempts=2)) as stack:
        for token in TOKENS:
            stack.fault(token, {"kind": "slow_first_byte", "seconds": 2})
        client = openai.OpenAI(base_url=stack.base_url, api_key="unused")  # its retries left on
        try:
            client.chat.completions.create(model="qwen3-max", messages=HELLO)
        except openai.APIStatusError as exc:
            error = exc
        assert error.status_code == 504 and error.response.headers["x-should-retry"] == "false"
        assert len(stack.upstream_requests("/api/v2/chat/completions")) == 2  # one per account, none by the client


def test_the_first_event_timeout_defaults_to_20_seconds():
    assert Settings().timeouts.first_event == Timeouts().first_event == 20.0
