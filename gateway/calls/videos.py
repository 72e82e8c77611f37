"""The videos service: which model makes a video, and a render job started or waited for.

The jobs themselves (one upstream task each, polled to the end by one replica) are `jobs.py`.
"""

from __future__ import annotations

from starlette.requests import Request

from ..catalog import ModelCatalog
from ..errors import InvalidRequest
from ..jobs import JobManager
from ..middleware import request_owner
from ..store import Record
from ..translate.videos import VideoRequest
from .lifetime import keep_going


async def video_model(catalog: ModelCatalog, requested: str | None) -> str:
    """The upstream id of a model that can make videos (chat type t2v)."""
    models = await catalog.models()
    capable = [m.id for m in models if "t2v" in m.chat_types]
    if requested is None:
        if not capable:
            raise InvalidRequest("No upstream model can make videos (none lists chat type t2v).", param="model",
                                 status=404, code="model_not_found")
        return capable[0]
    model = (await catalog.resolve(requested)).info
    if "t2v" not in model.chat_types:
        raise InvalidRequest(f"The model '{requested}' cannot make videos; use one of: {', '.join(capable) or 'none'}.",
                             param="model", code="model_not_supported")
    return model.id


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
