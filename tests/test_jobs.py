"""JobManager against the simulator: the poller's states, retries, time-out, v1/v2 task status,
resuming from the store, deletion, renewal of an expired video URL."""

import asyncio
from dataclasses import replace

import pytest

from gateway.accounts import AccountPool
from gateway.config import AccountSettings, Cooldowns, Timeouts, VideoSettings
from gateway.errors import NotFound, UpstreamContract, UpstreamError
from gateway.jobs import NAMESPACE, JobManager
from gateway.qwen.client import QwenClient
from gateway.simulator import SimOptions, start_simulator
from gateway.simulator.faults import parse_fault
from gateway.store import MemoryStore
from gateway.translate.videos import FINISHED, parse_video_request

TOKEN = "token-jobs"
FAST = VideoSettings(poll_interval=0.01, timeout=5, typical_render=1, job_ttl=600, detail_interval=0.01)
TIMEOUTS = Timeouts(connect=2, first_event=5, idle=2, deadline=10)
CAT = parse_video_request({"prompt": "a cat surfing", "size": "1280x720"})


@pytest.fixture
async def sim():
    running = await start_simulator(SimOptions(speed=0, first_event_delay=0, delta_delay=0))
    yield running
    await running.stop()


def make_pool(sim, account_id="alpha"):
    client = QwenClient(AccountSettings(id=account_id, token=TOKEN), sim.url, "0.2.63", TIMEOUTS)
    return AccountPool([(client, 4)], Cooldowns())


@pytest.fixture
async def pool(sim):
    pool = make_pool(sim)
    yield pool
    await pool.close()


def set_options(sim, **options):
    sim.state.options = replace(sim.state.options, **options)


def fault(sim, *faults):
    sim.state.queue_faults(TOKEN, [parse_fault(f) for f in faults])


def status_paths(sim):
    return [r["path"].rsplit("/", 1)[0] for r in sim.state.requests if "/status/" in r["path"]]


async def until(jobs, video_id, statuses, within=3.0):
    async with asyncio.timeout(within):
        while (job := await jobs.get(video_id))["status"] not in statuses:
            await asyncio.sleep(0.005)
    return job


@pytest.fixture
async def jobs(pool):
    manager = JobManager(MemoryStore(), pool, FAST)
    yield manager
    await manager.stop()


async def test_a_render_goes_queued_then_in_progress_then_completed(sim, jobs):
    set_options(sim, speed=1.0, video_render_seconds=0.3)
    job = await jobs.create(CAT, "qwen3.7-plus")
    assert (job["status"], job["account_id"], job["ratio"]) == ("queued", "alpha", "16:9")
    assert jobs.render(job)["progress"] == 0
    await until(jobs, job["id"], {"in_progress"})
    done = await until(jobs, job["id"], FINISHED)
    assert done["status"] == "completed" and done["video_url"].startswith(f"{sim.url}/output/")
    assert "/t2v/" in done["video_url"] and f"/{done['task_id']}.mp4?key=" in done["video_url"]
    assert jobs.render(done)["progress"] == 100 and done["completed_at"] >= done["created_at"]
    assert set(status_paths(sim)) == {"/api/v2/task/status"} and len(status_paths(sim)) >= 2
    completion = [r for r in sim.state.requests if r["path"] == "/api/v2/chat/completions"][0]
    assert completion["body"]["stream"] is False and completion["body"]["size"] == "16:9"
    assert completion["body"]["messages"][0]["chat_type"] == "t2v"


async def test_transient_poll_failures_are_retried_not_fatal(sim, jobs):
    fault(sim, {"kind": "http_5xx", "on": "task_status"}, {"kind": "bad_request", "on": "task_status"},
          {"kind": "ratelimited", "on": "task_status"})
    job = await jobs.create(CAT, "qwen3.7-plus")
    assert (await until(jobs, job["id"], FINISHED))["status"] == "completed"
    assert len(status_paths(sim)) == 4  # three failures, then the answer


