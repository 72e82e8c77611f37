"""Fallbacks through the chat detail (§3.7, §5): a t2v task id or t2i image URLs the reply lacked."""

import openai
import pytest

from .harness import TOKENS

ALPHA = TOKENS[0]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # OpenAI deprecates the Sora API


def client_for(stack):
    return openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)


def detail_reads(stack):
    return [r for r in stack.upstream_requests() if r["path"].startswith("/api/v2/chats/") and r["method"] == "GET"]


@pytest.mark.parametrize(("where", "reads"), [("elsewhere", 0), ("detail", 1)])
def test_a_video_task_id_is_found_anywhere_in_the_reply_or_in_the_chat_detail(stack, where, reads):
    stack.fault(ALPHA, {"kind": "no_task_id", "where": where})
    video = client_for(stack).videos.create_and_poll(prompt="a cat surfing at sunset", size="1280x720")
    assert video.status == "completed"
    assert client_for(stack).videos.download_content(video.id).read()[4:8] == b"ftyp"
    assert len(detail_reads(stack)) == reads


def test_without_a_task_id_anywhere_the_legacy_error_comes_after_five_detail_reads(stack):
    stack.fault(ALPHA, {"kind": "no_task_id"})
    response = stack.http.post("/api/chat", json={"message": "A calm ocean", "model": "qwen-vl-max-latest",
                                                  "chatType": "t2v", "size": "16:9"})
    assert response.status_code == 502 and response.json()["error"] == "Task ID not found in response"
    assert len(detail_reads(stack)) == 5


@pytest.mark.parametrize("response_format", ["url", "b64_json"])
def test_an_image_stream_without_its_url_reads_the_chat_detail(stack, response_format):
    stack.fault(ALPHA, {"kind": "no_image_url"})
    result = client_for(stack).images.generate(prompt="a red fox", size="1792x1024", response_format=response_format)
    [image] = result.data
    if response_format == "url":
        assert image.url.startswith(stack.sim_url) and image.url.split("?")[0].endswith(".png")
    else:
        assert image.b64_json
    assert len(detail_reads(stack)) == 1
    assert [r["token"] for r in stack.upstream_requests("/api/v2/chat/completions")] == [ALPHA]
