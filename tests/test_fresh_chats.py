"""FreshChats on a fake clock: aging, the refill's pauses, and what a background failure teaches
the pool (the end-to-end behaviour is in tests/e2e/test_fresh_chats.py)."""

import asyncio

from gateway.accounts import AccountPool
from gateway.config import Cooldowns
from gateway.errors import UpstreamRateLimited, UpstreamTransient
from gateway.fresh_chats import RETRY_FIRST, FreshChats

KEY = ("a1", "qwen3-max", "t2t")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class FakeClient:
    """Makes chats `a1-1`, `a1-2`, … or raises the next queued error; records deletions."""

    def __init__(self, account_id="a1"):
        self.account_id = account_id
        self.made = 0
        self.errors = []
        self.deleted = []

    async def create_chat(self, model, chat_type):
        if self.errors:
            raise self.errors.pop(0)
        self.made += 1
        return f"{self.account_id}-{self.made}"

    async def delete_chat(self, chat_id):
        self.deleted.append(chat_id)

    async def close(self):
        pass


async def settle():
    for _ in range(50):  # the refill worker and deletions run as tasks of this loop
        await asyncio.sleep(0)


def make(ttl=100.0):
    clock, client = Clock(), FakeClient()
    pool = AccountPool([(client, 4)], Cooldowns(), clock=clock)
    return FreshChats(pool, 2, ttl, clock=clock), client, clock, pool


async def stocked(fresh):
    assert fresh.take(KEY) is None  # learnt from the asking, nothing yet
    fresh._refill(KEY[0])
    await settle()


async def test_an_aged_chat_of_a_key_in_use_is_deleted_and_replaced():
    fresh, client, clock, _ = make()
    await stocked(fresh)
    clock.now += 60
    assert fresh.take(KEY) == "a1-1"
    fresh._refill(KEY[0])
    await settle()  # a1-3 made at +60
    clock.now += 45  # a1-2 is 105 s old; the key was asked for 45 s ago
    fresh.sweep()
    await settle()
    assert client.deleted == ["a1-2"] and client.made == 4
    assert fresh.take(KEY) == "a1-3" and fresh.take(KEY) == "a1-4"


async def test_a_key_nobody_asks_for_is_dropped_with_its_chats():
    fresh, client, clock, _ = make()
    await stocked(fresh)
    clock.now += 100
    fresh.sweep()
    await settle()
    assert sorted(client.deleted) == ["a1-1", "a1-2"] and client.made == 2
    assert fresh.take(KEY) is None  # learnt anew, empty


async def test_a_failed_refill_pauses_that_key_longer_each_time_and_rests_no_account():
    fresh, client, clock, pool = make()
    client.errors = [UpstreamTransient("Qwen said 500"), UpstreamTransient("Qwen said 500")]
    await stocked(fresh)
    assert client.made == 0 and pool.status()[0]["state"] == "healthy"
    fresh._refill(KEY[0])
    await settle()
    assert client.made == 0  # pausing: no try before RETRY_FIRST
    clock.now += RETRY_FIRST
    fresh._refill(KEY[0])
    await settle()
    assert client.made == 0  # the second failure: twice as long now
    clock.now += RETRY_FIRST
    fresh._refill(KEY[0])
    await settle()
    assert client.made == 0
    clock.now += RETRY_FIRST
    fresh._refill(KEY[0])
    await settle()
    assert client.made == 2 and pool.status()[0]["state"] == "healthy"


async def test_a_rate_limit_in_the_background_rests_the_account_for_that_mode_only():
    fresh, client, _, pool = make()
    client.errors = [UpstreamRateLimited("daily limit", hours=2)]
    await stocked(fresh)
    modes = pool.status()[0]["modes"]
    assert modes["t2t"]["state"] == "cooling" and modes["t2v"]["state"] == "healthy"
    fresh._refill(KEY[0])
    await settle()
    assert client.made == 0  # no creation on an account resting for chat


async def test_shutdown_deletes_every_unused_chat_and_stops_refilling():
    fresh, client, _, _ = make()
    await stocked(fresh)
    await fresh.stop()
    assert sorted(client.deleted) == ["a1-1", "a1-2"]
    sent = []
    assert await fresh.open(client, "qwen3-max", "t2t", lambda chat_id: _record(sent, chat_id)) == "a1-3"
    await settle()
    assert client.made == 3  # made in the request; nothing refilled after shutdown


async def _record(sent, chat_id):
    sent.append(chat_id)
    return chat_id
