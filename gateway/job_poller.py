"""Video job pollers: one background task per unfinished job, asking its task's status to the end.

The task belongs to the account that started it: its poller asks that account whatever its
health, since a poll is not a new generation. Each step re-reads the job, so a deletion
anywhere stops it. Exactly one replica polls a job: the one holding its lease (`video-leases`),
renewed every half interval and lost after `LEASE_INTERVALS` intervals of silence. Every replica
sweeps for unfinished jobs whose lease is free (at start-up, then every half interval), so when
the polling replica dies another takes its jobs over within two poll intervals.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import Counter
from collections.abc import Callable

from .accounts import AccountPool
from .config import VideoSettings
from .errors import NoAccountAvailable, UpstreamContract, UpstreamError, UpstreamUnauthorized
from .qwen.client import QwenClient
from .store import Record, Store, StoreUnavailable
from .translate.videos import FINISHED, after_status, failed

log = logging.getLogger("gateway.jobs")
NAMESPACE = "videos"
LEASES = "video-leases"
LEASE_INTERVALS = 1.5  # a lease outlives its holder's last renewal by this many poll intervals
MIN_LEASE = 1.0  # seconds, however short the poll interval (tests)
MAX_BACKOFF_DOUBLINGS = 3  # a failing poll waits up to 8 intervals before the next try
FINISHED_JOBS: Counter[str] = Counter()  # jobs this process saw finish, by status: /metrics


def job_client(pool: AccountPool, job: Record) -> QwenClient:
    """The client of the account that started the job's task: only it can ask about it."""
    client = pool.client(job["account_id"])
    if client is None:
        raise NoAccountAvailable(f"the Qwen account that rendered video {job['id']} is no longer configured")
    return client


async def save_job(store: Store, job: Record, now: float) -> None:
    await store.put(NAMESPACE, job["id"], job, job["expires_at"] - now)


class JobPollers:
    """The pollers of this replica, the leases they hold, and the sweep that adopts unpolled jobs."""

    def __init__(self, store: Store, pool: AccountPool, settings: VideoSettings, clock: Callable[[], float]) -> None:
        self._store = store
        self._pool = pool
        self._settings = settings
        self._clock = clock
        self._pollers: dict[str, asyncio.Task[None]] = {}
        self._replica = secrets.token_hex(8)  # this process, as a lease holder
        self._lease_ttl = max(MIN_LEASE, settings.poll_interval * LEASE_INTERVALS)
        self._sweeper: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._pollers)  # the jobs this replica polls now

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

    async def adopt(self, video_id: str) -> None:
        """Poll a job just started here (its lease taken first)."""
        await self._store.claim(LEASES, video_id, self._replica, self._lease_ttl)
        self._watch(video_id)

    def cancel(self, video_id: str) -> None:
        poller = self._pollers.get(video_id)
        if poller is not None:
            poller.cancel()

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

    async def _save(self, job: Record) -> None:
        await save_job(self._store, job, self._clock())

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
                task = await job_client(self._pool, job).task_status(job["task_id"], self._settings.status_api)
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
