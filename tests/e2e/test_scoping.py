"""Videos, files and the original API's tasks belong to the API key that created them."""

import openai
import pytest

from .harness import default_settings, live_stack

KEYS = ("sk-team-one", "sk-team-two")
PDF = b"%PDF-1.4\n%%EOF\n"


@pytest.fixture(scope="module")
def stack():
    with live_stack(default_settings(api_keys=KEYS)) as live:
        yield live


def client(stack, key):
    return openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)


def test_another_key_cannot_see_read_list_or_delete_a_video(stack):
    one, two = client(stack, KEYS[0]), client(stack, KEYS[1])
    video = one.videos.create_and_poll(prompt="team one's video", poll_interval_ms=50)
    assert video.status == "completed"
    for attempt in (two.videos.retrieve, two.videos.delete, two.videos.download_content):
        with pytest.raises(openai.NotFoundError):
            attempt(video.id)
    assert video.id not in [v.id for v in two.videos.list().data]
    assert video.id in [v.id for v in one.videos.list().data]
    assert one.videos.retrieve(video.id).status == "completed"  # the failed delete changed nothing


def test_another_key_cannot_read_a_file(stack):
    one, two = client(stack, KEYS[0]), client(stack, KEYS[1])
    uploaded = one.files.create(file=("a.pdf", PDF, "application/pdf"), purpose="user_data")
    with pytest.raises(openai.NotFoundError):
        two.files.retrieve(uploaded.id)
    with pytest.raises(openai.NotFoundError):
        two.files.content(uploaded.id)
    assert one.files.content(uploaded.id).content == PDF


def test_another_key_cannot_follow_a_legacy_task(stack):
    def headers(key):
        return {"authorization": f"Bearer {key}"}

    started = stack.http.post("/api/chat", headers=headers(KEYS[0]), json={
        "message": "a legacy render", "chatType": "t2v", "waitForCompletion": False})
    task_id = started.json()["task_id"]
    assert stack.http.get(f"/api/tasks/status/{task_id}", headers=headers(KEYS[0])).status_code == 200
    other = stack.http.get(f"/api/tasks/status/{task_id}", headers=headers(KEYS[1]))
    assert other.status_code == 404 and "not found" in other.json()["error"]
