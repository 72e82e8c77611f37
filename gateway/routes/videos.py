"""OpenAI's Videos API: `POST/GET /v1/videos`, `GET/DELETE /v1/videos/{id}`, `GET /v1/videos/{id}/content`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..calls.lifetime import watched
from ..calls.videos import start_video, video_model
from ..errors import InvalidRequest
from ..forms import read_form
from ..jobs import JobManager
from ..limits import read_json
from ..middleware import request_owner
from ..qwen.replies import Download
from ..schemas import VideoBody, check
from ..translate.videos import list_page, parse_list_query, parse_video_request
from .common import json_response


async def create_video(request: Request) -> Response:
    state = request.app.state
    video = parse_video_request(await _fields(request, state.settings.max_body_bytes))
    model = await video_model(state.catalog, video.model)
    request.state.model = model
    job = await start_video(request, video, model)
    return json_response(state.jobs.render(job))


async def list_videos(request: Request) -> Response:
    jobs: JobManager = request.app.state.jobs
    query = parse_list_query(request.query_params)
    return json_response(list_page(await jobs.list(request_owner(request.scope)), query, jobs.render))


async def retrieve_video(request: Request) -> Response:
    jobs: JobManager = request.app.state.jobs
    job = await jobs.get(request.path_params["video_id"], request_owner(request.scope))
    return json_response(jobs.render(job), headers={"openai-poll-after-ms": str(jobs.poll_after_ms)})


async def delete_video(request: Request) -> Response:
    video_id = request.path_params["video_id"]
    await request.app.state.jobs.delete(video_id, request_owner(request.scope))
    return json_response({"id": video_id, "object": "video.deleted", "deleted": True})


async def video_content(request: Request) -> Response:
    jobs: JobManager = request.app.state.jobs
    job = await jobs.get(request.path_params["video_id"], request_owner(request.scope))
    variant = request.query_params.get("variant", "video")
    if variant != "video":
        raise InvalidRequest(f"variant '{variant}' is not available: Qwen renders only the video itself "
                             "(variant=video).", param="variant")
    if job["status"] != "completed":
        failed = job["status"] == "failed"
        message = "failed, so it has no content" if failed else f"is {job['status']}; its content is not ready yet"
        raise InvalidRequest(f"Video '{job['id']}' {message}.", param="video_id", status=409,
                             code="video_failed" if failed else "video_not_ready", headers={"x-should-retry": "false"})
    request.state.account = job["account_id"]
    download = await jobs.open_content(job)
    headers = {"content-length": download.length} if download.length else None
    return DownloadResponse(download, headers)


class DownloadResponse(StreamingResponse):
    """The upstream bytes as they come; the upstream response is closed however streaming ends."""

    def __init__(self, download: Download, headers: dict[str, str] | None) -> None:
        super().__init__(download.chunks(), headers=headers, media_type="video/mp4")
        self._download = download

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._download.close()


async def _fields(request: Request, max_bytes: int) -> dict[str, Any]:
    """The create body: JSON, or the multipart form the openai client sends."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await read_form(request, max_bytes=max_bytes, max_files=1)
        return {**form.fields, **{part.field: part for part in form.files}}
    body = await read_json(request, max_bytes)
    check(VideoBody, body)
    return body  # type: ignore[no-any-return]


ROUTES = [
    watched(Route("/v1/videos", create_video, methods=["POST"])),  # the render itself: keep_going
    Route("/v1/videos", list_videos, methods=["GET"]),
    Route("/v1/videos/{video_id}", retrieve_video, methods=["GET"]),
    Route("/v1/videos/{video_id}", delete_video, methods=["DELETE"]),
    watched(Route("/v1/videos/{video_id}/content", video_content, methods=["GET"])),
]
