"""Shared concurrency slots: a limit across replicas, sticky while busy, back from a dead replica."""

import asyncio

import gateway.slots as slots
from gateway.slots import SharedSlots
from gateway.store import MemoryStore


async def test_a_limit_of_one_holds_across_two_replicas_and_the_slot_moves_once_idle():
    store = MemoryStore()
    a, b = SharedSlots(store, "a"), SharedSlots(store, "b")
    a.start()
    try:
        token = await a.take("acct", 1)
        assert token is not None
        assert await b.take("acct", 1) is None  # a holds the only slot
        a.give_back(token)
        assert await a.take("acct", 1) is not None  # kept a moment for a's next call: no store round trip
        a.give_back("acct")
        await asyncio.sleep(slots.IDLE + 3 * slots.TICK)  # idle: a gives it back
        assert await b.take("acct", 1) is not None
    finally:
        await a.stop()


async def test_a_dead_replicas_slots_come_back_after_their_ttl(monkeypatch):
    monkeypatch.setattr(slots, "SLOT_TTL", 0.3)
    store = MemoryStore()
    dead, alive = SharedSlots(store, "dead"), SharedSlots(store, "alive")
    assert await dead.take("acct", 2) is not None and await dead.take("acct", 2) is not None
    assert await alive.take("acct", 2) is None  # the dead one never gives them back, nor renews them
    await asyncio.sleep(0.4)
    assert await alive.take("acct", 2) is not None


async def test_an_unreachable_store_serves_on_local_counts():
    class Down(MemoryStore):
        async def claim(self, *args):
            from gateway.store import StoreUnavailable

            raise StoreUnavailable("down")

    shared = SharedSlots(Down())
    token = await shared.take("acct", 1)
    assert token is not None and token.startswith(slots.LOCAL)
    shared.give_back(token)  # nothing held, nothing to give back
