"""Video jobs: a render started on a pooled account, then one background poller per job.

The render is started through the pool, so a rate-limited or cooling account hands
it to another. The task then belongs to the account that started it: its poller
asks that account whatever its health, since a poll is not a new generation. Jobs
live in the store; each step re-reads its job so a deletion anywhere stops it.

Exactly one replica polls a job: the one holding its lease (`video-leases`), renewed
every half interval and lost after `LEASE_INTERVALS` intervals of silence. Every replica
sweeps for unfinished jobs whose lease is free (at start-up, then every half interval),
so when the polling replica dies another takes its jobs over within two poll intervals.
Jobs belong to the API key that created them (`owner`): another key finds none of them.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from .accounts import AccountPool
from .config import VideoSettings
from .errors import (
    NoAccountAvailable,
    NotFound,
    UpstreamContract,
    UpstreamError,
    UpstreamNoTaskId,
    UpstreamUnauthorized,
)
from .qwen.client import QwenClient
from .qwen.detail import find_task_id, task_id_from_detail
from .qwen.replies import Download
from .store import Record, Store, StoreUnavailable
from .translate.chat import completion_payload
from .translate.videos import (
    FINISHED,
    VideoRequest,
    after_status,
    failed,
    new_job,
    rendered,
    task_id_of,
    video_object,
)

log = logging.getLogger("gateway.jobs")
NAMESPACE = "videos"
LEASES = "video-leases"
TASKS = "video-tasks"  # upstream task id → video id, for the original API's task status
LEASE_INTERVALS = 1.5  # a lease outlives its holder's last renewal by this many poll intervals
MIN_LEASE = 1.0  # seconds, however short the poll interval (tests)
MAX_BACKOFF_DOUBLINGS = 3  # a failing poll waits up to 8 intervals before the next try
FINISHED_JOBS: Counter[str] = Counter()  # jobs this process saw finish, by status: /metrics
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
        self._replica = secrets.token_hex(8)  # this process, as a lease holder
        self._lease_ttl = max(MIN_LEASE, settings.poll_interval * LEASE_INTERVALS)
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def poll_after_ms(self) -> int:
        """How often clients should look again: the upstream is polled no faster."""
        return max(1, round(self._settings.poll_interval * 1000))

    async def start(self) -> None:
        """Resume polling every unfinished job nobody polls (after a restart), and keep looking."""
        try:
            await self._sweep()
        except StoreUnavailable:
            pass  # the sweeper tries again
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="video-sweeper")

    async def stop(self) -> None:
        polled = list(self._pollers)
        pollers = [*self._pollers.values(), *([self._sweeper] if self._sweeper else [])]
        for poller in pollers:
            poller.cancel()
        await asyncio.gather(*pollers, return_exceptions=True)
        # Hand the leases back: a restarted or other replica takes the jobs over at once.
        await asyncio.gather(*(self._store.release(LEASES, video_id, self._replica) for video_id in polled),
                             return_exceptions=True)

    async def _sweep(self) -> None:
        for job in await self._store.list(NAMESPACE):
            if (job["status"] not in FINISHED and job["id"] not in self._pollers
                    and await self._store.claim(LEASES, job["id"], self._replica, self._lease_ttl)):
                self._watch(job["id"])

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.poll_interval / 2)
            try:
                await self._sweep()
            except StoreUnavailable:
                pass  # logged by the store; jobs are picked up once it is back
            except Exception:
                log.exception("sweeping video jobs failed")

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
        await self._store.claim(LEASES, job["id"], self._replica, self._lease_ttl)
        log.info("video %s: task %s started on account %s", job["id"], job["task_id"], job["account_id"])
        self._watch(job["id"])
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
        poller = self._pollers.get(video_id)
        if poller is not None:
            poller.cancel()
        await self._store.delete(TASKS, job["task_id"])
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
            if rendered(task.status) and task.content:
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
        except StoreUnavailable:
            pass  # the lease runs out; a sweep (here or elsewhere) resumes the job once the store is back
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
            if not await self._store.claim(LEASES, video_id, self._replica, self._lease_ttl):
                log.info("video %s: another replica polls it now", video_id)
                return
            try:
                task = await self._client(job).task_status(job["task_id"], self._settings.status_api)
            except NoAccountAvailable as exc:
                await self._save(self._failed(job, "account_unavailable", exc.message))
                return
            except (UpstreamUnauthorized, UpstreamContract) as exc:  # waiting will not cure these
                self._pool.report(job["account_id"], exc, "t2v")  # an expired token stops serving new calls too
                await self._save(self._failed(job, "upstream_error", exc.message))
                return
            except UpstreamError as exc:  # transient, transport, rate limit, WAF: try again, more slowly
                failures += 1
                log.warning("video %s: task status failed (%d in a row): %s", video_id, failures, exc.message)
                await self._hold(video_id, interval * 2 ** min(failures, MAX_BACKOFF_DOUBLINGS))
                continue
            failures = 0
            updated = after_status(job, task.status, task.content, task.message, self._clock(),
                                   self._settings.typical_render)
            if updated != job and await self._store.get(NAMESPACE, video_id) is not None:  # not deleted meanwhile
                await self._save(updated)
            if updated["status"] in FINISHED:
                FINISHED_JOBS[updated["status"]] += 1
                log.info("video %s: %s", video_id, updated["status"])
                await self._store.release(LEASES, video_id, self._replica)
                return
            await self._hold(video_id, interval)

    async def _hold(self, video_id: str, seconds: float) -> None:
        """Sleep `seconds`, renewing the job's lease on the way, so a long back-off does not lose it."""
        step = self._lease_ttl / 3
        while seconds > step:
            await asyncio.sleep(step)
            seconds -= step
            await self._store.claim(LEASES, video_id, self._replica, self._lease_ttl)
        await asyncio.sleep(seconds)

    def _failed(self, job: Record, code: str, message: str) -> Record:
        return failed(job, code, message, self._clock(), self._settings.typical_render)
