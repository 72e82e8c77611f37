"""Each upstream fault of the catalogue: what the client sees, failover and account health."""

import openai
import pytest

from .harness import TOKENS, live_stack, default_settings
from gateway.config import Timeouts

ALPHA, BRAVO = TOKENS
HELLO = [{"role": "user", "content": "Hello"}]


def client_for(stack):
    return openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)


def served_by(stack):
    return [r["token"] for r in stack.upstream_requests("/api/v2/chat/completions")]


def ask(stack, stream=False):
    client = client_for(stack)
    if stream:
        return "".join(c.choices[0].delta.content or "" for c in
                       client.chat.completions.create(model="qwen3-max", messages=HELLO, stream=True))
    return client.chat.completions.create(model="qwen3-max", messages=HELLO).choices[0].message.content


@pytest.mark.parametrize("form", ["json", "sse", "http429"])
def test_rate_limited_account_cools_for_num_hours_and_another_serves(stack, form):
    stack.fault(ALPHA, {"kind": "ratelimited", "form": form, "num": 10})
    assert ask(stack) == "You said: Hello"
    assert served_by(stack) == [ALPHA, BRAVO]
    alpha = stack.accounts()["acct-alpha"]
    assert alpha["state"] == "cooling" and 35990 <= alpha["cooling_seconds"] <= 36000
    assert ask(stack) == "You said: Hello"
    assert served_by(stack)[-1] == BRAVO  # the cooling account is left alone


def test_every_account_rate_limited_is_a_429_with_retry_after(stack):
    stack.fault(ALPHA, {"kind": "ratelimited", "num": 6})
    stack.fault(BRAVO, {"kind": "ratelimited", "num": None})
    with pytest.raises(openai.RateLimitError) as caught:
        ask(stack)
    assert caught.value.status_code == 429
    assert int(caught.value.response.headers["retry-after"]) == 6 * 3600
    assert "cooling" in caught.value.message
    with pytest.raises(openai.RateLimitError):  # and without another upstream call
        ask(stack)
    assert len(served_by(stack)) == 2


def test_expired_token_marks_the_account_invalid_and_another_serves(stack):
    stack.fault(ALPHA, {"kind": "unauthorized"})
    assert ask(stack) == "You said: Hello"
    accounts = stack.accounts()
    assert accounts["acct-alpha"]["state"] == "invalid" and accounts["acct-bravo"]["state"] == "healthy"


def test_every_token_invalid_is_a_503_that_says_why_and_stops_retries(stack):
    stack.fault(ALPHA, {"kind": "unauthorized"})
    stack.fault(BRAVO, {"kind": "unauthorized"})
    with pytest.raises(openai.InternalServerError) as caught:
        ask(stack)
    assert caught.value.status_code == 503
    assert caught.value.code == "no_available_account"
    assert "invalid token" in caught.value.message
    assert caught.value.response.headers["x-should-retry"] == "false"
    for token in TOKENS:
        assert token not in caught.value.response.text


@pytest.mark.parametrize("kind", ["waf", "rgv587"])
def test_blocked_account_cools_briefly_with_no_blind_retry(stack, kind):
    stack.fault(ALPHA, {"kind": kind})
    assert ask(stack) == "You said: Hello"
    assert served_by(stack) == [ALPHA, BRAVO]
    alpha = stack.accounts()["acct-alpha"]
    assert alpha["state"] == "cooling" and alpha["reason"] == "blocked"
    assert 1790 <= alpha["cooling_seconds"] <= 1800


def test_every_account_blocked_is_a_503_naming_the_block(stack):
    stack.fault(ALPHA, {"kind": "waf"})
    stack.fault(BRAVO, {"kind": "rgv587"})
    with pytest.raises(openai.InternalServerError) as caught:
        ask(stack)
    assert caught.value.status_code == 503 and "blocked" in caught.value.message
    assert caught.value.response.headers["retry-after"]


