"""OpenAI's Videos API end to end: the real `openai` client and raw HTTP against the gateway,
the simulator rendering behind it (renders and polls take milliseconds here)."""

import time

import httpx
import openai
import pytest

from gateway.config import AccountSettings, VideoSettings
from gateway.store import MemoryStore
from gateway.translate.videos import VIDEO_FIELDS

from .harness import TOKENS, default_settings, live_stack

ALPHA, BRAVO = TOKENS
FAST_VIDEO = VideoSettings(poll_interval=0.02, timeout=10, typical_render=1, job_ttl=600)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # OpenAI deprecates the Sora API


def video_settings(**overrides):
    return default_settings(video=FAST_VIDEO, **overrides)


@pytest.fixture
def stack():
    """A fresh stack, for tests that change account health, simulator options or the job list."""
    with live_stack(video_settings()) as live:
        yield live


@pytest.fixture(scope="module")
def shared():
    """One stack for the tests that leave accounts healthy; faults go in prompt markers."""
    with live_stack(video_settings()) as live:
        yield live


def client_for(stack, **options):
    return openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0, **options)


def status_polls(stack, token=None):
    polls = [r for r in stack.upstream_requests() if r["path"].startswith("/api/v2/task/status/")]
    return [r for r in polls if token is None or r["token"] == token]


def served_mp4(stack, task_id, token):
    """What the simulator serves for a rendered task, fetched straight from it."""
    status = stack.sim.get(f"/api/v1/tasks/status/{task_id}", headers={"authorization": f"Bearer {token}"}).json()
    return httpx.get(status["content"]).content


def wait_for(stack, video_id, statuses, within=5.0):
    deadline = time.monotonic() + within
    while (video := stack.http.get(f"/v1/videos/{video_id}").json())["status"] not in statuses:
        assert time.monotonic() < deadline, video
        time.sleep(0.01)
    return video


def test_create_and_poll_then_download_the_mp4(stack):
    client = client_for(stack)  # a fresh stack: its only task-status polls are this video's
    video = client.videos.create_and_poll(prompt="a cat surfing at sunset", size="1280x720", seconds="8")
    assert (video.status, video.progress, video.error) == ("completed", 100, None)
    assert (video.model, video.size, video.seconds, video.prompt) == ("qwen3.7-plus", "1280x720", "8",
                                                                     "a cat surfing at sunset")
    assert video.completed_at >= video.created_at and video.expires_at == video.created_at + 600
    completion = stack.upstream_requests("/api/v2/chat/completions")[-1]
    assert completion["body"]["stream"] is False and completion["body"]["size"] == "16:9"
    poll = status_polls(stack)[-1]
    content = client.videos.download_content(video.id)
    assert content.response.headers["content-type"] == "video/mp4"
    assert content.content == served_mp4(stack, poll["path"].rsplit("/", 1)[1], poll["token"])
    assert content.content[4:8] == b"ftyp"


def test_create_returns_queued_at_once_then_estimated_progress_and_a_poll_hint():
    settings = default_settings(video=VideoSettings(poll_interval=0.02, typical_render=0.2))
    with live_stack(settings) as stack:
        stack.sim_options(speed=1.0, video_render_seconds=3)
        client = client_for(stack)
        video = client.videos.create(prompt="a slow pan over hills")
        assert (video.status, video.progress) == ("queued", 0)
        assert video.size == "720x1280" and video.seconds == "4"  # OpenAI's defaults
        assert stack.upstream_requests("/api/v2/chat/completions")[-1]["body"]["size"] == "9:16"
        raw = client.videos.with_raw_response.retrieve(video.id)
        assert raw.headers["openai-poll-after-ms"] == "20"
        assert 0 <= wait_for(stack, video.id, {"in_progress"})["progress"] < 95
        time.sleep(0.25)  # past the typical render: the estimate holds at 95 until Qwen says done
        later = client.videos.retrieve(video.id)
        assert (later.status, later.progress) == ("in_progress", 95)


