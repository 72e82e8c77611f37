"""The pool's public API: run() for one-shot calls, a Lease as the context manager of a stream,
ask() for the model list through a healthy account, and the operator's pause/resume/add."""

import pytest

from gateway.accounts import AccountPool
from gateway.config import Cooldowns
from gateway.errors import AccountsRateLimited, NoAccountAvailable, UpstreamRateLimited, UpstreamTransient


class FakeClient:
    def __init__(self, account_id):
        self.account_id = account_id

    async def close(self):
        pass


def make_pool(n=2, limit=1):
    return AccountPool([(FakeClient(f"a{i}"), limit) for i in range(1, n + 1)], Cooldowns(), clock=lambda: 1000.0)


def busy(pool):
    return {a.id: a.in_flight for a in pool.accounts}


async def answer_id(client):
    return client.account_id


async def test_run_frees_the_account_at_once_and_says_which_served():
    pool = make_pool()
    served = await pool.run(answer_id)
    assert served.value == served.account_id == "a1"
    assert busy(pool) == {"a1": 0, "a2": 0}


async def test_a_lease_held_around_a_stream_is_released_with_the_error_that_ended_it():
    pool = make_pool(n=1)
    lease = await pool.acquire(answer_id)
    assert busy(pool)["a1"] == 1
    with pytest.raises(UpstreamTransient):
        async with lease:
            raise UpstreamTransient("broke mid-stream")
    assert busy(pool)["a1"] == 0 and pool.accounts[0].failures == 1
    async with await pool.acquire(answer_id) as clean:  # a clean end clears the failure count
        assert clean.account_id == "a1"
    assert pool.accounts[0].failures == 0 and busy(pool)["a1"] == 0


async def test_the_model_list_goes_through_a_healthy_account_and_its_failure_counts():
    pool = make_pool()
    pool.pause("a1", "paused", 3600)
    assert await pool.ask(answer_id) == "a2"  # not always the first account

    async def failing(client):
        raise UpstreamTransient("down")

    with pytest.raises(UpstreamTransient):
        await pool.ask(failing)
    assert pool.accounts[1].failures == 1
    pool.pause("a2", "paused", 3600)
    assert await pool.ask(answer_id) in {"a1", "a2"}  # none healthy: the list needs no token, any may ask


async def test_pause_resume_and_add_change_accounts_only_through_the_pool():
    pool = make_pool()
    pool.pause("a1", "paused", 3600)
    assert pool.status()[0]["state"] == "cooling"
    assert pool.resume("a1", "another reason") is False
    assert pool.resume("a1", "paused") is True and pool.status()[0]["state"] == "healthy"
    pool.add(FakeClient("a3"), 2)
    assert pool.client("a3") is not None and [s["id"] for s in pool.status()] == ["a1", "a2", "a3"]


async def test_all_accounts_rate_limited_is_its_own_429_error():
    pool = make_pool()

    async def limited(client):
        raise UpstreamRateLimited("limit", hours=1)

    with pytest.raises(AccountsRateLimited) as caught:
        await pool.run(limited)
    assert isinstance(caught.value, NoAccountAvailable)
    assert (caught.value.status, caught.value.code, caught.value.headers["retry-after"]) == \
        (429, "rate_limit_exceeded", "3600")
    assert NoAccountAvailable("x").status == 503  # the class itself is never changed