@pytest.mark.parametrize("fault", [
    {"kind": "bad_request"},
    {"kind": "http_5xx", "status": 502},
    {"kind": "internal_error"},
    {"kind": "stall", "seconds": 3},
    {"kind": "slow_first_byte", "seconds": 3},
])
def test_transient_failures_move_to_another_account(stack, fault):
    stack.fault(ALPHA, fault)
    assert ask(stack) == "You said: Hello"
    assert stack.accounts()["acct-alpha"]["state"] == "healthy"


@pytest.mark.parametrize("kind", ["stream_error", "status_error", "drop"])
def test_mid_answer_failures_are_retried_when_nothing_reached_the_client(stack, kind):
    stack.fault(ALPHA, {"kind": kind, "after": 2})
    assert ask(stack) == "You said: Hello"
    assert served_by(stack) == [ALPHA, BRAVO]


@pytest.mark.parametrize("kind", ["stream_error", "status_error", "drop"])
def test_mid_stream_failures_after_output_end_the_stream_with_an_error(stack, kind):
    stack.fault(ALPHA, {"kind": kind, "after": 2})
    received = []
    long_question = [{"role": "user", "content": "Please answer with a long enough sentence"}]
    with pytest.raises(openai.APIError):
        for chunk in client_for(stack).chat.completions.create(model="qwen3-max", messages=long_question, stream=True):
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) and "".join(received) != "You said: Please answer with a long enough sentence"
    assert served_by(stack) == [ALPHA]
    if kind == "drop":  # a transport failure after the first byte still marks the account that served
        assert stack.accounts()["acct-alpha"]["state"] == "unreachable"


def test_invalid_input_is_the_clients_fault_and_not_retried(stack):
    stack.fault(ALPHA, {"kind": "invalid_input"})
    with pytest.raises(openai.BadRequestError) as caught:
        ask(stack)
    assert caught.value.code == "invalid_input"
    assert served_by(stack) == [ALPHA]
    assert stack.accounts()["acct-alpha"]["state"] == "healthy"


def test_protocol_drift_is_a_502_without_penalty(stack):
    stack.fault(ALPHA, {"kind": "validation"})
    with pytest.raises(openai.InternalServerError) as caught:
        ask(stack)
    assert caught.value.status_code == 502
    assert "protocol" in caught.value.message
    assert stack.accounts()["acct-alpha"]["state"] == "healthy"


def test_prompt_markers_script_faults_through_the_gateway(stack):
    # A marker faults every attempt of the request, so every account ends up resting.
    with pytest.raises(openai.RateLimitError) as caught:
        client_for(stack).chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": "[[sim:fault=ratelimited,num=3]] hi"}])
    assert caught.value.response.headers["retry-after"] == str(3 * 3600)
    assert {a["state"] for a in stack.accounts().values()} == {"cooling"}


def test_an_unreachable_upstream_is_a_retryable_5xx():
    settings = default_settings(qwen_base_url="http://127.0.0.1:9", max_attempts=2,
                                timeouts=Timeouts(connect=1, first_event=2, idle=2, deadline=5))
    with live_stack(settings) as stack:
        with pytest.raises(openai.InternalServerError) as caught:
            client_for(stack).models.list()
        assert caught.value.status_code in (502, 503, 504)


def test_tokens_never_reach_the_logs(stack, caplog):
    caplog.set_level("DEBUG")
    stack.fault(ALPHA, {"kind": "unauthorized"})
    stack.fault(BRAVO, {"kind": "ratelimited", "num": 1})
    with pytest.raises(openai.APIStatusError):
        ask(stack)
    stack.fault(ALPHA, {"kind": "waf"})
    with pytest.raises(openai.APIStatusError):
        ask(stack, stream=True)
    assert "acct-alpha" in caplog.text and "acct-bravo" in caplog.text  # accounts are named by id...
    for token in TOKENS:
        assert token not in caplog.text  # ...never by token
