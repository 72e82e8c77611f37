"""MemoryStore: JSON records by namespace, copies not references, expiry; open_store's schemes."""

import pytest

from gateway.config import ConfigError, load_settings
from gateway.store import MemoryStore, open_store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_put_get_list_delete_by_namespace():
    store = MemoryStore()
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


async def test_records_are_copies_so_callers_cannot_change_what_is_stored():
    store = MemoryStore()
    record = {"id": "a", "error": None, "tags": ["x"]}
    await store.put("videos", "a", record, ttl=60)
    record["tags"].append("mutated")
    fetched = await store.get("videos", "a")
    fetched["error"] = {"code": "changed"}
    assert await store.get("videos", "a") == {"id": "a", "error": None, "tags": ["x"]}


async def test_records_that_would_not_serialise_fail_at_once():
    with pytest.raises(TypeError):
        await MemoryStore().put("videos", "a", {"when": object()}, ttl=60)


async def test_records_expire_after_their_ttl():
    clock = Clock()
    store = MemoryStore(clock=clock)
    await store.put("videos", "short", {"id": "short"}, ttl=10)
    await store.put("videos", "long", {"id": "long"}, ttl=100)
    clock.now += 10
    assert await store.get("videos", "short") is None
    assert [r["id"] for r in await store.list("videos")] == ["long"]
    await store.put("videos", "long", {"id": "long"}, ttl=0)  # no time left: gone
    assert await store.list("videos") == []


async def test_only_memory_urls_open_and_others_say_why_without_echoing_the_url():
    assert isinstance(open_store("memory://"), MemoryStore)
    with pytest.raises(ConfigError, match=r"only memory:// is available yet, not redis://") as caught:
        open_store("redis://user:s3cret@cache:6379/0")
    assert "s3cret" not in str(caught.value)


def test_a_redis_state_url_fails_at_startup_with_a_clear_message():
    with pytest.raises(ConfigError, match=r"GATEWAY_STATE_URL.*only memory://") as caught:
        load_settings(None, {"GATEWAY_STATE_URL": "redis://user:s3cret@cache:6379/0"})
    assert "s3cret" not in str(caught.value)


async def test_a_lease_is_held_by_one_owner_until_released_or_expired():
    clock = Clock()
    store = MemoryStore(clock=clock)
    assert await store.claim("leases", "job-1", "replica-a", ttl=10) is True
    assert await store.claim("leases", "job-1", "replica-b", ttl=10) is False
    assert await store.claim("leases", "job-1", "replica-a", ttl=10) is True  # renewal by its holder
    await store.release("leases", "job-1", "replica-b")  # not the holder: no effect
    assert await store.claim("leases", "job-1", "replica-b", ttl=10) is False
    clock.now += 10  # the holder stopped renewing
    assert await store.claim("leases", "job-1", "replica-b", ttl=10) is True
    await store.release("leases", "job-1", "replica-b")
    assert await store.claim("leases", "job-1", "replica-a", ttl=10) is True
