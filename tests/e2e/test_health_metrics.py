"""`/health/ready` says whether this replica can serve and why not; `/metrics` parses and counts."""

import socket
import time
from dataclasses import replace

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.config import AccountSettings, UpstreamSettings
from gateway.simulator import SimOptions

from .harness import TOKENS, default_settings, live_stack

CHAT = {"model": "qwen3-max", "messages": [{"role": "user", "content": "Hello there"}]}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def samples(stack) -> dict[tuple[str, frozenset], float]:
    answer = stack.http.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def value(found, name, **labels) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_ready_while_an_account_can_serve_then_503_naming_why_when_none_can(stack):
    assert stack.http.get("/health/ready").json() == {"status": "ready", "reasons": []}
    for token in TOKENS:
        stack.fault(token, {"kind": "unauthorized"})
    client = openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(**CHAT)
    ready = stack.http.get("/health/ready")
    assert ready.status_code == 503
    [reason] = ready.json()["reasons"]
    assert reason["code"] == "no_usable_account"
    assert "acct-alpha: invalid" in reason["message"] and "acct-bravo: invalid" in reason["message"]
    assert stack.http.get("/health").status_code == 200  # liveness is unchanged


def test_an_upstream_that_does_not_answer_makes_the_replica_unready():
    upstream = UpstreamSettings(startup_check=False, unreachable_after=0)
    settings = default_settings(qwen_base_url=f"http://127.0.0.1:{closed_port()}", upstream=upstream)
    with live_stack(settings) as stack:
        ready = stack.http.get("/health/ready")
        assert ready.status_code == 503
        [reason] = ready.json()["reasons"]
        assert reason["code"] == "upstream_unreachable" and "Qwen has not answered" in reason["message"]
        assert "cannot reach 127.0.0.1: connection failed" in reason["message"]  # QwenClient's words for it


def test_metrics_parse_and_grow_after_chats(stack):
    before = samples(stack)
    assert value(before, "gateway_accounts", state="healthy") == 2
    client = openai.OpenAI(base_url=stack.base_url, api_key="unused")
    client.chat.completions.create(**CHAT)
    for _ in client.chat.completions.create(**CHAT, stream=True, stream_options={"include_usage": True}):
        pass
    route = "/v1/chat/completions"
    for _ in range(100):  # a stream is counted when its handler returns, just after the client read [DONE]
        after = samples(stack)
        if value(after, "gateway_request_seconds_count", route=route) == 2:
            break
        time.sleep(0.02)
    assert value(after, "gateway_requests_total", route=route, method="POST", status="200", model="qwen3-max") == \
        value(before, "gateway_requests_total", route=route, method="POST", status="200", model="qwen3-max") + 2
    assert value(after, "gateway_request_seconds_count", route=route) == 2
    assert value(after, "gateway_upstream_seconds_count", route=route) == 2
    assert value(after, "gateway_first_token_seconds_count", route=route) == 1  # the stream
    assert value(after, "gateway_tokens_total", direction="in", model="qwen3-max") > 0
    assert value(after, "gateway_tokens_total", direction="out", model="qwen3-max") > 0
    assert value(after, "gateway_pool_waiters") == 0


def test_metrics_and_readiness_need_no_client_key_but_chat_does():
    with live_stack(replace(default_settings(), api_keys=("client-key",))) as stack:
        assert stack.http.get("/metrics").status_code == 200
        assert stack.http.get("/health/ready").status_code == 200
        assert stack.http.get("/v1/models").status_code == 401


def test_failovers_and_finished_video_jobs_are_counted(stack):
    stack.fault(TOKENS[0], {"kind": "unauthorized"})
    client = openai.OpenAI(base_url=stack.base_url, api_key="unused")
    before = samples(stack)
    client.chat.completions.create(**CHAT)  # alpha fails, bravo answers
    video = client.videos.create_and_poll(prompt="a cat surfing", poll_interval_ms=50)
    found = samples(stack)
    assert value(found, "gateway_upstream_failures_total", reason="invalid", next="failover") == 1
    assert value(found, "gateway_accounts", state="invalid") == 1
    assert value(found, "gateway_video_jobs_finished_total", status=video.status) == \
        value(before, "gateway_video_jobs_finished_total", status=video.status) + 1


def test_token_refreshes_are_counted():
    settings = default_settings(accounts=(AccountSettings(id="rt", token="", refresh_token="rt-alpha-1"),))
    with live_stack(settings, sim=SimOptions(speed=0.0, refresh_tokens=("rt-alpha-1",))) as stack:
        client = openai.OpenAI(base_url=stack.base_url, api_key="unused")
        assert client.chat.completions.create(**CHAT).choices[0].message.content == "You said: Hello there"
        assert value(samples(stack), "gateway_token_refreshes_total", outcome="ok") >= 1