@pytest.mark.parametrize(("kind", "code"), [("not_found", "task_not_found"), ("unauthorized", "upstream_error")])
async def test_answers_that_waiting_cannot_cure_fail_the_job(sim, jobs, kind, code):
    fault(sim, {"kind": kind, "on": "task_status"})
    job = await jobs.create(CAT, "qwen3.7-plus")
    done = await until(jobs, job["id"], FINISHED)
    assert done["status"] == "failed" and done["error"]["code"] == code and done["error"]["message"]
    assert len(status_paths(sim)) == 1


async def test_a_failed_render_fails_the_job_with_its_error(sim, jobs):
    fault(sim, {"kind": "task_failed"})
    job = await jobs.create(CAT, "qwen3.7-plus")
    done = await until(jobs, job["id"], FINISHED)
    assert done["status"] == "failed" and done["error"]["code"] == "video_generation_failed"
    assert "Video generation failed" in done["error"]["message"]


async def test_a_render_that_never_finishes_times_out(sim, pool):
    jobs = JobManager(MemoryStore(), pool, replace(FAST, timeout=0.2))
    fault(sim, {"kind": "task_never_finishes"})
    job = await jobs.create(CAT, "qwen3.7-plus")
    done = await until(jobs, job["id"], FINISHED)
    assert done["status"] == "failed" and done["error"] == {
        "code": "timeout", "message": "Qwen did not finish the render within 0.2 s."}
    await jobs.stop()


@pytest.mark.parametrize("wrapped", [False, True])
async def test_without_the_v2_route_polling_falls_back_to_v1_once(sim, jobs, wrapped):
    set_options(sim, task_status_v2=False, task_status_v1_wrapped=wrapped, speed=1.0, video_render_seconds=0.1)
    job = await jobs.create(CAT, "qwen3.7-plus")
    assert (await until(jobs, job["id"], FINISHED))["status"] == "completed"
    paths = status_paths(sim)
    assert paths[0] == "/api/v2/task/status" and set(paths[1:]) == {"/api/v1/tasks/status"} and len(paths) >= 3


async def test_status_api_v1_polls_only_v1(sim, pool):
    jobs = JobManager(MemoryStore(), pool, replace(FAST, status_api="v1"))
    job = await jobs.create(CAT, "qwen3.7-plus")
    assert (await until(jobs, job["id"], FINISHED))["status"] == "completed"
    assert set(status_paths(sim)) == {"/api/v1/tasks/status"}
    await jobs.stop()


async def test_pollers_resume_from_the_store_after_a_restart(sim, pool):
    set_options(sim, speed=1.0, video_render_seconds=0.5)
    store = MemoryStore()
    first = JobManager(store, pool, FAST)
    job = await first.create(CAT, "qwen3.7-plus")
    await until(first, job["id"], {"in_progress"})
    await first.stop()
    polls = len(status_paths(sim))
    await asyncio.sleep(0.05)
    assert len(status_paths(sim)) == polls  # stopped means stopped
    second = JobManager(store, pool, FAST)
    await second.start()
    assert (await until(second, job["id"], FINISHED))["status"] == "completed"
    assert len(status_paths(sim)) > polls
    await second.stop()


async def test_a_job_whose_account_is_gone_fails_at_resume(sim, pool):
    set_options(sim, speed=1.0, video_render_seconds=5)
    store = MemoryStore()
    first = JobManager(store, pool, FAST)
    job = await first.create(CAT, "qwen3.7-plus")
    await first.stop()
    other = make_pool(sim, account_id="someone-else")
    second = JobManager(store, other, FAST)
    await second.start()
    done = await until(second, job["id"], FINISHED)
    assert done["error"]["code"] == "account_unavailable" and "no longer configured" in done["error"]["message"]
    await second.stop()
    await other.close()


