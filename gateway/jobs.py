"""Video jobs: a render started on a pooled account, then polled to its end (`job_poller.py`).

The render is started through the pool, so a rate-limited or cooling account hands
it to another. The task then belongs to the account that started it, which alone is
asked about it (its status, its file). Jobs live in the store and belong to the API key
that created them (`owner`): another key finds none of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from .accounts import AccountPool
from .config import VideoSettings
from .errors import NotFound, UpstreamError, UpstreamNoTaskId
from .job_poller import FINISHED_JOBS as FINISHED_JOBS  # re-exported: /metrics reads it here
from .job_poller import NAMESPACE as NAMESPACE  # re-exported: the status page lists the jobs
from .job_poller import JobPollers, job_client, save_job
from .qwen.client import QwenClient
from .qwen.detail import find_task_id, task_id_from_detail
from .qwen.replies import Download
from .store import Record, Store, StoreUnavailable
from .translate.chat import completion_payload
from .translate.videos import FINISHED, VideoRequest, new_job, rendered, task_id_of, video_object

log = logging.getLogger("gateway.jobs")
TASKS = "video-tasks"  # upstream task id → video id, for the original API's task status
EXPIRED_URL_STATUSES = frozenset({401, 403, 404, 410})  # a signed CDN URL past its time


class JobManager:
    """Creates, reads and deletes video jobs, and owns their pollers."""

    def __init__(
        self, store: Store, pool: AccountPool, settings: VideoSettings, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._pool = pool
        self._settings = settings
        self._clock = clock
        self._pollers = JobPollers(store, pool, settings, clock)

    @property
    def polling(self) -> int:
        """The jobs this replica polls now (/metrics)."""
        return len(self._pollers)

    @property
    def poll_after_ms(self) -> int:
        """How often clients should look again: the upstream is polled no faster."""
        return max(1, round(self._settings.poll_interval * 1000))

    async def start(self) -> None:
        """Resume polling every unfinished job nobody polls (after a restart), and keep looking."""
        await self._pollers.start()

    async def stop(self) -> None:
        await self._pollers.stop()

    async def create(self, request: VideoRequest, model: str, owner: str = "") -> Record:
        """Start the render upstream (failing over between accounts), store the job, poll it."""
        if not self._store.healthy():  # the render would spend an account's daily quota, then be lost
            raise StoreUnavailable(f"The shared state store ({self._store.kind}) is unreachable: a video could not be "
                                   "tracked, so none was started; try again shortly.", headers={"retry-after": "1"})

        async def attempt(client: QwenClient) -> tuple[str, str]:
            chat_id = await client.create_chat(model, "t2v")
            payload = completion_payload(chat_id=chat_id, model=model, content=request.prompt, chat_type="t2v",
                                         size=request.ratio, stream=False)
            reply = await client.complete(chat_id, payload)
            # §5: the usual place, else anywhere in the reply, else the chat detail (5 reads)
            task_id = task_id_of(reply) or find_task_id(reply) or await task_id_from_detail(
                client, chat_id, delay=self._settings.detail_interval)
            if task_id is None:
                raise UpstreamNoTaskId("Qwen accepted the video request but returned no task id",
                                       chat_id=chat_id, reply=reply)
            return chat_id, task_id

        lease = await self._pool.run(attempt, mode="t2v")
        chat_id, task_id = lease.value
        job = new_job(request, model, lease.account_id, task_id, self._clock(), self._settings.job_ttl, chat_id)
        job["owner"] = owner
        await self._save(job)
        await self._store.put(TASKS, task_id, {"video_id": job["id"]}, job["expires_at"] - self._clock())
        log.info("video %s: task %s started on account %s", job["id"], job["task_id"], job["account_id"])
        await self._pollers.adopt(job["id"])
        return job

    async def get(self, video_id: str, owner: str = "") -> Record:
        """The job, if `owner` (the API key's owner id) created it: anyone else is told it does not exist."""
        job = await self._store.get(NAMESPACE, video_id)
        if job is None or job.get("owner", "") != owner:
            raise NotFound(f"No video with id '{video_id}' (it may have expired).", param="video_id")
        return job

    async def list(self, owner: str = "") -> list[Record]:
        return [job for job in await self._store.list(NAMESPACE) if job.get("owner", "") == owner]

    async def by_task(self, task_id: str, owner: str = "") -> Record:
        """The job of an upstream task id (the legacy API names jobs by it), or of a video id."""
        link = await self._store.get(TASKS, task_id)
        try:
            return await self.get(link["video_id"] if link else task_id, owner)
        except NotFound:
            raise NotFound(f"Task '{task_id}' not found (it may have expired).", param="task_id") from None

    async def wait(self, video_id: str, owner: str = "", step: float = 1.0) -> Record:
        """The job once it has finished (completed or failed); its poller bounds the time."""
        while (job := await self.get(video_id, owner))["status"] not in FINISHED:
            await asyncio.sleep(min(step, self._settings.poll_interval))
        return job

    async def delete(self, video_id: str, owner: str = "") -> None:
        job = await self.get(video_id, owner)
        self._pollers.cancel(video_id)
        await self._store.delete(TASKS, job["task_id"])
        if not await self._store.delete(NAMESPACE, video_id):
            raise NotFound(f"No video with id '{video_id}' (it may have expired).", param="video_id")

    def render(self, job: Record) -> dict[str, Any]:
        return video_object(job, self._clock(), self._settings.typical_render)

    async def open_content(self, job: Record) -> Download:
        """The rendered mp4, through the account that made it; an expired URL is renewed once."""
        client = job_client(self._pool, job)
        download = await client.open_download(job["video_url"])
        if download.status in EXPIRED_URL_STATUSES:
            download.close()
            task = await client.task_status(job["task_id"], self._settings.status_api)
            if rendered(task.status) and task.content:
                await self._save({**job, "video_url": task.content})
                download = await client.open_download(task.content)
        if download.status >= 400 or download.content_type.startswith("text/html"):  # an error or a WAF page
            download.close()
            kind = download.content_type or "no content type"
            raise UpstreamError(f"Qwen's file host answered HTTP {download.status} ({kind}) for this video; "
                                "it may no longer be available upstream")
        return download

    async def _save(self, job: Record) -> None:
        await save_job(self._store, job, self._clock())
