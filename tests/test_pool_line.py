"""The pool's waiting line when a freed slot is on an account a waiter already tried.

A call that failed on a1 prefers an untried account (a2), so a1's free slot is of no use
to it; it must keep its place without handing the wake-up around, and the slot must still
reach a call that can use it.
"""

import asyncio

from gateway.accounts import AccountPool
from gateway.config import Cooldowns
from gateway.errors import UpstreamTransient


class FakeClient:
    def __init__(self, account_id):
        self.account_id = account_id

    async def close(self):
        pass


def make_pool(limit1, limit2=1):
    clients = [(FakeClient("a1"), limit1), (FakeClient("a2"), limit2)]
    return AccountPool(clients, Cooldowns(), clock=lambda: 1000.0)


def answer():
    async def attempt(client):
        return client.account_id

    return attempt


def fails_once_on_a1():
    """Fails on a1 after a yield (so several calls can be on it together), then answers."""
    failed = []

    async def attempt(client):
        await asyncio.sleep(0)
        if client.account_id == "a1" and not failed:
            failed.append(True)
            raise UpstreamTransient("empty stream")
        return client.account_id

    return attempt


def count_wakeups(pool):
    calls = []
    wake = pool._wake_next

    def counted():
        calls.append(1)
        wake()

    pool._wake_next = counted
    return calls


async def settle(rounds=200):
    for _ in range(rounds):
        await asyncio.sleep(0)


async def test_waiters_that_cannot_use_a_freed_slot_do_not_pass_it_around():
    pool = make_pool(limit1=2)
    held = await pool.acquire(answer(), pinned="a2")
    first = asyncio.create_task(pool.acquire(fails_once_on_a1()))
    second = asyncio.create_task(pool.acquire(fails_once_on_a1()))
    await settle(10)  # both failed on a1 and wait for a2; a1's two slots are free
    wakeups = count_wakeups(pool)
    await settle()
    assert len(wakeups) <= 2, f"{len(wakeups)} wake-ups while nothing changed: the line spins"
    assert not first.done() and not second.done() and pool.waiting == 2

    held.release()
    lease = await asyncio.wait_for(first, 1)  # first come, first served, on the untried account
    assert lease.value == "a2" and not second.done()
    lease.release()
    assert (await asyncio.wait_for(second, 1)).value == "a2"


async def test_a_slot_no_waiter_can_use_goes_to_a_newcomer_that_can():
    pool = make_pool(limit1=1)
    held = await pool.acquire(answer(), pinned="a2")
    retried = asyncio.create_task(pool.acquire(fails_once_on_a1()))
    await settle(10)  # failed on a1, waits for a2 while a1 is free
    newcomer = await asyncio.wait_for(pool.acquire(answer()), 1)
    assert newcomer.value == "a1" and not retried.done()

    later = asyncio.create_task(pool.acquire(answer()))  # both busy: waits behind `retried`
    await settle(10)
    newcomer.release()  # a1 again: useless to `retried`, which keeps its place
    assert (await asyncio.wait_for(later, 1)).value == "a1"
    assert not retried.done()
    held.release()
    assert (await asyncio.wait_for(retried, 1)).value == "a2"


async def test_resuming_an_account_serves_as_many_waiters_as_it_has_slots():
    pool = make_pool(limit1=2)
    pool.pause("a1", "paused by the operator", 3600)
    held = await pool.acquire(answer())
    assert held.value == "a2"
    waiting = [asyncio.create_task(pool.acquire(answer())) for _ in range(3)]
    await settle(10)
    assert pool.resume("a1", "paused by the operator")
    served = await asyncio.wait_for(asyncio.gather(*waiting[:2]), 1)
    assert [lease.value for lease in served] == ["a1", "a1"] and not waiting[2].done()
    held.release()
    assert (await asyncio.wait_for(waiting[2], 1)).value == "a2"
