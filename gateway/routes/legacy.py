"""The original Node "Qwen API Proxy" API, for clients written against it (its guide:
shared/original-proxy-guide.md). A second face on the same services as /v1:

- `POST /api/chat`: `message` or `messages`, `chatType` t2t | t2i | t2v, `size`,
  `chatId` / `parentId`, `waitForCompletion`, `stream` (t2t);
- `GET /api/tasks/status/{taskId}`, `POST /api/files/upload`, `GET /api/models`;
- `POST /api/chat/completions`, its OpenAI-style endpoint, is /v1/chat/completions.

Errors keep the guide's `{"error": ...}` shape (see `legacy_error`).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..calls.images import image_in_chat
from ..calls.lifetime import watched
from ..calls.uploads import read_upload, store_upload
from ..calls.videos import start_video, video_model, wait_video
from ..errors import GatewayError, InvalidRequest, UpstreamNoTaskId
from ..jobs import JobManager
from ..limits import read_json
from ..middleware import request_owner
from ..offload import read_chat_request
from ..schemas import LegacyChatBody, check
from ..translate.chat import parse_chat_request, text_of
from ..translate.images import ImageRequest
from ..translate.sizes import to_ratio
from ..translate.videos import DEFAULT_SECONDS, VideoRequest
from .common import json_response
from .render import answer_chat

DEFAULT_MODEL = "qwen-max-latest"
# Job states as the guide's loops read them: they stop on "completed" (or "failed").
TASK_STATUSES = {"queued": "processing", "in_progress": "running", "completed": "completed", "failed": "failed"}
CHAT_TYPES = ("t2t", "t2i", "t2v")


def legacy_error(error: GatewayError) -> dict[str, Any]:
    """The original proxy's error shape: `{"error": "..."}`, or RateLimited with its detail."""
    if error.status == 429:
        return {"error": "RateLimited", "detail": error.message}
    return {"error": error.message}


async def legacy_chat(request: Request) -> Response:
    body = await read_json(request, request.app.state.settings.max_body_bytes)
    check(LegacyChatBody, body)
    chat_type = body.get("chatType") or "t2t"
    if chat_type not in CHAT_TYPES:
        raise InvalidRequest(f"Unknown chatType '{chat_type}': use one of {', '.join(CHAT_TYPES)}.", param="chatType")
    messages = _messages(body)
    model = body.get("model") or DEFAULT_MODEL
    if chat_type == "t2t":
        chat = parse_chat_request({
            "model": model, "messages": messages, "stream": body.get("stream") is True,
            "chat_id": body.get("chatId") or None, "parent_id": body.get("parentId") or None,
        })
        return await answer_chat(request, chat, _with_legacy_ids)
    prompt = text_of(messages[-1]).strip()
    if not prompt:
        raise InvalidRequest("'message' must describe what to generate.", param="message")
    if chat_type == "t2i":
        return await _image(request, body, model, prompt)
    return await _video(request, body, model, prompt)


async def _image(request: Request, body: dict[str, Any], model_name: str, prompt: str) -> Response:
    """t2i: one upstream image answer, shaped as the guide's chat.completion with the image URL."""
    ratio = to_ratio(body.get("size"), param="size")
    image_request = ImageRequest(prompt, model_name, 1, ratio, "url")
    answer = await image_in_chat(request, image_request, body.get("chatId") or None, body.get("parentId") or None)
    first = answer.images[0]
    usage = {"input_tokens": 0, "output_tokens": 0, "characters": 0, "width": first.width,
             "image_count": len(answer.images), "height": first.height}
    content = "\n".join(image.url for image in answer.images)
    return json_response(_legacy_completion(answer.response_id, model_name, content, usage, answer.chat_id))


