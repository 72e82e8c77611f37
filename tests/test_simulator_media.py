"""Phase 2 of the simulator: uploads (STS + OSS), vision, t2i, image edit, t2v tasks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import struct
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.simulator import RunningSimulator
from gateway.simulator.testing import (
    answer_text,
    complete,
    completion_body,
    deltas,
    new_chat,
    parse_sse,
    queue_faults,
    set_options,
)

TOKEN = "token-media"
STS_BODY = {"filename": "a.png", "filesize": "9", "filetype": "image"}
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
pytestmark = pytest.mark.asyncio(loop_scope="module")


# `sim` and `client` (a fresh simulator state per test) come from tests/conftest.py.


def sts_data(reply: httpx.Response) -> dict[str, Any]:
    body = reply.json()
    return body["data"] if isinstance(body.get("data"), dict) and "access_key_id" in body["data"] else body


async def get_sts(client: httpx.AsyncClient, name: str = "a.png", size: int = len(PNG)) -> dict[str, Any]:
    body = {"filename": name, "filesize": str(size), "filetype": "image"}
    reply = await client.post("/api/v2/files/getstsToken", json=body)
    return sts_data(reply)


def signed_put_headers(sts: dict[str, Any], content_type: str, secret: str | None = None) -> dict[str, str]:
    """OSS V1, written from the protocol text (independent of the simulator's code)."""
    date = formatdate(usegmt=True)
    to_sign = (f"PUT\n\n{content_type}\n{date}\nx-oss-security-token:{sts['security_token']}\n"
               f"/{sts['bucketname']}/{sts['file_path']}")
    key = (secret or sts["access_key_secret"]).encode()
    signature = base64.b64encode(hmac.new(key, to_sign.encode(), hashlib.sha1).digest()).decode()
    return {"authorization": f"OSS {sts['access_key_id']}:{signature}", "date": date,
            "x-oss-security-token": sts["security_token"], "content-type": content_type}


async def upload(client: httpx.AsyncClient, data: bytes = PNG, name: str = "a.png") -> dict[str, Any]:
    sts = await get_sts(client, name, len(data))
    assert sts["endpoint"].startswith("http")  # a scheme: PUT <endpoint>/<file_path>
    reply = await client.put(f"{sts['endpoint']}/{sts['file_path']}", content=data,
                             headers=signed_put_headers(sts, "image/png"))
    assert reply.status_code == 200, reply.text
    return sts


def png_dimensions(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# -- STS and OSS ---------------------------------------------------------------------

async def test_sts_wrapped_reply_points_at_the_simulator(sim: RunningSimulator, client: httpx.AsyncClient) -> None:
    body = (await client.post("/api/v2/files/getstsToken", json=STS_BODY)).json()
    assert body["success"] is True
    data = body["data"]
    assert data["access_key_id"].startswith("STS.") and data["access_key_secret"] and data["security_token"]
    assert data["bucketname"] == "qwen-webui-prod" and data["region"] == "oss-ap-southeast-1"
    assert data["endpoint"] == f"{sim.url}/oss"
    assert data["file_path"].endswith("_a.png") and data["file_id"] in data["file_path"]
    assert data["file_url"].startswith(f"{sim.url}/files/{data['file_path']}?key=")
    again = sts_data(await client.post("/api/v1/files/getstsToken", json=STS_BODY))
    assert again["access_key_id"] != data["access_key_id"]  # fresh credentials per call


async def test_sts_flat_form(client: httpx.AsyncClient) -> None:
    await set_options(client, sts_form="flat")
    body = (await client.post("/api/v2/files/getstsToken", json=STS_BODY)).json()
    assert "success" not in body and body["access_key_id"].startswith("STS.")


async def test_sts_key_sets(client: httpx.AsyncClient) -> None:
    old = {"filename": "a.png", "filesize": 9, "filetype": "image"}
    new = {"file_name": "a.png", "file_size": 9, "file_type": "image"}
    assert "access_key_id" in sts_data(await client.post("/api/v1/files/getstsToken", json=old))
    as_string = dict(old, filesize="9")  # as the web UI sends it
    assert "access_key_id" in sts_data(await client.post("/api/v2/files/getstsToken", json=as_string))
    refused = (await client.post("/api/v2/files/getstsToken", json=new)).json()
    assert refused == {"success": False, "request_id": refused["request_id"], "code": "Bad_Request",
                       "details": "Invalid file information!"}
    await set_options(client, sts_keys="new")
    no_type = {k: v for k, v in new.items() if k != "file_type"}
    assert (await client.post("/api/v2/files/getstsToken", json=no_type)).json()["code"] == "Bad_Request"
    assert "access_key_id" in sts_data(await client.post("/api/v2/files/getstsToken", json=new))
    assert (await client.post("/api/v1/files/getstsToken", json=old)).json()["code"] == "Bad_Request"
    await set_options(client, sts_keys="any")
    for body in (old, new):
        assert "access_key_id" in sts_data(await client.post("/api/v2/files/getstsToken", json=body))


async def test_sts_fault(client: httpx.AsyncClient) -> None:
    await queue_faults(client, TOKEN, {"kind": "ratelimited", "on": "sts"})
    reply = await client.post("/api/v2/files/getstsToken", json=STS_BODY)
    assert reply.json()["data"]["code"] == "RateLimited"


async def test_oss_put_then_serve(client: httpx.AsyncClient) -> None:
    sts = await upload(client, PNG)
    served = await client.get(sts["file_url"])
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png"


async def test_oss_rejects_bad_signatures(client: httpx.AsyncClient) -> None:
    sts = await get_sts(client)
    target = f"{sts['endpoint']}/{sts['file_path']}"
    wrong = await client.put(target, content=PNG, headers=signed_put_headers(sts, "image/png", secret="nope"))
    assert wrong.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in wrong.text
    headers = signed_put_headers(sts, "image/png")
    wrong_type = await client.put(target, content=PNG, headers=headers | {"content-type": "image/jpeg"})
    assert "<Code>SignatureDoesNotMatch</Code>" in wrong_type.text
    no_token = await client.put(target, content=PNG, headers={k: v for k, v in headers.items()
                                                               if k != "x-oss-security-token"})
    assert no_token.status_code == 403 and "<Code>InvalidAccessKeyId</Code>" in no_token.text
    unknown = await client.put(target, content=PNG, headers=headers | {"authorization": "OSS STS.nobody:abc"})
    assert "<Code>InvalidAccessKeyId</Code>" in unknown.text
    other_path = await client.put(f"{sts['endpoint']}/someone/else.png", content=PNG, headers=headers)
    assert other_path.status_code == 403
    assert (await client.get(sts["file_url"])).status_code == 404  # nothing stored


# -- vision ------------------------------------------------------------------------

def image_note(data: bytes) -> str:
    return f" [image: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:12]}]"


async def test_vision_files_form(client: httpx.AsyncClient) -> None:
    sts = await upload(client)
    chat_id = await new_chat(client, "qwen3.7-plus")
    files = [{"type": "image", "name": "a.png", "file_type": "image/png", "showType": "image",
              "file_class": "vision", "status": "uploaded", "url": sts["file_url"]}]
    reply = await complete(client, completion_body(chat_id, "Describe it", model="qwen3.7-plus", files=files))
    assert answer_text(parse_sse(reply.text)) == "You said: Describe it" + image_note(PNG)


async def test_vision_content_array_form(client: httpx.AsyncClient) -> None:
    first, second = await upload(client), await upload(client, PNG + b"\x00", "b.png")
    chat_id = await new_chat(client, "qwen3-vl-plus")
    content = [{"type": "text", "text": "Compare"}, {"type": "image", "image": first["file_url"]},
               {"type": "image", "image": second["file_url"]}]
    reply = await complete(client, completion_body(chat_id, content, model="qwen3-vl-plus"))
    assert answer_text(parse_sse(reply.text)) == "You said: Compare" + image_note(PNG) + image_note(PNG + b"\x00")


@pytest.mark.parametrize("url", [
    "data:image/png;base64," + base64.b64encode(PNG).decode(),
    "https://example.com/cat.png",
    "SIM/files/never-uploaded.png",
])
async def test_vision_refuses_foreign_images(sim: RunningSimulator, client: httpx.AsyncClient, url: str) -> None:
    chat_id = await new_chat(client, "qwen3.7-plus")
    content = [{"type": "text", "text": "Describe"}, {"type": "image", "image": url.replace("SIM", sim.url)}]
    events = parse_sse((await complete(client, completion_body(chat_id, content, model="qwen3.7-plus"))).text)
    assert events[1] == {"error": {"code": "invalid_input", "details": "输入或附件无效。请检查后重试。"}}


async def test_vision_refuses_own_url_on_another_host(sim: RunningSimulator, client: httpx.AsyncClient) -> None:
    sts = await upload(client)
    parts = urlsplit(sts["file_url"])
    foreign = sts["file_url"].replace(parts.netloc, "cdn.example.com")
    chat_id = await new_chat(client, "qwen3.7-plus")
    content = [{"type": "text", "text": "x"}, {"type": "image", "image": foreign}]
    events = parse_sse((await complete(client, completion_body(chat_id, content, model="qwen3.7-plus"))).text)
    assert events[1]["error"]["code"] == "invalid_input"


async def test_image_on_a_text_only_model_is_invalid_input(client: httpx.AsyncClient) -> None:
    sts = await upload(client)
    chat_id = await new_chat(client)
    content = [{"type": "text", "text": "x"}, {"type": "image", "image": sts["file_url"]}]
    events = parse_sse((await complete(client, completion_body(chat_id, content))).text)
    assert events[1]["error"]["code"] == "invalid_input"


# -- t2i and image edit ---------------------------------------------------------------

@pytest.mark.parametrize(("size", "width", "height"), [
    ("16:9", 2688, 1536), ("9:16", 1536, 2688), ("1:1", 2048, 2048), ("4:3", 2368, 1776),
    ("3:4", 1776, 2368), ("1024x1024", 2048, 2048),
])
async def test_t2i_stream_and_served_png(client: httpx.AsyncClient, size: str, width: int, height: int) -> None:
    chat_id = await new_chat(client, "qwen-image-2.0-pro", "t2i")
    reply = await complete(client, completion_body(chat_id, "a red fox", model="qwen-image-2.0-pro",
                                                   chat_type="t2i", size=size))
    events = parse_sse(reply.text)
    created = events[0]["response.created"]
    ds = deltas(events)
    images = [d for d in ds if d["phase"] == "image_gen" and d["status"] == "typing"]
    assert len(images) == 1 and ds[-1] == {"role": "assistant", "content": "", "phase": "image_gen",
                                           "status": "finished"}
    assert images[0]["extra"]["output_image_hw"] == [[height, width]]
    usage = next(e["usage"] for e in events if isinstance(e, dict) and "usage" in e)
    assert usage == {"input_tokens": 0, "output_tokens": 0, "width": width, "height": height, "image_count": 1}
    url = images[0]["content"]
    assert f"/t2i/{created['response_id']}/1.png?key=" in url
    served = await client.get(url)
    assert served.headers["content-type"] == "image/png"
    assert png_dimensions(served.content) == (width // 16, height // 16)


async def test_t2i_with_thinking_prologue(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client, "qwen3.7-plus", "t2i")
    reply = await complete(client, completion_body(chat_id, "a fox", model="qwen3.7-plus", chat_type="t2i",
                                                   size="16:9", thinking=True))
    phases = [d["phase"] for d in deltas(parse_sse(reply.text))]
    assert phases[:3] == ["thinking_summary"] * 3 and phases[-2:] == ["image_gen", "image_gen"]


async def test_image_edit_needs_an_uploaded_image(client: httpx.AsyncClient) -> None:
    sts = await upload(client)
    chat_id = await new_chat(client, "qwen3.7-plus", "image_edit")
    files = [{"type": "image", "file_type": "image/png", "file_class": "vision", "url": sts["file_url"]}]
    body = completion_body(chat_id, "make it blue", model="qwen3.7-plus", chat_type="image_edit", files=files)
    ds = deltas(parse_sse((await complete(client, body)).text))
    assert ds[0]["phase"] == "image_gen" and (await client.get(ds[0]["content"])).status_code == 200
    bare = completion_body(chat_id, "make it blue", model="qwen3.7-plus", chat_type="image_edit")
    assert parse_sse((await complete(client, bare)).text)[1]["error"]["code"] == "invalid_input"


# -- t2v tasks -----------------------------------------------------------------------

def video_body(chat_id: str, text: str = "a cat surfing", **extra: Any) -> dict[str, Any]:
    return completion_body(chat_id, text, model="qwen3.7-plus", chat_type="t2v", size="16:9", stream=False, **extra)


async def start_video(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    chat_id = await new_chat(client, "qwen3.7-plus", "t2v")
    reply = await complete(client, video_body(chat_id))
    assert reply.headers["content-type"].startswith("application/json")
    return chat_id, reply.json()


async def poll_v2(client: httpx.AsyncClient, task_id: str, token: str = TOKEN) -> httpx.Response:
    return await client.get(f"/api/v2/task/status/{task_id}", headers={"authorization": f"Bearer {token}"})


async def test_t2v_task_runs_then_succeeds(client: httpx.AsyncClient) -> None:
    await set_options(client, speed=1.0, video_render_seconds=0.2)
    chat_id, body = await start_video(client)
    data = body["data"]
    assert body["success"] is True and data["chat_id"] == chat_id and data["parent_id"] and data["message_id"]
    message = data["messages"][0]
    assert message["role"] == "assistant" and message["done"] is False and message["size"] == "16:9"
    task_id = message["extra"]["wanx"]["task_id"]
    running = await poll_v2(client, task_id)
    assert running.status_code == 200 and running.headers["x-actual-status-code"] == "200"
    assert running.json()["data"]["task_status"] == "running" and running.json()["data"]["content"] == ""
    await asyncio.sleep(0.25)
    done = (await poll_v2(client, task_id)).json()["data"]
    assert done["task_status"] == "success" and f"/t2v/{chat_id}/{task_id}.mp4?key=" in done["content"]
    video = await client.get(done["content"])
    assert video.headers["content-type"] == "video/mp4" and video.content[4:8] == b"ftyp"
    detail = (await client.get(f"/api/v2/chats/{chat_id}")).json()["data"]["chat"]["history"]["messages"]
    assert detail[data["parent_id"]]["extra"]["wanx"]["task_id"] == task_id


async def test_t2v_status_v1_flat_and_wrapped(client: httpx.AsyncClient) -> None:
    _, body = await start_video(client)
    task_id = body["data"]["messages"][0]["extra"]["wanx"]["task_id"]
    flat = (await client.get(f"/api/v1/tasks/status/{task_id}")).json()
    assert "success" not in flat and flat["task_status"] == "success"  # speed 0: rendered at once
    assert f"/{task_id}.mp4?key=" in flat["content"]
    await set_options(client, task_status_v1_wrapped=True)
    wrapped = (await client.get(f"/api/v1/tasks/status/{task_id}")).json()
    assert wrapped["success"] is True and wrapped["data"]["task_status"] == "success"
    missing = await client.get("/api/v1/tasks/status/nope")
    assert missing.status_code == 404 and missing.json()["data"]["code"] == "Not_Found"


async def test_task_status_v2_route_can_be_switched_off_as_before_sep_2026(client: httpx.AsyncClient) -> None:
    _, body = await start_video(client)
    task_id = body["data"]["messages"][0]["extra"]["wanx"]["task_id"]
    await set_options(client, task_status_v2=False)
    gone = await poll_v2(client, task_id)
    assert gone.status_code == 404 and "x-actual-status-code" not in gone.headers and "success" not in gone.json()
    assert (await client.get(f"/api/v1/tasks/status/{task_id}")).json()["task_status"] == "success"


async def test_t2v_task_faults(client: httpx.AsyncClient) -> None:
    await queue_faults(client, TOKEN, {"kind": "task_failed"}, {"kind": "task_never_finishes"})
    _, failed = await start_video(client)
    _, stuck = await start_video(client)
    failed_id = failed["data"]["messages"][0]["extra"]["wanx"]["task_id"]
    stuck_id = stuck["data"]["messages"][0]["extra"]["wanx"]["task_id"]
    assert (await poll_v2(client, failed_id)).json()["data"]["task_status"] == "failed"
    assert (await poll_v2(client, stuck_id)).json()["data"]["task_status"] == "running"
    await queue_faults(client, TOKEN, {"kind": "not_found"}, {"kind": "unauthorized", "on": "task_status"})
    lost = await poll_v2(client, stuck_id)
    assert lost.status_code == 200 and lost.headers["x-actual-status-code"] == "404"
    assert lost.json()["data"] == {"code": "Not_Found", "details": "Task not found"}
    expired = await poll_v2(client, stuck_id)
    assert expired.status_code == 200 and expired.headers["x-actual-status-code"] == "401"
    assert expired.json()["data"]["code"] == "Unauthorized"
    assert (await poll_v2(client, stuck_id)).json()["data"]["task_status"] == "running"


async def test_task_status_v2_unknown_foreign_and_bad_token(client: httpx.AsyncClient) -> None:
    _, body = await start_video(client)
    task_id = body["data"]["messages"][0]["extra"]["wanx"]["task_id"]
    unknown = await poll_v2(client, "no-such-task")
    assert unknown.status_code == 200 and unknown.headers["x-actual-status-code"] == "404"
    foreign = await poll_v2(client, task_id, token="someone-else")
    assert foreign.json()["data"]["code"] == "Not_Found"
    await set_options(client, valid_tokens=[TOKEN])
    bad = await poll_v2(client, task_id, token="expired")
    assert bad.status_code == 200 and bad.headers["x-actual-status-code"] == "401"
    assert bad.json()["data"]["code"] == "Unauthorized"


async def test_daily_video_quota(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client, "qwen3.7-plus", "t2v")
    for _ in range(3):
        assert (await complete(client, video_body(chat_id))).json()["success"] is True
    limited = (await complete(client, video_body(chat_id))).json()
    assert limited["data"]["code"] == "RateLimited" and limited["data"]["num"] == 10


async def test_t2v_must_not_stream(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client, "qwen3.7-plus", "t2v")
    reply = await complete(client, video_body(chat_id) | {"stream": True})
    assert reply.json()["success"] is False


async def test_t2v_message_id_is_a_parent_without_context(client: httpx.AsyncClient) -> None:
    chat_id, body = await start_video(client)
    lost = await complete(client, completion_body(chat_id, "what did I say before?", model="qwen3.7-plus",
                                                  parent_id=body["data"]["message_id"]))
    assert answer_text(parse_sse(lost.text)) == "Earlier you said nothing."
    kept = await complete(client, completion_body(chat_id, "what did I say before?", model="qwen3.7-plus",
                                                  parent_id=body["data"]["parent_id"]))
    assert answer_text(parse_sse(kept.text)) == "Earlier you said: a cat surfing"


async def test_i2v_needs_an_uploaded_image(client: httpx.AsyncClient) -> None:
    sts = await upload(client)
    chat_id = await new_chat(client, "qwen3.7-plus", "i2v")
    files = [{"type": "image", "file_class": "vision", "url": sts["file_url"]}]
    body = completion_body(chat_id, "animate", model="qwen3.7-plus", chat_type="i2v", size="16:9", stream=False,
                           files=files)
    assert (await complete(client, body)).json()["success"] is True
    bare = completion_body(chat_id, "animate", model="qwen3.7-plus", chat_type="i2v", size="16:9", stream=False)
    refused = await complete(client, bare)
    assert refused.headers["x-actual-status-code"] == "400" and refused.json()["data"]["code"] == "invalid_input"


# -- non-stream chat (Oct 2025, behind a switch) ------------------------------------------------

async def test_non_stream_chat(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    refused = await complete(client, completion_body(chat_id, "hi", stream=False))
    assert refused.json()["success"] is False
    await set_options(client, nonstream_chat=True)
    reply = (await complete(client, completion_body(chat_id, "hi", stream=False))).json()
    assert reply["data"]["choices"][0]["message"] == {"role": "assistant", "content": "You said: hi"}
    assert reply["data"]["chat_id"] == "" and reply["data"]["messages"] is None
    follow_up = completion_body(chat_id, "what did I say before?", parent_id=reply["data"]["parent_id"])
    follow = await complete(client, follow_up)
    assert answer_text(parse_sse(follow.text)) == "Earlier you said: hi"
