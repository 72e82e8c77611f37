import asyncio

import pytest

from gateway.accounts import AccountPool
from gateway.config import Cooldowns
from gateway.errors import (
    NoAccountAvailable,
    UpstreamBlocked,
    UpstreamInvalidInput,
    UpstreamRateLimited,
    UpstreamTransient,
    UpstreamUnauthorized,
)


class FakeClient:
    def __init__(self, account_id):
        self.account_id = account_id
        self.closed = False

    async def close(self):
        self.closed = True


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def make_pool(n=2, limit=2, clock=None, **kwargs):
    clients = [(FakeClient(f"a{i}"), limit) for i in range(1, n + 1)]
    return AccountPool(clients, Cooldowns(), clock=clock or Clock(), **kwargs)


def failing_on(errors):
    """An attempt that raises errors[account_id] (once each) and otherwise answers its id."""
    calls = []

    async def attempt(client):
        calls.append(client.account_id)
        error = errors.pop(client.account_id, None)
        if error is not None:
            raise error
        return client.account_id

    return attempt, calls


async def test_least_busy_account_is_chosen_and_released():
    pool = make_pool()
    first = await pool.acquire(failing_on({})[0])
    second = await pool.acquire(failing_on({})[0])
    assert {first.value, second.value} == {"a1", "a2"}
    first.release()
    first.release()  # idempotent
    assert [a.in_flight for a in pool.accounts].count(0) == 1


async def test_rate_limited_account_cools_for_num_hours_and_the_call_moves_on():
    clock = Clock()
    pool = make_pool(clock=clock)
    attempt, calls = failing_on({"a1": UpstreamRateLimited("limit", hours=10)})
    lease = await pool.acquire(attempt)
    assert calls[0] == "a1" and lease.value == "a2"
    status = {s["id"]: s for s in pool.status()}
    assert status["a1"]["state"] == "cooling" and status["a1"]["cooling_seconds"] == 36000
    clock.now += 36001
    assert {s["state"] for s in pool.status()} == {"healthy"}


async def test_rate_limit_without_num_cools_for_the_default_24_hours():
    pool = make_pool(n=1)
    attempt, _ = failing_on({"a1": UpstreamRateLimited("limit")})
    with pytest.raises(NoAccountAvailable) as caught:
        await pool.acquire(attempt)
    assert caught.value.status == 429
    assert caught.value.headers["retry-after"] == str(24 * 3600)


async def test_all_cooling_is_429_with_the_earliest_reset():
    pool = make_pool()
    attempt, _ = failing_on({"a1": UpstreamRateLimited("x", hours=2), "a2": UpstreamRateLimited("x", hours=1)})
    with pytest.raises(NoAccountAvailable) as caught:
        await pool.acquire(attempt)
    assert caught.value.status == 429
    assert caught.value.headers["retry-after"] == "3600"
    assert "cooling down" in caught.value.message


async def test_unauthorized_marks_invalid_and_all_invalid_is_503_without_retry():
    pool = make_pool()
    attempt, _ = failing_on({"a1": UpstreamUnauthorized("expired"), "a2": UpstreamUnauthorized("expired")})
    with pytest.raises(NoAccountAvailable) as caught:
        await pool.acquire(attempt)
    assert caught.value.status == 503
    assert caught.value.headers["x-should-retry"] == "false"
    assert {s["state"] for s in pool.status()} == {"invalid"}


async def test_blocked_cools_briefly_and_is_not_retried_on_the_same_account():
    pool = make_pool()
    attempt, calls = failing_on({"a1": UpstreamBlocked("waf")})
    lease = await pool.acquire(attempt)
    assert calls == ["a1", "a2"] and lease.value == "a2"
    assert pool.status()[0]["cooling_seconds"] == 30 * 60


async def test_client_fault_is_not_retried_and_does_not_punish():
    pool = make_pool()
    attempt, calls = failing_on({"a1": UpstreamInvalidInput("bad attachment")})
    with pytest.raises(UpstreamInvalidInput):
        await pool.acquire(attempt)
    assert calls == ["a1"]
    assert {s["state"] for s in pool.status()} == {"healthy"}


async def test_attempts_are_bounded():
    pool = make_pool(n=3, max_attempts=2)
    attempt, calls = failing_on({f"a{i}": UpstreamTransient("boom") for i in (1, 2, 3)})
    with pytest.raises(UpstreamTransient):
        await pool.acquire(attempt)
    assert len(calls) == 2


async def test_repeated_failures_cool_an_account_down():
    pool = make_pool(n=1, max_attempts=1)
    for _ in range(3):
        attempt, _ = failing_on({"a1": UpstreamTransient("boom")})
        with pytest.raises(Exception):
            await pool.acquire(attempt)
    assert pool.status()[0]["state"] == "cooling"
    assert pool.status()[0]["cooling_seconds"] == 5 * 60


async def test_a_full_pool_waits_for_a_free_slot():
    pool = make_pool(n=1, limit=1)
    held = await pool.acquire(failing_on({})[0])
    waiter = asyncio.create_task(pool.acquire(failing_on({})[0]))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    held.release()
    lease = await asyncio.wait_for(waiter, 1)
    assert lease.value == "a1"


async def test_a_full_pool_gives_up_at_the_deadline():
    pool = make_pool(n=1, limit=1, deadline=0.1)
    await pool.acquire(failing_on({})[0])
    with pytest.raises(NoAccountAvailable) as caught:
        await pool.acquire(failing_on({})[0])
    assert caught.value.status == 503


async def test_a_chat_is_pinned_to_its_owner():
    pool = make_pool()
    pool.remember_chat("chat-1", "a2")
    assert pool.chat_owner("chat-1") == "a2"
    lease = await pool.acquire(failing_on({})[0], pinned="a2")
    assert lease.value == "a2"


async def test_no_account_configured_is_503():
    pool = AccountPool([], Cooldowns())
    with pytest.raises(NoAccountAvailable) as caught:
        await pool.acquire(failing_on({})[0])
    assert "no Qwen account" in caught.value.message


async def test_close_closes_every_client():
    pool = make_pool()
    await pool.close()
    assert all(a.client.closed for a in pool.accounts)


async def test_waiting_calls_are_served_first_come_first_served():
    pool = make_pool(n=1, limit=1)
    held = await pool.acquire(failing_on({})[0])
    order = []

    async def call(name):
        lease = await pool.acquire(failing_on({})[0])
        order.append(name)
        await asyncio.sleep(0)
        lease.release()

    waiters = [asyncio.create_task(call(i)) for i in range(5)]
    await asyncio.sleep(0.01)
    held.release()
    await asyncio.wait_for(asyncio.gather(*waiters), 1)
    assert order == [0, 1, 2, 3, 4]


async def test_a_cancelled_waiter_does_not_lose_the_slot():
    pool = make_pool(n=1, limit=1)
    held = await pool.acquire(failing_on({})[0])
    first = asyncio.create_task(pool.acquire(failing_on({})[0]))
    second = asyncio.create_task(pool.acquire(failing_on({})[0]))
    await asyncio.sleep(0.01)
    first.cancel()
    held.release()
    lease = await asyncio.wait_for(second, 1)
    assert lease.value == "a1"
