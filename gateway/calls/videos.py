"""The videos service: which model makes a video, and a render job started or waited for.

The jobs themselves (one upstream task each, polled to the end by one replica) are `jobs.py`.
"""

from __future__ import annotations

from starlette.requests import Request

from ..catalog import ModelCatalog
from ..jobs import JobManager
from ..middleware import request_owner
from ..store import Record
from ..translate.videos import VideoRequest
from .lifetime import keep_going


async def video_model(catalog: ModelCatalog, requested: str | None) -> str:
    """The upstream id of a model that can make videos (chat type t2v)."""
    return (await catalog.pick(requested, "t2v")).info.id


async def start_video(request: Request, video: VideoRequest, model: str) -> Record:
    """A new job for the caller. Not cancelled if the client leaves: once Qwen accepts, the render
    spends the account's daily quota, so the job is kept and can be found with GET /v1/videos."""
    jobs: JobManager = request.app.state.jobs
    job = await keep_going(jobs.create(video, model, request_owner(request.scope)))
    request.state.account = job["account_id"]
    return job


async def wait_video(request: Request, job: Record) -> Record:
    """The job once finished (completed or failed); the wait ends if the client leaves, the job does not."""
    jobs: JobManager = request.app.state.jobs
    return await jobs.wait(job["id"], job["owner"])
