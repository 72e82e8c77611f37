"""Account marks through the store: what one pool learns, a pool on the same store takes in."""

import asyncio

from gateway.account_marks import AccountMarks, credential_digest
from gateway.accounts import AccountPool
from gateway.config import Cooldowns
from gateway.errors import UpstreamRateLimited, UpstreamUnauthorized
from gateway.store import MemoryStore

from test_accounts import FakeClient

CREDENTIALS = {"a1": credential_digest("token-1"), "a2": credential_digest("token-2")}


def pool():
    return AccountPool([(FakeClient("a1"), 2), (FakeClient("a2"), 2)], Cooldowns())


async def learn(pool_, errors):
    for account_id, error in errors.items():
        pool_.report(account_id, error)  # as a failed call would


async def test_marks_reach_a_pool_that_starts_later_on_the_same_store():
    store = MemoryStore()
    first = pool()
    marks = AccountMarks(store, first, CREDENTIALS)
    await marks.start()
    await learn(first, {"a1": UpstreamRateLimited("quota", hours=2)})
    await learn(first, {"a2": UpstreamUnauthorized("token expired")})
    await marks.stop()  # waits for the writes
    later = pool()
    await AccountMarks(store, later, CREDENTIALS).start()
    status = {a["id"]: a for a in later.status()}
    assert status["a1"]["state"] == "cooling" and 7190 <= status["a1"]["cooling_seconds"] <= 7200
    assert status["a1"]["reason"] == "rate limited"
    assert status["a2"]["state"] == "invalid"


async def test_an_invalid_mark_is_forgotten_once_the_token_is_replaced():
    store = MemoryStore()
    first = pool()
    marks = AccountMarks(store, first, CREDENTIALS)
    await marks.start()
    await learn(first, {"a1": UpstreamUnauthorized("token expired")})
    await marks.stop()
    replaced = pool()
    await AccountMarks(store, replaced, {**CREDENTIALS, "a1": credential_digest("a new token")}).start()
    assert {a["id"]: a["state"] for a in replaced.status()} == {"a1": "healthy", "a2": "healthy"}


async def test_a_record_of_an_unknown_shape_is_skipped(caplog):
    store = MemoryStore()
    await store.put("accounts", "a1", {"id": "a1", "cool_until": "soon"}, ttl=60)
    fresh = pool()
    await AccountMarks(store, fresh, CREDENTIALS).start()
    assert {a["state"] for a in fresh.status()} == {"healthy"}
    assert "unknown shape" in caplog.text


async def test_a_mode_rest_reaches_another_pool_and_rests_only_that_mode():
    store = MemoryStore()
    first = pool()
    marks = AccountMarks(store, first, CREDENTIALS)
    await marks.start()
    first.report("a1", UpstreamRateLimited("video quota", hours=3), "t2v")
    await marks.stop()
    other = pool()
    await AccountMarks(store, other, CREDENTIALS).start()
    a1 = {a["id"]: a for a in other.status()}["a1"]
    assert a1["modes"]["t2v"]["state"] == "cooling" and 10790 <= a1["modes"]["t2v"]["cooling_seconds"] <= 10800
    assert a1["modes"]["t2t"]["state"] == "healthy"
    lease = await other.acquire(lambda client: _ok(), mode="t2t")
    assert lease.account_id in {"a1", "a2"}
    lease.release()
    assert (await other.acquire(lambda client: _ok(), mode="t2v")).account_id == "a2"


async def _ok():
    return "ok"


async def test_a_pause_and_a_resume_reach_every_pool_on_the_store():
    from gateway import account_admin

    store = MemoryStore()
    here, there = pool(), pool()
    marks_here, marks_there = AccountMarks(store, here, CREDENTIALS), AccountMarks(store, there, CREDENTIALS)
    await marks_here.start()
    await marks_there.start()
    account_admin.pause(here, "a1")
    await asyncio.gather(*marks_here._writes)
    await marks_there.refresh()
    assert {a["id"]: a["reason"] for a in there.status()}["a1"] == "paused by the operator"
    await marks_here.refresh()  # its own record does not undo anything
    assert {a["id"]: a["reason"] for a in here.status()}["a1"] == "paused by the operator"
    account_admin.resume(here, "a1")
    await asyncio.gather(*marks_here._writes)
    await marks_there.refresh()
    assert {a["id"]: a["state"] for a in there.status()} == {"a1": "healthy", "a2": "healthy"}
    await marks_here.stop()
    await marks_there.stop()


async def test_an_older_record_does_not_lift_a_fresh_pause():
    from gateway import account_admin

    store = MemoryStore()
    first = pool()
    marks = AccountMarks(store, first, CREDENTIALS)
    await marks.start()
    await learn(first, {"a1": UpstreamRateLimited("quota", hours=0.0001)})  # a short rest, written down
    await asyncio.gather(*marks._writes)
    first.accounts[0].cool_until = 0.0  # that rest is over
    marks._pool.on_mark = None  # the pause's own write has not landed yet
    account_admin.pause(first, "a1")
    await marks.refresh()
    assert {a["id"]: a["reason"] for a in first.status()}["a1"] == "paused by the operator"
    await marks.stop()