async def test_delete_stops_the_poller(sim, jobs):
    fault(sim, {"kind": "task_never_finishes"})
    job = await jobs.create(CAT, "qwen3.7-plus")
    await until(jobs, job["id"], {"in_progress"})
    await jobs.delete(job["id"])
    await asyncio.sleep(0.02)
    polls = len(status_paths(sim))
    await asyncio.sleep(0.05)
    assert len(status_paths(sim)) == polls
    with pytest.raises(NotFound):
        await jobs.get(job["id"])
    with pytest.raises(NotFound):
        await jobs.delete(job["id"])


async def test_an_expired_video_url_is_renewed_on_download(sim, jobs):
    job = await jobs.create(CAT, "qwen3.7-plus")
    done = await until(jobs, job["id"], FINISHED)
    served = sim.state.files[done["video_url"].split(sim.url)[1].split("?")[0]].data
    stale = done["video_url"].replace(".mp4", "-expired.mp4")
    await jobs._store.put(NAMESPACE, job["id"], {**done, "video_url": stale}, ttl=60)
    download = await jobs.open_content(await jobs.get(job["id"]))
    body = b"".join([chunk async for chunk in download.chunks()])
    download.close()
    assert download.status == 200 and body == served
    assert (await jobs.get(job["id"]))["video_url"] != stale


async def test_a_video_gone_upstream_is_a_502_that_says_so(sim, jobs):
    job = await jobs.create(CAT, "qwen3.7-plus")
    done = await until(jobs, job["id"], FINISHED)
    del sim.state.files[done["video_url"].split(sim.url)[1].split("?")[0]]
    with pytest.raises(UpstreamError) as caught:
        await jobs.open_content(done)
    assert caught.value.status == 502 and "HTTP 404" in caught.value.message


async def test_jobs_expire_after_their_ttl(sim, pool):
    now = [1000.0]
    clock = lambda: now[0]  # noqa: E731
    jobs = JobManager(MemoryStore(clock=clock), pool, replace(FAST, job_ttl=60), clock=clock)
    job = await jobs.create(CAT, "qwen3.7-plus")
    assert job["expires_at"] == job["created_at"] + 60 == 1060
    await until(jobs, job["id"], FINISHED)
    now[0] += 59
    assert (await jobs.get(job["id"]))["status"] == "completed"
    now[0] += 1
    with pytest.raises(NotFound):
        await jobs.get(job["id"])
    assert await jobs.list() == []
    await jobs.stop()


class NoTaskClient:
    """An upstream that accepts the render but answers without `extra.wanx.task_id`."""

    account_id = "alpha"

    async def create_chat(self, model, chat_type):
        return "chat-1"

    async def complete(self, chat_id, payload):
        return {"success": True, "data": {"chat_id": "chat-1", "messages": [{"role": "assistant", "extra": {}}]}}

    async def chat_detail(self, chat_id):  # the chat detail (§3.7) lacks it too
        self.detail_reads = getattr(self, "detail_reads", 0) + 1
        return {"success": True, "data": {"chat": {"history": {"messages": {
            "m1": {"id": "m1", "role": "assistant", "extra": {}}}}}}}

    async def close(self):
        pass


async def test_a_reply_without_a_task_id_is_a_clear_upstream_error():
    client = NoTaskClient()
    jobs = JobManager(MemoryStore(), AccountPool([(client, 4)], Cooldowns()), FAST)
    with pytest.raises(UpstreamContract) as caught:
        await jobs.create(CAT, "qwen3.7-plus")
    assert caught.value.status == 502 and "no task id" in caught.value.message
    assert client.detail_reads == 5
    assert await jobs.list() == []


async def test_an_expired_token_met_while_polling_sets_the_account_aside(sim, jobs, pool):
    fault(sim, {"kind": "unauthorized", "on": "task_status"})
    job = await jobs.create(CAT, "qwen3.7-plus")
    await until(jobs, job["id"], FINISHED)
    assert pool.status()[0]["state"] == "invalid"
