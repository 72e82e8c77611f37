"""WriteBehind: the owners and links every answer leaves, batched into one store write."""

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from gateway.store import MemoryStore, StoreUnavailable, open_store
from gateway.store.base import Write
from gateway.store.write_behind import DELAY, WriteBehind


class CountingStore(MemoryStore):
    """A memory store that counts its round trips, and fails them on demand."""

    def __init__(self, shared: bool = False) -> None:
        super().__init__()
        self.shared = shared
        self.batches: list[int] = []  # the size of each batch that landed
        self.under_way = 0  # batches sent and not yet landed
        self.puts = 0
        self.down = False

    async def put(self, namespace: str, key: str, record: Mapping[str, Any], ttl: float) -> None:
        self.puts += 1
        await super().put(namespace, key, record, ttl)

    async def put_many(self, writes: Sequence[Write]) -> None:
        self.under_way += 1
        await asyncio.sleep(0.01)  # a round trip
        self.under_way -= 1
        if self.down:
            raise StoreUnavailable("down")
        self.batches.append(len(writes))
        for namespace, key, record, ttl in writes:
            await MemoryStore.put(self, namespace, key, record, ttl)


async def test_records_queued_together_reach_a_local_store_in_one_batch_after_the_delay():
    store = CountingStore()
    writes = WriteBehind(store)
    for i in range(50):
        writes.put("owners", f"chat-{i}", {"account": "a"}, 60)
    assert await store.get("owners", "chat-0") is None  # not yet in the store ...
    assert await writes.get("owners", "chat-0") == {"account": "a"}  # ... but this process reads it already
    await asyncio.sleep(DELAY + 0.05)
    assert store.batches == [50] and store.puts == 0
    assert await store.get("owners", "chat-49") == {"account": "a"}


async def test_a_shared_store_gets_each_loop_turns_records_at_once_without_waiting_for_a_batch_under_way():
    store = CountingStore(shared=True)
    writes = WriteBehind(store)
    writes.put("owners", "first", {"account": "a"}, 60)
    await asyncio.sleep(0.001)  # one turn of the loop starts the write, no waiting for company
    assert store.under_way == 1
    for i in range(10):  # one turn's records, queued while the first batch is on its way
        writes.put("owners", f"later-{i}", {"account": "b"}, 60)
    await asyncio.sleep(0.001)
    assert store.under_way == 2  # sent at once, not a round trip later
    assert await writes.get("owners", "first") == {"account": "a"}  # on its way: still read back from here
    await writes.flush()
    assert store.batches == [1, 10]
    assert await store.get("owners", "later-9") == {"account": "b"}


async def test_flush_writes_what_waits_and_a_delete_cannot_be_undone_by_a_batch_under_way(tmp_path: Path):
    store = open_store(f"sqlite:///{tmp_path}/state.db")
    writes = WriteBehind(store)
    writes.put("links", "kept", {"chat_id": "c1"}, 60)
    writes.put("links", "gone", {"chat_id": "c2"}, 60)
    await writes.flush()
    assert await store.get("links", "kept") == {"chat_id": "c1"}
    writes.put("links", "gone", {"chat_id": "c3"}, 60)
    assert await writes.delete("links", "gone") is True
    await writes.flush()
    assert await writes.get("links", "gone") is None and await store.get("links", "gone") is None
    await store.close()
    reopened = open_store(f"sqlite:///{tmp_path}/state.db")  # what a restart finds
    assert await reopened.get("links", "kept") == {"chat_id": "c1"}
    await reopened.close()


async def test_an_unreachable_store_drops_the_batch_and_the_next_one_lands():
    store = CountingStore(shared=True)
    writes = WriteBehind(store)
    store.down = True
    writes.put("owners", "lost", {"account": "a"}, 60)
    await writes.flush()  # no error reaches the caller: these records are only shortcuts
    store.down = False
    writes.put("owners", "kept", {"account": "a"}, 60)
    await writes.flush()
    assert await writes.get("owners", "lost") is None
    assert await writes.get("owners", "kept") == {"account": "a"}


@pytest.mark.parametrize("count", [1, 2_500])
async def test_a_big_queue_is_written_without_waiting_for_the_delay(count: int):
    store = CountingStore()
    writes = WriteBehind(store, delay=60.0)
    for i in range(count):
        writes.put("links", f"k{i}", {"v": i}, 60)
    await asyncio.sleep(0.1)
    assert sum(store.batches) == (2_000 if count > 2_000 else 0)  # MAX_BATCH goes at once; one record waits
    await writes.flush()
    assert sum(store.batches) == count
