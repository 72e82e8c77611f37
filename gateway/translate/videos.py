"""OpenAI Videos API ⇄ video job records. Pure: no I/O, the time is passed in.

A job record is a JSON-serialisable dict (it lives in the store): the 13 fields of
OpenAI's Video object plus what the poller needs (`account_id`, `task_id`, `video_url`,
`started_at`). Qwen renders one clip of about 5 s whatever is asked, so `seconds`
takes OpenAI's values, is echoed back as asked, and does not change the render.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidRequest
from ..schemas import VideoListQuery, check_query
from .sizes import RATIOS, to_ratio

VIDEO_SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
DEFAULT_SIZE = "720x1280"  # OpenAI's default: portrait, 9:16
SECONDS = ("4", "8", "12")
DEFAULT_SECONDS = "4"
FINISHED = frozenset({"completed", "failed"})  # a job's own end states
RENDERED = frozenset({"success", "completed"})  # the upstream task statuses that mean done
VIDEO_FIELDS = ("id", "object", "model", "status", "progress", "created_at", "completed_at", "expires_at",
                "prompt", "size", "seconds", "remixed_from_video_id", "error")
MAX_PROGRESS_BEFORE_DONE = 95


@dataclass(frozen=True)
class VideoRequest:
    prompt: str
    model: str | None  # None: the first video-capable upstream model
    size: str  # as the client asked, reported back
    ratio: str  # what the upstream gets
    seconds: str


def parse_video_request(fields: Mapping[str, Any]) -> VideoRequest:
    """Validate a `POST /v1/videos` body (JSON object or form fields)."""
    prompt = fields.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequest("'prompt' is required and must be a non-empty string.", param="prompt")
    if fields.get("input_reference") not in (None, ""):
        raise InvalidRequest("'input_reference' (image to video) is not supported yet; send a text prompt only.",
                             param="input_reference")
    model = fields.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise InvalidRequest("'model' must be a non-empty string.", param="model")
    size = fields.get("size") or DEFAULT_SIZE
    if size not in VIDEO_SIZES and size not in RATIOS:
        raise InvalidRequest(f"Unsupported size {_shown(size)}: use one of {', '.join(VIDEO_SIZES)} "
                             f"or an aspect ratio {', '.join(RATIOS)}.", param="size")
    seconds = fields.get("seconds", DEFAULT_SECONDS)
    seconds = str(seconds) if isinstance(seconds, int) and not isinstance(seconds, bool) else seconds
    if seconds not in SECONDS:
        raise InvalidRequest(f"Unsupported seconds {_shown(seconds)}: use '4', '8' or '12' "
                             "(Qwen renders a clip of about 5 s whichever is asked).", param="seconds")
    return VideoRequest(prompt.strip(), model.strip() if model else None, size, to_ratio(size), seconds)


def _shown(value: Any) -> str:
    # Echo short strings only: a form field may be a whole uploaded file.
    return repr(value) if isinstance(value, str | int) and len(str(value)) <= 40 else "value"


def task_id_of(reply: Any) -> str | None:
    """`data.messages[0].extra.wanx.task_id` of a t2v completion reply (§5)."""
    try:
        task_id = reply["data"]["messages"][0]["extra"]["wanx"]["task_id"]
    except (KeyError, IndexError, TypeError):
        return None
    return str(task_id) if task_id else None


def new_job(request: VideoRequest, model: str, account_id: str, task_id: str, now: float, ttl: float,
            chat_id: str | None = None) -> dict[str, Any]:
    """A queued job: the Video fields, then the poller's (`started_at` keeps sub-second time)."""
    return {
        "id": f"video_{uuid.uuid4().hex}", "object": "video", "model": model, "status": "queued", "progress": 0,
        "created_at": int(now), "completed_at": None, "expires_at": int(now) + math.ceil(ttl),
        "prompt": request.prompt, "size": request.size, "seconds": request.seconds, "remixed_from_video_id": None,
        "error": None, "started_at": now, "account_id": account_id, "task_id": task_id, "video_url": None,
        "ratio": request.ratio, "chat_id": chat_id,
    }


def estimated_progress(job: Mapping[str, Any], now: float, typical_render: float) -> int:
    """Qwen reports no progress: guess it from the time spent against a typical render."""
    if job["status"] == "completed":
        return 100
    if job["status"] != "in_progress":
        return int(job.get("progress") or 0)
    share = (now - job["started_at"]) / typical_render
    return max(0, min(MAX_PROGRESS_BEFORE_DONE, int(share * 100)))


def video_object(job: Mapping[str, Any], now: float, typical_render: float) -> dict[str, Any]:
    """The 13 fields of OpenAI's Video object, all present."""
    video = {name: job.get(name) for name in VIDEO_FIELDS}
    video["progress"] = estimated_progress(job, now, typical_render)
    return video


def rendered(task_status: str) -> bool:
    """The one rule for "Qwen says the render is done" (§5: both words are seen)."""
    return task_status in RENDERED


def after_status(
    job: Mapping[str, Any], task_status: str, content: str, message: str, now: float, typical_render: float
) -> dict[str, Any]:
    """The job once the upstream says `task_status` (§5: anything unknown is a failure)."""
    if task_status == "running":
        return {**job, "status": "in_progress"} if job["status"] == "queued" else dict(job)
    if rendered(task_status):
        if not content:
            return failed(job, "upstream_error", "Qwen reported the render done but gave no video URL.", now,
                          typical_render)
        return {**job, "status": "completed", "progress": 100, "completed_at": int(now), "video_url": content}
    if task_status == "not_found":
        return failed(job, "task_not_found", "Qwen no longer knows this render task.", now, typical_render)
    detail = f": {message}" if message else ""
    return failed(job, "video_generation_failed", f"Qwen could not render the video (status {task_status!r}){detail}.",
                  now, typical_render)


def failed(job: Mapping[str, Any], code: str, message: str, now: float, typical_render: float) -> dict[str, Any]:
    """The job ended without a video; progress stays where the estimate had it."""
    return {**job, "status": "failed", "progress": estimated_progress(job, now, typical_render),
            "completed_at": int(now), "error": {"code": code, "message": message}}


@dataclass(frozen=True)
class ListQuery:
    after: str | None
    limit: int
    order: str


def parse_list_query(params: Mapping[str, str]) -> ListQuery:
    query = check_query(VideoListQuery, params)
    return ListQuery(query.after or None, query.limit, query.order)


def list_page(
    jobs: list[dict[str, Any]], query: ListQuery, render: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """One cursor page of Video objects, newest first unless `order=asc`."""
    ordered = sorted(jobs, key=lambda j: (j["started_at"], j["id"]), reverse=query.order == "desc")
    start = 0
    if query.after is not None:
        ids = [j["id"] for j in ordered]
        if query.after not in ids:
            raise InvalidRequest(f"'after' names no listed video: {query.after!r}.", param="after")
        start = ids.index(query.after) + 1
    page = [render(j) for j in ordered[start:start + query.limit]]
    return {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None, "has_more": start + query.limit < len(ordered)}
