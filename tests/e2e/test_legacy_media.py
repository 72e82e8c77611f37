"""The original proxy's media flows: t2v in both polling modes, task status, uploads for
vision, and the guide's own quick test script run by Node, unchanged."""

import base64
import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from .harness import TOKENS, default_settings, live_stack

GUIDE = Path(__file__).parent / "legacy_guide"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def video_body(**extra):
    return {"message": "A calm ocean with gentle waves at sunset", "model": "qwen-vl-max-latest",
            "chatType": "t2v", "size": "16:9", **extra}


def test_server_side_polling_returns_the_video(stack):
    response = stack.http.post("/api/chat", json=video_body(), timeout=60)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["video_url"] == data["choices"][0]["message"]["content"]
    assert data["video_url"].split("?")[0].endswith(".mp4")
    assert data["task_id"] and data["chatId"] and data["parentId"] == data["task_id"]
    assert stack.http.get(data["video_url"]).headers["content-type"] == "video/mp4"
    (sent,) = stack.upstream_requests("/api/v2/chat/completions")
    assert sent["body"]["stream"] is False and sent["body"]["size"] == "16:9"


def test_mode_2_client_side_polling_loop_completes(stack):
    stack.sim_options(speed=1.0, video_render_seconds=0.5)
    task = stack.http.post("/api/chat", json=video_body(waitForCompletion=False)).json()
    assert task["status"] == "processing" and task["task_id"]
    seen, video_url = [], None
    for _ in range(90):  # the guide's loop: task_status || status until completed
        status_data = stack.http.get(f"/api/tasks/status/{task['task_id']}").json()
        status = status_data.get("task_status") or status_data.get("status")
        seen.append(status)
        if status in ("completed", "succeeded"):
            video_url = status_data.get("content") or status_data["data"]["content"]
            break
        if status in ("failed", "error"):
            break
        time.sleep(0.1)
    assert video_url and video_url.split("?")[0].endswith(".mp4")
    assert seen[0] in ("processing", "running") and seen[-1] == "completed"


def test_a_failed_render_and_an_unknown_task(stack):
    stack.fault(TOKENS[0], {"kind": "task_failed"})
    response = stack.http.post("/api/chat", json=video_body())
    assert response.status_code == 502
    assert response.json()["status"] == "failed" and response.json()["task_id"]
    status = stack.http.get(f"/api/tasks/status/{response.json()['task_id']}").json()
    assert status["task_status"] == "failed" and status["error"]
    missing = stack.http.get("/api/tasks/status/no-such-task")
    assert missing.status_code == 404 and isinstance(missing.json()["error"], str)


def test_a_render_that_never_finishes_is_the_guide_timeout_error():
    settings = default_settings()
    settings = replace(settings, video=replace(settings.video, timeout=0.5))
    with live_stack(settings) as stack:
        stack.fault(TOKENS[0], {"kind": "task_never_finishes"})
        response = stack.http.post("/api/chat", json=video_body(), timeout=30)
    assert response.status_code == 504
    body = response.json()
    assert body["error"] == "Task polling timeout exceeded" and body["status"] == "timeout"
    assert body["task_id"] and body["chatId"]


def test_uploaded_file_is_usable_in_a_later_vision_chat(stack):
    upload = stack.http.post("/api/files/upload", files={"file": ("dot.png", PNG, "image/png")})
    assert upload.status_code == 200, upload.text
    image_url = upload.json()["imageUrl"]
    assert upload.json()["fileId"] and stack.http.get(image_url).content == PNG
    reply = stack.http.post("/api/chat", json={
        "message": [{"type": "text", "text": "Describe the objects in this image"},
                    {"type": "image", "image": image_url}],
        "model": "qwen-vl-max-latest"}).json()
    note = f" [image: {len(PNG)} bytes, sha256 {hashlib.sha256(PNG).hexdigest()[:12]}]"
    assert reply["choices"][0]["message"]["content"] == "You said: Describe the objects in this image" + note


def test_upload_without_a_file_is_a_400_in_the_guide_shape(stack):
    response = stack.http.post("/api/files/upload", files={"other": ("x.txt", b"x", "text/plain")})
    assert response.status_code == 400 and isinstance(response.json()["error"], str)


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_guides_quick_test_script_runs_unchanged_under_node(stack):
    result = subprocess.run(
        ["node", "--import", str(GUIDE / "to-gateway.mjs"), str(GUIDE / "test-generation.js")],
        env={**os.environ, "GATEWAY_URL": stack.url}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    image = next(line for line in lines if line.startswith("Image URL:")).split(": ", 1)[1]
    video = next(line for line in lines if line.startswith("Video URL:")).split(": ", 1)[1]
    assert image.startswith(stack.sim_url) and image.split("?")[0].endswith(".png")
    assert video.startswith(stack.sim_url) and video.split("?")[0].endswith(".mp4")
    sizes = [r["body"].get("size") for r in stack.upstream_requests("/api/v2/chat/completions")]
    assert sizes == ["1:1", "4:3"]  # "1024*1024" and "720*480" mapped to the nearest ratios


def test_a_video_reply_without_a_task_id_is_the_guide_error(stack):
    stack.fault(TOKENS[0], {"kind": "no_task_id"})
    response = stack.http.post("/api/chat", json=video_body())
    assert response.status_code == 502
    body = response.json()
    assert body["error"] == "Task ID not found in response"
    assert body["chatId"] and body["rawResponse"]["data"]["messages"][0]["extra"] == {}
