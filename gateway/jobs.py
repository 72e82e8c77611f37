"""Video jobs: a render started on a pooled account, then one background poller per job.

The render is started through the pool, so a rate-limited or cooling account hands
it to another. The task then belongs to the account that started it: its poller
asks that account whatever its health, since a poll is not a new generation. Jobs
live in the store; pollers stop with the process and resume at start-up for every
unfinished job, and each step re-reads its job so a deletion anywhere stops it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from .accounts import AccountPool
from .config import VideoSettings
from .errors import NoAccountAvailable, NotFound, UpstreamContract, UpstreamError, UpstreamNoTaskId, UpstreamUnauthorized
from .qwen.client import Download, QwenClient
from .store import Record, Store
from .translate.chat import completion_payload
from .qwen.detail import find_task_id, task_id_from_detail
from .translate.videos import FINISHED, VideoRequest, after_status, failed, new_job, task_id_of, video_object

log = logging.getLogger("gateway.jobs")
NAMESPACE = "videos"
MAX_BACKOFF_DOUBLINGS = 3  # a failing poll waits up to 8 intervals before the next try
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
        self._pollers: dict[str, asyncio.Task[None]] = {}

    @property
    def poll_after_ms(self) -> int:
        """How often clients should look again: the upstream is polled no faster."""
        return max(1, round(self._settings.poll_interval * 1000))

    async def start(self) -> None:
        """Resume polling every unfinished job the store holds (after a restart)."""
        for job in await self._store.list(NAMESPACE):
            if job["status"] not in FINISHED:
                self._watch(job["id"])

    async def stop(self) -> None:
        pollers = list(self._pollers.values())
        for poller in pollers:
            poller.cancel()
        await asyncio.gather(*pollers, return_exceptions=True)

    async def create(self, request: VideoRequest, model: str) -> Record:
        """Start the render upstream (failing over between accounts), store the job, poll it."""

        async def attempt(client: QwenClient) -> tuple[str, str]:
            chat_id = await client.create_chat(model, "t2v")
            payload = completion_payload(chat_id=chat_id, model=model, content=request.prompt, chat_type="t2v",
                                         size=request.ratio, stream=False)
            reply = await client.post_json(f"/api/v2/chat/completions?chat_id={chat_id}", payload)
            # §5: the usual place, else anywhere in the reply, else the chat detail (5 reads)
            task_id = task_id_of(reply) or find_task_id(reply) or await task_id_from_detail(
                client, chat_id, delay=self._settings.detail_interval)
            if task_id is None:
                raise UpstreamNoTaskId("Qwen accepted the video request but returned no task id",
                                       chat_id=chat_id, reply=reply)
            return chat_id, task_id

        lease = await self._pool.acquire(attempt)
        lease.release()
        chat_id, task_id = lease.value
        job = new_job(request, model, lease.account_id, task_id, self._clock(), self._settings.job_ttl, chat_id)
        await self._save(job)
        log.info("video %s: task %s started on account %s", job["id"], job["task_id"], job["account_id"])
        self._watch(job["id"])
        return job

    async def get(self, video_id: str) -> Record:
        job = await self._store.get(NAMESPACE, video_id)
        if job is None:
            raise NotFound(f"No video with id '{video_id}' (it may have expired).", param="video_id")
        return job

    async def list(self) -> list[Record]:
        return await self._store.list(NAMESPACE)

    async def by_task(self, task_id: str) -> Record:
        """The job of an upstream task id (the legacy API names jobs by it)."""
        for job in await self._store.list(NAMESPACE):
            if job["task_id"] == task_id or job["id"] == task_id:
                return job
        raise NotFound(f"Task '{task_id}' not found (it may have expired).", param="task_id")

    async def wait(self, video_id: str, step: float = 1.0) -> Record:
        """The job once it has finished (completed or failed); its poller bounds the time."""
        while (job := await self.get(video_id))["status"] not in FINISHED:
            await asyncio.sleep(min(step, self._settings.poll_interval))
        return job

    async def delete(self, video_id: str) -> None:
        poller = self._pollers.get(video_id)
        if poller is not None:
            poller.cancel()
        if not await self._store.delete(NAMESPACE, video_id):
            raise NotFound(f"No video with id '{video_id}' (it may have expired).", param="video_id")

    def render(self, job: Record) -> dict[str, Any]:
        return video_object(job, self._clock(), self._settings.typical_render)

    async def open_content(self, job: Record) -> Download:
        """The rendered mp4, through the account that made it; an expired URL is renewed once."""
        client = self._client(job)
        download = await client.open_download(job["video_url"])
        if download.status in EXPIRED_URL_STATUSES:
            download.close()
            task = await client.task_status(job["task_id"], self._settings.status_api)
            if task.status in ("success", "completed") and task.content:
                await self._save({**job, "video_url": task.content})
                download = await client.open_download(task.content)
        if download.status >= 400 or download.content_type.startswith("text/html"):  # an error or a WAF page
            download.close()
            kind = download.content_type or "no content type"
            raise UpstreamError(f"Qwen's file host answered HTTP {download.status} ({kind}) for this video; "
                                "it may no longer be available upstream")
        return download

    def _client(self, job: Record) -> QwenClient:
        client = self._pool.client(job["account_id"])
        if client is None:
            raise NoAccountAvailable(f"the Qwen account that rendered video {job['id']} is no longer configured")
        return client

    async def _save(self, job: Record) -> None:
        await self._store.put(NAMESPACE, job["id"], job, job["expires_at"] - self._clock())

    def _watch(self, video_id: str) -> None:
        if video_id in self._pollers:
            return
        poller = asyncio.create_task(self._run(video_id), name=f"video-poller-{video_id}")
        self._pollers[video_id] = poller
        poller.add_done_callback(lambda _: self._pollers.pop(video_id, None))

    async def _run(self, video_id: str) -> None:
        try:
            await self._poll(video_id)
        except Exception as exc:  # a bug must not leave the job "in_progress" for ever
            log.exception("video %s: poller failed", video_id)
            job = await self._store.get(NAMESPACE, video_id)
            if job is not None and job["status"] not in FINISHED:
                message = f"The gateway failed while polling: {type(exc).__name__}"
                await self._save(self._failed(job, "internal_error", message))

    async def _poll(self, video_id: str) -> None:
        interval, failures = self._settings.poll_interval, 0
        while (job := await self._store.get(NAMESPACE, video_id)) is not None and job["status"] not in FINISHED:
            if self._clock() - job["started_at"] > self._settings.timeout:
                timeout = self._settings.timeout
                await self._save(self._failed(job, "timeout", f"Qwen did not finish the render within {timeout:g} s."))
                return
            try:
                task = await self._client(job).task_status(job["task_id"], self._settings.status_api)
            except NoAccountAvailable as exc:
                await self._save(self._failed(job, "account_unavailable", exc.message))
                return
            except (UpstreamUnauthorized, UpstreamContract) as exc:  # waiting will not cure these
                self._pool.report(job["account_id"], exc)  # an expired token stops serving new calls too
                await self._save(self._failed(job, "upstream_error", exc.message))
                return
            except UpstreamError as exc:  # transient, transport, rate limit, WAF: try again, more slowly
                failures += 1
                log.warning("video %s: task status failed (%d in a row): %s", video_id, failures, exc.message)
                await asyncio.sleep(interval * 2 ** min(failures, MAX_BACKOFF_DOUBLINGS))
                continue
            failures = 0
            updated = after_status(job, task.status, task.content, task.message, self._clock(),
                                   self._settings.typical_render)
            if updated != job and await self._store.get(NAMESPACE, video_id) is not None:  # not deleted meanwhile
                await self._save(updated)
            if updated["status"] in FINISHED:
                log.info("video %s: %s", video_id, updated["status"])
                return
            await asyncio.sleep(interval)

    def _failed(self, job: Record, code: str, message: str) -> Record:
        return failed(job, code, message, self._clock(), self._settings.typical_render)
