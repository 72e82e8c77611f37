"""A server shutdown lets open streams finish within the grace period, then ends them
with an error event and [DONE] rather than cutting them off silently."""

from dataclasses import replace

import orjson
from sse_starlette.sse import AppStatus

from .harness import FAST, default_settings, live_stack

BODY = {"model": "qwen3-max", "stream": True,
        "messages": [{"role": "user", "content": "a question whose answer takes a few seconds"}]}


def read_events_during_shutdown(stack):
    events = []
    with stack.http.stream("POST", "/v1/chat/completions", json=BODY) as response:
        lines = (line for line in response.iter_lines() if line.startswith("data: "))
        events.append(next(lines))
        AppStatus.should_exit = True  # what uvicorn's signal handler sets on SIGTERM / Ctrl-C
        try:
            events.extend(lines)
        finally:
            AppStatus.should_exit = False
    return events


def test_a_stream_outliving_the_grace_period_ends_with_an_error_and_done():
    with live_stack(default_settings(timeouts=replace(FAST, shutdown_grace=1.5))) as stack:
        stack.sim_options(speed=1.0, delta_delay=0.5)  # about 5 s of answer
        events = read_events_during_shutdown(stack)
    assert events[-1] == "data: [DONE]"
    error = orjson.loads(events[-2][6:])["error"]
    assert error["code"] == "shutting_down" and "Retry" in error["message"]


def test_a_stream_that_finishes_within_the_grace_period_is_left_to_finish():
    with live_stack(default_settings(timeouts=replace(FAST, shutdown_grace=5))) as stack:
        stack.sim_options(speed=1.0, delta_delay=0.2)  # about 2 s of answer
        events = read_events_during_shutdown(stack)
    assert events[-1] == "data: [DONE]"
    text = "".join(orjson.loads(e[6:])["choices"][0]["delta"].get("content") or ""
                   for e in events[:-1] if orjson.loads(e[6:]).get("choices"))
    assert text == "You said: " + BODY["messages"][0]["content"]
