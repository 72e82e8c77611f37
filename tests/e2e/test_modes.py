"""Qwen counts chat, image and video quotas apart: a quota met in one mode rests only that mode."""

import openai
import pytest

from gateway.config import VideoSettings

from .harness import TOKENS, default_settings, live_stack

ALPHA, BRAVO = TOKENS
HELLO = [{"role": "user", "content": "Hello"}]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # OpenAI deprecates the Sora API


@pytest.fixture
def stack():
    video = VideoSettings(poll_interval=0.02, timeout=10, typical_render=1, job_ttl=600)
    with live_stack(default_settings(video=video)) as live:
        yield live


def client_for(stack):
    return openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)


def test_spent_video_quota_leaves_chat_and_images_serving(stack):
    stack.sim_options(daily_video_limit=1)
    client = client_for(stack)
    client.videos.create(prompt="one")
    client.videos.create(prompt="two")  # alpha's quota is spent, so bravo renders it
    with pytest.raises(openai.RateLimitError) as caught:
        client.videos.create(prompt="three")
    assert int(caught.value.response.headers["retry-after"]) == 10 * 3600
    assert "t2v" in caught.value.message
    for _ in range(2):  # both accounts still chat
        answer = client.chat.completions.create(model="qwen3-max", messages=HELLO)
        assert answer.choices[0].message.content == "You said: Hello"
    assert client.images.generate(prompt="a cat").data[0].url
    for account in stack.accounts().values():
        assert account["modes"]["t2v"]["state"] == "cooling"
        assert 35990 <= account["modes"]["t2v"]["cooling_seconds"] <= 36000
        assert account["modes"]["t2t"] == account["modes"]["t2i"] == {"state": "healthy", "cooling_seconds": 0,
                                                                       "reason": ""}


def test_spent_chat_quota_leaves_videos_serving(stack):
    stack.fault(ALPHA, {"kind": "ratelimited", "num": 6})
    stack.fault(BRAVO, {"kind": "ratelimited", "num": 8})
    client = client_for(stack)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="qwen3-max", messages=HELLO)
    assert int(caught.value.response.headers["retry-after"]) == 6 * 3600
    video = client.videos.create_and_poll(prompt="still rendering")
    assert video.status == "completed"
    alpha = stack.accounts()["acct-alpha"]
    assert alpha["modes"]["t2t"]["state"] == "cooling" and alpha["modes"]["t2v"]["state"] == "healthy"


def test_metrics_count_accounts_by_mode_and_state(stack):
    from prometheus_client.parser import text_string_to_metric_families

    stack.fault(ALPHA, {"kind": "ratelimited", "num": 6})
    client_for(stack).chat.completions.create(model="qwen3-max", messages=HELLO)  # alpha rests t2t, bravo answers
    found = {(s.name, frozenset(s.labels.items())): s.value
             for family in text_string_to_metric_families(stack.http.get("/metrics").text) for s in family.samples}

    def accounts(mode, state):
        return found.get(("gateway_account_modes", frozenset({"mode": mode, "state": state}.items())), 0.0)

    assert (accounts("t2t", "cooling"), accounts("t2t", "healthy")) == (1, 1)
    assert accounts("t2v", "healthy") == accounts("t2i", "healthy") == 2
