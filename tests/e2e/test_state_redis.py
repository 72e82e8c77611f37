"""Two gateway processes on one real Redis: what one replica learns or creates, the other sees."""

import threading

import openai
import pytest

from redis_server import RedisServer

from .processes import cluster, wait_until

ALPHA = "token-alpha"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
CHAT = {"model": "qwen3-max", "messages": [{"role": "user", "content": "hello"}]}
TASK_STATUS = "/api/v1/tasks/status/"


def accounts(gateway):
    with gateway.http() as http:
        return {a["id"]: a for a in http.get("/v1/accounts").json()["data"]}


def status_polls(running):
    requests = running.sim_http.get("/__sim/requests").json()["requests"]
    return [r for r in requests if "/tasks/status/" in r["path"] or "/task/status" in r["path"]]


def test_a_cool_down_learnt_by_one_replica_is_respected_by_the_other_and_by_a_later_one(tmp_path, redis_url):
    with cluster(tmp_path, redis_url) as running:
        a, b = running.gateway("a"), running.gateway("b")
        running.fault(ALPHA, {"kind": "ratelimited", "num": 10})
        for _ in range(2):  # one of them lands on alpha, is rate limited, and fails over to bravo
            a.openai().chat.completions.create(**CHAT)
        assert accounts(a)["acct-alpha"]["state"] == "cooling"
        # the refresh runs every 0.5 s: within a second on an idle machine; 1.5 s bounds it on a busy one
        assert wait_until(lambda: accounts(b)["acct-alpha"]["state"] == "cooling", within=1.5)
        assert accounts(b)["acct-alpha"]["reason"] == "rate limited"
        for _ in range(3):
            b.openai().chat.completions.create(**CHAT)
        served = [r["token"] for r in running.upstream_requests("/api/v2/chat/completions")][-3:]
        assert served == ["token-bravo"] * 3  # b leaves the resting account alone
        later = running.gateway("later")
        assert accounts(later)["acct-alpha"]["state"] == "cooling"  # known before its first request


def test_a_chat_continues_and_a_file_reads_back_on_the_other_replica(tmp_path, redis_url):
    with cluster(tmp_path, redis_url) as running:
        a, b = running.gateway("a"), running.gateway("b")
        first = a.openai().chat.completions.create(**CHAT)
        chat_id, parent_id = first.model_extra["chat_id"], first.model_extra["parent_id"]
        second = b.openai().chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": "and again"}],
            extra_body={"chat_id": chat_id, "parent_id": parent_id})
        assert second.model_extra["chat_id"] == chat_id
        sends = running.upstream_requests("/api/v2/chat/completions")
        assert sends[-1]["query"]["chat_id"] == chat_id and sends[-1]["token"] == sends[-2]["token"]
        uploaded = a.openai().files.create(file=("report.pdf", PDF, "application/pdf"), purpose="user_data")
        assert b.openai().files.retrieve(uploaded.id) == uploaded
        assert b.openai().files.content(uploaded.id).content == PDF


def test_one_replica_polls_a_render_and_the_other_finishes_it_after_a_kill_9(tmp_path, redis_url):
    interval = 1.0
    with cluster(tmp_path, redis_url, video={"poll_interval": interval, "timeout": 60, "typical_render": 2,
                                              "job_ttl": 600}) as running:
        running.sim_options(video_render_seconds=6)
        a, b = running.gateway("a"), running.gateway("b")
        video = a.openai().videos.create(prompt="outlives its poller")
        assert wait_until(lambda: b.openai().videos.retrieve(video.id).status == "in_progress", within=10)
        before = len(status_polls(running))
        wait_until(lambda: False, within=3 * interval)  # three intervals with both replicas up
        assert len(status_polls(running)) - before <= 4  # one poller (~3 polls), not one per replica
        a.kill()
        killed = len(status_polls(running))
        # the lease lapses 1.5 intervals after the last renewal, and b sweeps every half interval
        assert wait_until(lambda: len(status_polls(running)) > killed, within=2 * interval + 0.5)
        done = b.openai().videos.poll(video.id, poll_interval_ms=200)
        assert done.status == "completed"
        assert b.openai().videos.download_content(video.id).content[4:8] == b"ftyp"


def test_the_per_account_concurrency_limit_holds_across_replicas(tmp_path, redis_url):
    one_slot = [{"id": "acct-alpha", "token": ALPHA, "concurrency": 1}]
    with cluster(tmp_path, redis_url, accounts=one_slot) as running:
        a, b = running.gateway("a"), running.gateway("b")
        running.fault(ALPHA, {"kind": "slow_first_byte", "seconds": 2})
        finished: list[str] = []

        def ask(gateway, name):
            gateway.openai().chat.completions.create(**CHAT)
            finished.append(name)

        slow = threading.Thread(target=ask, args=(a, "slow on a"))
        slow.start()
        assert wait_until(lambda: running.upstream_requests("/api/v2/chat/completions"), within=10)
        ask(b, "quick on b")  # its only slot is held by a's call: b waits for it instead of a second upstream call
        slow.join()
        assert finished == ["slow on a", "quick on b"]


def test_redis_down_chat_serves_on_health_is_degraded_state_routes_503_and_it_recovers(tmp_path):
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        with cluster(tmp_path, redis.url) as running:
            gateway = running.gateway("a")
            client = gateway.openai()
            redis.stop()
            for _ in range(3):
                assert client.chat.completions.create(**CHAT).choices[0].message.content == "You said: hello"
            with gateway.http() as http:
                health = http.get("/health").json()
                assert health["status"] == "degraded" and health["store"] == {"kind": "redis", "reachable": False}
                ready = http.get("/health/ready")
                assert ready.status_code == 503
                assert [r["code"] for r in ready.json()["reasons"]] == ["store_unreachable"]
                listing = http.get("/v1/videos")
                assert listing.status_code == 503
                assert "state store (redis) is unreachable" in listing.json()["error"]["message"]
            with pytest.raises(openai.InternalServerError):
                client.files.create(file=("a.pdf", PDF, "application/pdf"), purpose="user_data")
            renders = len(running.upstream_requests("/api/v2/chat/completions"))
            with pytest.raises(openai.InternalServerError, match="none was started"):
                client.videos.create(prompt="would be lost")
            assert len(running.upstream_requests("/api/v2/chat/completions")) == renders  # no quota spent
            warnings = [line for line in gateway.log.read_text().splitlines() if "unreachable" in line]
            assert len(warnings) == 1  # one line per 30 s, not one per request
            redis.start()
            with gateway.http() as http:
                assert wait_until(lambda: http.get("/v1/videos").status_code == 200, within=10)
                assert http.get("/health").json()["status"] == "ok"
                assert http.get("/health/ready").status_code == 200
    finally:
        redis.stop()
