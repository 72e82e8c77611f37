"""What clients may hold of the gateway at once: request-body bytes (in-process stack)."""

import threading

import httpx
import pytest

from gateway.config import Limits

from .harness import default_settings, live_stack

BUDGET = 3_000_000


@pytest.fixture(scope="module")
def stack():
    with live_stack(default_settings(limits=Limits(body_budget_bytes=BUDGET))) as stack:
        yield stack


def chat_body(size: int) -> dict:
    """About `size` bytes, in a field that is not sent upstream (the simulator would echo a prompt)."""
    return {"model": "qwen3-max", "user": "x" * size, "messages": [{"role": "user", "content": "hi"}]}


def test_bodies_past_the_budget_together_get_503_with_retry_after_and_pass_once_it_frees(stack):
    stack.sim_options(speed=1.0, first_event_delay=1.5)  # the first request holds its body this long
    try:
        first: dict = {}
        holder = threading.Thread(target=lambda: first.update(r=httpx.post(
            stack.url + "/v1/chat/completions", json=chat_body(2_000_000), timeout=30)))
        holder.start()
        while not stack.upstream_requests("/api/v2/chat/completions"):  # its body is read and held
            threading.Event().wait(0.02)
        refused = stack.http.post("/v1/chat/completions", json=chat_body(2_000_000), timeout=30)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
        assert refused.json()["error"]["code"] == "overloaded"
        small = stack.http.post("/v1/chat/completions", json=chat_body(10), timeout=30)
        assert small.status_code == 200  # what still fits is served meanwhile
        holder.join()
        assert first["r"].status_code == 200
    finally:
        stack.sim_options(speed=0.0)
    again = stack.http.post("/v1/chat/completions", json=chat_body(2_000_000), timeout=30)
    assert again.status_code == 200


def test_a_chunked_body_past_the_budget_is_503_too(stack):
    def chunks():
        for _ in range(40):
            yield b"x" * 100_000

    answer = stack.http.post("/v1/chat/completions", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "overloaded"
    assert stack.http.post("/v1/chat/completions", json=chat_body(10)).status_code == 200  # nothing leaked