def test_retrieve_list_and_delete(stack):
    client = client_for(stack)
    made = [client.videos.create_and_poll(prompt=f"clip {i}") for i in range(3)]
    ids = [v.id for v in made]
    assert client.videos.retrieve(ids[1]).prompt == "clip 1"
    page = client.videos.list(limit=2, order="asc")
    assert [v.id for v in page.data] == ids[:2] and page.has_more is True
    assert [v.id for v in client.videos.list(limit=2, order="asc")] == ids  # auto-paging follows last_id
    assert [v.id for v in client.videos.list()] == ids[::-1]  # newest first by default
    deleted = client.videos.delete(ids[0])
    assert (deleted.id, deleted.object, deleted.deleted) == (ids[0], "video.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(ids[0])
    with pytest.raises(openai.NotFoundError):
        client.videos.delete(ids[0])
    assert [v.id for v in client.videos.list()] == ids[:0:-1]


def test_a_failed_render_surfaces_as_failed_with_its_error(shared):
    client = client_for(shared)
    video = client.videos.create_and_poll(prompt="an impossible scene [[sim:fault=task_failed]]")
    assert video.status == "failed" and video.error.code == "video_generation_failed"
    assert "Video generation failed" in video.error.message and video.completed_at is not None
    with pytest.raises(openai.ConflictError) as caught:
        client.videos.download_content(video.id)
    assert caught.value.code == "video_failed" and caught.value.response.headers["x-should-retry"] == "false"


def test_a_job_created_while_an_account_cools_goes_to_another(stack):
    stack.fault(ALPHA, {"kind": "ratelimited", "num": 10})
    client = client_for(stack)
    first = client.videos.create_and_poll(prompt="first")
    second = client.videos.create_and_poll(prompt="second")
    assert first.status == second.status == "completed"
    creators = [r["token"] for r in stack.upstream_requests("/api/v2/chat/completions")]
    assert creators == [ALPHA, BRAVO, BRAVO]  # alpha refused once, then was left to cool
    assert stack.accounts()["acct-alpha"]["state"] == "cooling"
    assert status_polls(stack) and not status_polls(stack, ALPHA)


def test_a_render_is_polled_to_its_end_after_its_account_becomes_rate_limited():
    one_account = (AccountSettings(id="acct-alpha", token=ALPHA),)
    with live_stack(video_settings(accounts=one_account)) as stack:
        stack.sim_options(speed=1.0, video_render_seconds=0.6)
        client = client_for(stack)
        video = client.videos.create(prompt="a long render")
        stack.fault(ALPHA, {"kind": "ratelimited", "num": 10})
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "hi"}])
        assert stack.accounts()["acct-alpha"]["state"] == "cooling"
        assert client.videos.retrieve(video.id).status in {"queued", "in_progress"}  # it cooled mid-render
        done = client.videos.poll(video.id)
        assert done.status == "completed"
        assert client.videos.download_content(done.id).content[4:8] == b"ftyp"


def test_the_daily_video_quota_moves_on_then_is_a_429():
    one_account = (AccountSettings(id="acct-alpha", token=ALPHA),)
    with live_stack(video_settings(accounts=one_account)) as stack:
        client = client_for(stack)
        for i in range(3):
            client.videos.create(prompt=f"video {i}")
        with pytest.raises(openai.RateLimitError) as caught:
            client.videos.create(prompt="one too many")
        assert int(caught.value.response.headers["retry-after"]) == 10 * 3600
        assert len(client.videos.list().data) == 3


def test_a_restart_mid_render_still_completes_the_job_when_the_store_survives():
    with live_stack(video_settings(), store=MemoryStore()) as stack:
        stack.sim_options(speed=1.0, video_render_seconds=1.2)
        client = client_for(stack)
        video = client.videos.create(prompt="survives a restart")
        wait_for(stack, video.id, {"in_progress"})
        stack.restart_gateway()
        polls_before = len(status_polls(stack))
        assert client.videos.retrieve(video.id).status == "in_progress"  # the render outlived the old gateway
        done = client.videos.poll(video.id)
        assert done.status == "completed" and len(status_polls(stack)) > polls_before
        assert client.videos.download_content(video.id).content[4:8] == b"ftyp"


def test_a_memory_store_loses_its_jobs_on_restart(stack):
    video = client_for(stack).videos.create_and_poll(prompt="forgotten")
    stack.restart_gateway()
    with pytest.raises(openai.NotFoundError):
        client_for(stack).videos.retrieve(video.id)


