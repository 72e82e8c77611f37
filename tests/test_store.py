"""The Store contract, once for each backend (memory, SQLite, a real Redis), and open_store's URLs."""

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
import pytest_asyncio

from gateway.config import ConfigError, load_settings
from gateway.store import MemoryStore, Store, StoreUnavailable, open_store
from gateway.store.redis import RedisStore
from gateway.store.sqlite import SqliteStore

SHORT = 0.3  # a TTL that runs out within the test


@pytest_asyncio.fixture(params=["memory", "sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "memory":
        opened: Store = open_store("memory://")
    elif request.param == "sqlite":
        opened = open_store(f"sqlite:///{tmp_path}/state.db")  # tmp_path is absolute: four slashes
    else:
        opened = open_store(request.getfixturevalue("redis_url"))
    yield opened
    await opened.close()


async def test_put_get_list_delete_by_namespace(store: Store):
    await store.put("videos", "a", {"id": "a", "n": 1}, ttl=60)
    await store.put("videos", "b", {"id": "b", "n": 2}, ttl=60)
    await store.put("other", "a", {"id": "elsewhere"}, ttl=60)
    assert await store.get("videos", "a") == {"id": "a", "n": 1}
    assert sorted(r["id"] for r in await store.list("videos")) == ["a", "b"]
    assert await store.delete("videos", "a") is True
    assert await store.delete("videos", "a") is False
    assert await store.get("videos", "a") is None
    assert await store.get("other", "a") == {"id": "elsewhere"}
    assert await store.list("nothing-here") == []


async def test_a_put_replaces_the_record(store: Store):
    await store.put("files", "f", {"v": 1}, ttl=60)
    await store.put("files", "f", {"v": 2, "nested": {"list": [1, "x", None]}}, ttl=60)
    assert await store.get("files", "f") == {"v": 2, "nested": {"list": [1, "x", None]}}
    assert await store.list("files") == [{"v": 2, "nested": {"list": [1, "x", None]}}]


async def test_put_many_writes_every_record_and_a_later_one_replaces_an_earlier(store: Store):
    await store.put("links", "old", {"v": 0}, ttl=60)
    writes = [("links", f"k{i}", {"v": i}, 60.0) for i in range(1200)]  # more rows than one SQLite statement
    await store.put_many([*writes, ("links", "old", {"v": "new"}, 60.0), ("owners", "k0", {"v": "elsewhere"}, 60.0)])
    assert await store.get("links", "k1199") == {"v": 1199}
    assert await store.get("links", "old") == {"v": "new"}
    assert await store.get("owners", "k0") == {"v": "elsewhere"}
    assert len(await store.list("links")) == 1201
    await store.put_many([("links", "brief", {"v": 1}, SHORT)])
    await asyncio.sleep(SHORT + 0.1)
    assert await store.get("links", "brief") is None


async def test_records_are_copies_so_callers_cannot_change_what_is_stored(store: Store):
    record = {"id": "a", "error": None, "tags": ["x"]}
    await store.put("videos", "a", record, ttl=60)
    record["tags"].append("mutated")
    fetched = await store.get("videos", "a")
    fetched["error"] = {"code": "changed"}
    assert await store.get("videos", "a") == {"id": "a", "error": None, "tags": ["x"]}


async def test_records_that_would_not_serialise_fail_at_once(store: Store):
    with pytest.raises(TypeError):
        await store.put("videos", "a", {"when": object()}, ttl=60)


async def test_a_record_given_encoded_is_a_record_like_any_other_and_comes_back_as_given(store: Store):
    # Big records are encoded (and decoded) off the event loop: the store takes and gives their bytes.
    data = orjson.dumps({"input_items": [{"id": "msg_1", "content": [{"type": "input_text", "text": "é"}] * 3}]})
    await store.put_bytes("response-items", "resp_1", data, ttl=60)
    assert await store.get_bytes("response-items", "resp_1") == data
    assert await store.get("response-items", "resp_1") == orjson.loads(data)
    assert await store.list("response-items") == [orjson.loads(data)]
    await store.put("response-items", "resp_2", {"v": 2}, ttl=60)
    assert orjson.loads(await store.get_bytes("response-items", "resp_2")) == {"v": 2}
    assert await store.get_bytes("response-items", "missing") is None
    await store.put_bytes("response-items", "resp_2", b'{"v":3}', ttl=0)  # no time left: gone
    assert await store.delete("response-items", "resp_1") is True
    assert await store.get_bytes("response-items", "resp_1") is None and await store.list("response-items") == []


async def test_records_expire_after_their_ttl(store: Store):
    await store.put("videos", "short", {"id": "short"}, ttl=SHORT)
    await store.put("videos", "long", {"id": "long"}, ttl=60)
    await asyncio.sleep(SHORT + 0.1)
    assert await store.get("videos", "short") is None
    assert await store.delete("videos", "short") is False
    assert [r["id"] for r in await store.list("videos")] == ["long"]
    await store.put("videos", "long", {"id": "long"}, ttl=0)  # no time left: gone
    assert await store.list("videos") == []


async def test_a_lease_is_held_by_one_owner_until_released_or_expired(store: Store):
    assert await store.claim("leases", "job-1", "replica-a", ttl=SHORT) is True
    assert await store.claim("leases", "job-1", "replica-b", ttl=SHORT) is False
    assert await store.claim("leases", "job-1", "replica-a", ttl=SHORT) is True  # renewal by its holder
    await store.release("leases", "job-1", "replica-b")  # not the holder: no effect
    assert await store.claim("leases", "job-1", "replica-b", ttl=SHORT) is False
    await asyncio.sleep(SHORT + 0.1)  # the holder stopped renewing
    assert await store.claim("leases", "job-1", "replica-b", ttl=60) is True
    await store.release("leases", "job-1", "replica-b")
    assert await store.claim("leases", "job-1", "replica-a", ttl=60) is True
    assert await store.claim("leases", "job-2", "replica-b", ttl=60) is True  # leases are per key


async def test_many_claims_at_once_have_exactly_one_winner(store: Store):
    won = await asyncio.gather(*(store.claim("leases", "slot", f"replica-{i}", ttl=60) for i in range(20)))
    assert won.count(True) == 1


async def test_two_handles_on_one_store_see_the_same_records(store: Store, tmp_path: Path, request):
    """What a second replica (Redis) or the next process after a restart (SQLite) sees."""
    if isinstance(store, MemoryStore):
        pytest.skip("memory:// is one process by definition")
    url = f"sqlite:///{tmp_path}/state.db" if isinstance(store, SqliteStore) else request.getfixturevalue("redis_url")
    other = open_store(url)
    try:
        await store.put("files", "f", {"id": "f"}, ttl=60)
        assert await other.get("files", "f") == {"id": "f"}
        assert await store.claim("leases", "job", "replica-a", ttl=60) is True
        assert await other.claim("leases", "job", "replica-b", ttl=60) is False
    finally:
        await other.close()


async def test_an_undecodable_record_is_logged_and_skipped(store: Store, caplog, tmp_path: Path):
    await store.put("videos", "good", {"id": "good"}, ttl=60)
    await _write_raw(store, "videos", "bad", b"\x80not json{")
    with caplog.at_level(logging.WARNING, logger="gateway.store"):
        assert await store.get("videos", "bad") is None
        assert await store.list("videos") == [{"id": "good"}]
    assert "videos/bad" in caplog.text


async def _write_raw(store: Store, namespace: str, key: str, data: bytes) -> None:
    """An older gateway's record: bytes this one cannot read."""
    if isinstance(store, MemoryStore):
        store._spaces[namespace][key] = (store._clock() + 60, data)
    elif isinstance(store, SqliteStore):
        db = await store._conn()
        await db.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?)", (namespace, key, 4e9, data))
    else:
        assert isinstance(store, RedisStore)
        await store._redis.set(f"gw:{namespace}:{key}", data)
        await store._redis.zadd(f"gw:{namespace}:", {f"gw:{namespace}:{key}": 4e9})


def test_sqlite_urls_are_relative_with_three_slashes_and_absolute_with_four(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///data/nested/gateway.db")
    assert (tmp_path / "data" / "nested" / "gateway.db").is_file()  # created on first use
    absolute = open_store(f"sqlite:///{tmp_path}/abs.db")
    assert isinstance(relative, SqliteStore) and isinstance(absolute, SqliteStore)
    assert absolute.path == tmp_path / "abs.db"


def test_an_unwritable_sqlite_path_refuses_to_start_naming_it(tmp_path: Path):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "state.db").mkdir()  # a folder where the file should be: never writable, even as root
    with pytest.raises(ConfigError, match="cannot write the SQLite store at .*locked/state.db"):
        open_store(f"sqlite:///{locked}/state.db")


def test_unknown_schemes_say_why_without_echoing_the_url():
    with pytest.raises(ConfigError, match=r"mysql:// is not a store") as caught:
        open_store("mysql://user:s3cret@db/0")
    assert "s3cret" not in str(caught.value)
    with pytest.raises(ConfigError, match="GATEWAY_STATE_URL") as caught:
        load_settings(None, {"GATEWAY_STATE_URL": "mysql://user:s3cret@db/0"})
    assert "s3cret" not in str(caught.value)


async def test_an_unreachable_redis_fails_fast_and_recovers_without_a_new_store(redis_server, caplog):
    store = RedisStore(redis_server.url)
    try:
        await store.put("videos", "a", {"id": "a"}, ttl=60)
        redis_server.stop()
        with caplog.at_level(logging.WARNING, logger="gateway.store"):
            for _ in range(3):
                with pytest.raises(StoreUnavailable, match=r"redis\) is unreachable"):
                    await store.get("videos", "a")
        assert not store.healthy()
        assert caplog.text.count("unreachable") == 1  # one warning, not one per call
        redis_server.start()
        store._resting_until = 0  # skip the one-second rest rather than sleep through it
        assert await store.list("videos") == []  # the new server is empty, and reached again
        assert store.healthy()
    finally:
        if redis_server.process is None:
            redis_server.start()
        await store.close()
