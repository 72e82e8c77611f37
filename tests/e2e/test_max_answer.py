"""timeouts.max_answer caps a try's whole answer: an answer that never ends is cut, not waited on for hours."""

import httpx
import openai
import pytest
from dataclasses import replace

from .harness import FAST, default_settings, live_stack

LONG = [{"role": "user", "content": " ".join(f"word{i}" for i in range(200))}]  # echoed a word per delta


@pytest.fixture
def slow_stack():
    with live_stack(default_settings(timeouts=replace(FAST, max_answer=0.5))) as stack:
        stack.sim_options(speed=1.0, first_event_delay=0.0, delta_delay=0.02)  # ~4 s for the whole echo
        yield stack


def test_a_whole_answer_past_max_answer_is_a_504_not_retried(slow_stack):
    client = openai.OpenAI(base_url=slow_stack.base_url, api_key="unused")  # the client's retries left on
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="qwen3-max", messages=LONG)
    assert caught.value.status_code == 504
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert "max_answer" in caught.value.message
    assert len(slow_stack.upstream_requests("/api/v2/chat/completions")) == 1  # no other account, no client retry
    assert {a["state"] for a in slow_stack.accounts().values()} == {"healthy"}


def test_a_stream_past_max_answer_ends_with_an_error_event_and_done(slow_stack):
    body = {"model": "qwen3-max", "messages": LONG, "stream": True}
    with httpx.stream("POST", slow_stack.base_url + "/chat/completions", json=body, timeout=30) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert '"error"' in lines[-2] and "max_answer" in lines[-2]
    assert any('"content"' in line for line in lines[:-2])  # it had started answering
