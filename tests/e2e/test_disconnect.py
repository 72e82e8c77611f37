"""A client that goes away cancels its upstream call at once, in all three windows."""

import time

import httpx
import pytest

from .harness import TOKENS

ALPHA = TOKENS[0]
BODY = {"model": "qwen3-max", "messages": [{"role": "user", "content": "a fairly long question to answer slowly"}]}


def busy_accounts(stack):
    return sum(a["in_flight"] for a in stack.accounts().values())


def wait_until_idle(stack, within=1.5):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if busy_accounts(stack) == 0:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("stream", [False, True])
def test_disconnect_before_the_first_upstream_event(stack, stream):
    stack.fault(ALPHA, {"kind": "slow_first_byte", "seconds": 6})
    stack.fault(TOKENS[1], {"kind": "slow_first_byte", "seconds": 6})
    with pytest.raises(httpx.ReadTimeout):
        stack.http.post("/v1/chat/completions", json={**BODY, "stream": stream}, timeout=0.5)
    assert wait_until_idle(stack)


def test_disconnect_during_a_non_stream_answer(stack):
    stack.sim_options(speed=1.0, delta_delay=0.5)
    with pytest.raises(httpx.ReadTimeout):  # the answer takes ~4 s; leave after 1
        stack.http.post("/v1/chat/completions", json=BODY, timeout=1.0)
    assert wait_until_idle(stack)


def test_disconnect_mid_stream(stack):
    stack.sim_options(speed=1.0, delta_delay=0.5)
    with stack.http.stream("POST", "/v1/chat/completions", json={**BODY, "stream": True}) as response:
        chunks = response.iter_raw()
        assert next(chunks).startswith(b"data: ")
        assert busy_accounts(stack) == 1  # still streaming from upstream
    assert wait_until_idle(stack)