async def _video(request: Request, body: dict[str, Any], model_name: str, prompt: str) -> Response:
    """t2v: a video job as /v1/videos makes it; waited for unless `waitForCompletion` is false."""
    model_id = await video_model(request.app.state.catalog, model_name)
    request.state.model = model_id
    ratio = to_ratio(body.get("size"), default="16:9", param="size")
    try:
        job = await start_video(request, VideoRequest(prompt, model_id, ratio, ratio, DEFAULT_SECONDS), model_id)
    except UpstreamNoTaskId as exc:
        return json_response({"error": "Task ID not found in response", "chatId": exc.chat_id,
                              "rawResponse": exc.reply}, 502)
    ids = {"chatId": job["chat_id"], "task_id": job["task_id"]}
    if body.get("waitForCompletion") is False:
        return json_response({"status": "processing", "model": model_name, "created": job["created_at"], **ids})
    job = await wait_video(request, job)
    if job["status"] == "failed":
        if job["error"]["code"] == "timeout":
            return json_response({"error": "Task polling timeout exceeded", "status": "timeout", **ids}, 504)
        return json_response({"error": job["error"]["message"], "status": "failed", **ids}, 502)
    usage = {"prompt_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    return json_response(_legacy_completion(job["task_id"], model_name, job["video_url"], usage, job["chat_id"],
                                            task_id=job["task_id"], video_url=job["video_url"]))


async def legacy_task_status(request: Request) -> Response:
    """A video task's state as the guide's polling loops read it: `task_status`, then `content`."""
    jobs: JobManager = request.app.state.jobs
    job = await jobs.by_task(request.path_params["task_id"], request_owner(request.scope))
    status = TASK_STATUSES[job["status"]]
    content = job["video_url"] or ""
    reply: dict[str, Any] = {"task_id": job["task_id"], "task_status": status, "status": status, "content": content,
                             "progress": jobs.render(job)["progress"], "chatId": job["chat_id"],
                             "data": {"task_status": status, "content": content}}
    if job["error"]:
        reply["error"] = job["error"]["message"]
    return json_response(reply)


async def legacy_upload(request: Request) -> Response:
    """`file` → Qwen's storage; the URL works in a later /api/chat image part for a vision model."""
    _, part = await read_upload(request)
    record, uploaded = await store_upload(request, part, "vision")
    return json_response({"imageUrl": uploaded.file_url, "fileUrl": uploaded.file_url, "fileId": uploaded.file_id,
                          "id": record["id"], "fileName": record["filename"], "size": record["bytes"]})


def _legacy_completion(response_id: str, model: str, content: str, usage: dict[str, Any], chat_id: str,
                       **extra: Any) -> dict[str, Any]:
    return {
        "id": response_id, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": usage, "response_id": response_id, "chatId": chat_id, "parentId": response_id, **extra,
    }


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """`message` (a string or content parts) or OpenAI-style `messages`; never empty."""
    if body.get("messages") is not None:
        messages = body["messages"]
        if not isinstance(messages, list) or not messages:
            raise InvalidRequest("'messages' must be a non-empty array.", param="messages")
        return messages
    message = body.get("message")
    if isinstance(message, str) and message.strip():
        return [{"role": "user", "content": message}]
    if isinstance(message, list) and message:
        return [{"role": "user", "content": message}]
    raise InvalidRequest("'message' is required: a non-empty string (or content parts).", param="message")


def _with_legacy_ids(completion: dict[str, Any]) -> dict[str, Any]:
    # The original proxy answers with the ids that continue the upstream conversation.
    return {**completion, "response_id": completion["parent_id"], "chatId": completion["chat_id"],
            "parentId": completion["parent_id"]}


async def legacy_chat_completions(request: Request) -> Response:
    """The guide's OpenAI-style endpoint: /v1/chat/completions' service and answers."""
    chat = await read_chat_request(request, request.app.state.settings.max_body_bytes)
    return await answer_chat(request, chat)


async def legacy_models(request: Request) -> Response:
    catalog = request.app.state.catalog
    models = await catalog.models()
    return json_response({"object": "list", "data": [
        {"id": m.id, "name": m.name, "object": "model", "owned_by": "qwen",
         "info": {"meta": {"capabilities": {"thinking": m.thinking, "vision": m.vision},
                           "chat_type": sorted(m.chat_types)}}}
        for m in models
    ]})


ROUTES = [
    watched(Route("/api/chat", legacy_chat, methods=["POST"])),
    Route("/api/tasks/status/{task_id}", legacy_task_status),
    watched(Route("/api/files/upload", legacy_upload, methods=["POST"])),
    watched(Route("/api/chat/completions", legacy_chat_completions, methods=["POST"])),
    Route("/api/models", legacy_models),
]