def test_raw_http_json_create_retrieve_list_content_delete(stack):
    http = stack.http  # a fresh stack: the listing below must hold this one video only
    created = http.post("/v1/videos", json={"prompt": "plain http", "model": "qwen3-vl-plus", "size": "16:9",
                                            "seconds": 12, "metadata": {"ignored": True}})
    assert created.status_code == 200 and list(created.json()) == list(VIDEO_FIELDS)
    video = created.json()
    assert (video["object"], video["model"], video["size"]) == ("video", "qwen3-vl-plus", "16:9")
    assert video["seconds"] == "12"  # a JSON number comes back as OpenAI's string
    assert video["remixed_from_video_id"] is None and video["id"].startswith("video_")
    done = wait_for(stack, video["id"], {"completed", "failed"})
    assert done["status"] == "completed" and list(done) == list(VIDEO_FIELDS)
    listing = http.get("/v1/videos", params={"limit": 1}).json()
    assert listing == {"object": "list", "data": [done], "first_id": done["id"], "last_id": done["id"],
                       "has_more": False}
    with http.stream("GET", f"/v1/videos/{video['id']}/content", params={"variant": "video"}) as streamed:
        assert streamed.status_code == 200 and streamed.headers["content-type"] == "video/mp4"
        body = b"".join(streamed.iter_bytes())
    assert int(streamed.headers["content-length"]) == len(body) and body[4:8] == b"ftyp"
    assert http.delete(f"/v1/videos/{video['id']}").json() == {"id": video["id"], "object": "video.deleted",
                                                               "deleted": True}


def test_content_of_an_unfinished_video_is_a_409_that_says_so(shared):
    video = shared.http.post("/v1/videos", json={"prompt": "never ends [[sim:fault=task_never_finishes]]"}).json()
    answer = shared.http.get(f"/v1/videos/{video['id']}/content")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "video_not_ready"
    assert "not ready" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"prompt": ""}, 400, "prompt"),
        ({"size": "720x1280"}, 400, "prompt"),
        ({"prompt": "p", "size": "1920x1080"}, 400, "size"),
        ({"prompt": "p", "seconds": "5"}, 400, "seconds"),
        ({"prompt": "p", "input_reference": {"image_url": "https://example.com/a.png"}}, 400, "input_reference"),
        ({"prompt": "p", "model": "qwen3-max"}, 400, "model"),
        ({"prompt": "p", "model": "sora-2"}, 404, "model"),
    ],
)
def test_bad_create_requests_are_4xx_naming_the_parameter(shared, body, status, param):
    renders = len(shared.upstream_requests("/api/v2/chat/completions"))
    answer = shared.http.post("/v1/videos", json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and error["message"] and set(error) == {"message", "type", "param", "code"}
    assert len(shared.upstream_requests("/api/v2/chat/completions")) == renders  # refused before the upstream


def test_bad_input_through_the_openai_client(shared):
    client = client_for(shared)
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.create(prompt="p", input_reference=("a.png", b"\x89PNG....", "image/png"))
    assert caught.value.param == "input_reference" and "not supported yet" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.create(prompt="p", seconds="5")
    assert caught.value.param == "seconds"
    video = client.videos.create_and_poll(prompt="fine")
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.download_content(video.id, variant="thumbnail")
    assert caught.value.param == "variant"


@pytest.mark.parametrize(
    ("method", "path", "params", "status", "param"),
    [
        ("GET", "/v1/videos/video_nope", {}, 404, "video_id"),
        ("DELETE", "/v1/videos/video_nope", {}, 404, "video_id"),
        ("GET", "/v1/videos/video_nope/content", {}, 404, "video_id"),
        ("GET", "/v1/videos", {"limit": "0"}, 400, "limit"),
        ("GET", "/v1/videos", {"limit": "500"}, 400, "limit"),
        ("GET", "/v1/videos", {"order": "sideways"}, 400, "order"),
        ("GET", "/v1/videos", {"after": "video_nope"}, 400, "after"),
    ],
)
def test_unknown_ids_and_bad_list_parameters(shared, method, path, params, status, param):
    answer = shared.http.request(method, path, params=params)
    assert answer.status_code == status and answer.json()["error"]["param"] == param


def test_malformed_bodies_are_400_not_500(shared):
    stack = shared
    broken_json = stack.http.post("/v1/videos", content=b"{nope", headers={"content-type": "application/json"})
    assert broken_json.status_code == 400
    not_an_object = stack.http.post("/v1/videos", json=["prompt"])
    assert not_an_object.status_code == 400
    broken_form = stack.http.post("/v1/videos", content=b"--x\r\nbroken",
                                  headers={"content-type": "multipart/form-data; boundary=x"})
    assert broken_form.status_code == 400 and broken_form.json()["error"]["message"]
    form = stack.http.post("/v1/videos", data={"prompt": "form fields work", "size": "1792x1024"},
                           files={"unrelated": ("a.txt", b"x")})  # files= makes httpx send multipart
    assert form.status_code == 200 and form.json()["size"] == "1792x1024"
    url_encoded = stack.http.post("/v1/videos", data={"prompt": "p"})
    assert url_encoded.status_code == 415 and "JSON" in url_encoded.json()["error"]["message"]
