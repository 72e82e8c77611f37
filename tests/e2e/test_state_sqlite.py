"""State that survives a restart: real gateway processes on one SQLite file (the default store)."""

import openai
import pytest

from .processes import cluster, wait_until

ALPHA = "token-alpha"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def accounts(gateway):
    with gateway.http() as http:
        return {a["id"]: a for a in http.get("/v1/accounts").json()["data"]}


def test_a_restart_keeps_the_render_the_file_the_chat_and_the_resting_account(tmp_path):
    with cluster(tmp_path, f"sqlite:///{tmp_path}/state/gateway.db") as running:
        running.sim_options(video_render_seconds=3)
        first = running.gateway("first")
        client = first.openai()
        # alpha is rate limited for 10 hours; the chats fail over to bravo, which then owns everything below
        running.fault(ALPHA, {"kind": "ratelimited", "num": 10})
        for _ in range(2):
            client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "warm-up"}])
        assert accounts(first)["acct-alpha"]["state"] == "cooling"
        turn = client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "remember me"}])
        chat_id, parent_id = turn.model_extra["chat_id"], turn.model_extra["parent_id"]
        uploaded = client.files.create(file=("report.pdf", PDF, "application/pdf"), purpose="user_data")
        video = client.videos.create(prompt="a render across a restart")
        assert wait_until(lambda: client.videos.retrieve(video.id).status == "in_progress", within=10)

        first.stop()
        second = running.gateway("second")
        client = second.openai()

        alpha = accounts(second)["acct-alpha"]
        assert alpha["state"] == "cooling" and alpha["reason"] == "rate limited"
        assert 35000 < alpha["cooling_seconds"] <= 36000
        assert client.files.retrieve(uploaded.id) == uploaded
        assert client.files.content(uploaded.id).content == PDF
        again = client.chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": "do you remember?"}],
            extra_body={"chat_id": chat_id, "parent_id": parent_id})
        assert again.model_extra["chat_id"] == chat_id  # the same upstream chat, on the account that owns it
        sends = running.upstream_requests("/api/v2/chat/completions")
        assert sends[-1]["query"]["chat_id"] == chat_id and sends[-1]["body"]["parent_id"] == parent_id
        done = client.videos.poll(video.id, poll_interval_ms=100)
        assert done.status == "completed"
        assert client.videos.download_content(video.id).content[4:8] == b"ftyp"


def test_an_unwritable_sqlite_path_stops_the_gateway_at_start_naming_the_path(tmp_path):
    (tmp_path / "taken.db").mkdir()  # a folder where the database file should be
    with cluster(tmp_path, f"sqlite:///{tmp_path}/taken.db") as running:
        with pytest.raises(RuntimeError, match="exited at start-up") as caught:
            running.gateway("refused")
        assert f"cannot write the SQLite store at {tmp_path}/taken.db" in str(caught.value)


def test_the_default_store_is_a_sqlite_file_under_data(tmp_path, monkeypatch):
    from gateway.config import load_settings
    from gateway.store import open_store

    monkeypatch.chdir(tmp_path)
    store = open_store(load_settings(None, {}).state_url)
    assert store.kind == "sqlite" and (tmp_path / "data" / "gateway.db").is_file()


def test_openai_sees_404_for_a_file_unknown_after_restart_when_the_store_is_memory(tmp_path):
    with cluster(tmp_path, "memory://") as running:
        first = running.gateway("first")
        uploaded = first.openai().files.create(file=("a.pdf", PDF, "application/pdf"), purpose="user_data")
        first.stop()
        with pytest.raises(openai.NotFoundError):
            running.gateway("second").openai().files.retrieve(uploaded.id)
        assert "memory://" in (tmp_path / "first.log").read_text()  # the warning says what is lost
