"""RedisStore: every replica on one Redis sees the same records (redis-py's asyncio client).

A record is a string key `gw:<namespace>:<key>` with a PX expiry; each namespace has a
sorted-set index (member key, score expiry) so `list` costs one range and one MGET, never
a SCAN of the database. A lease is taken or renewed by a small Lua script, atomically.

When Redis cannot be reached, every call raises StoreUnavailable at once for a second
(`RETRY_AFTER`) instead of each one waiting on a dead socket; redis-py reconnects by
itself on the next try, so the gateway carries on without a restart.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import orjson
import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .base import Outage, Record, Write, decode, lease_record

T = TypeVar("T")
PREFIX = "gw:"
RETRY_AFTER = 1.0  # seconds a failed Redis is not asked again
TIMEOUT = 2.0  # seconds for a connect or a reply
# KEYS[1] the lease, KEYS[2] its namespace index; ARGV owner record, ttl ms, expiry score
CLAIM = """
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
return 1
"""
# KEYS[1] the record, KEYS[2] its namespace index; ARGV data, ttl ms, expiry score, now
PUT = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
return 1
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]); redis.call('ZREM', KEYS[2], KEYS[1]) end
return 0
"""


class RedisStore:
    kind = "redis"
    shared = True

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT,
                                           health_check_interval=30)
        self._claim = self._redis.register_script(CLAIM)
        self._put = self._redis.register_script(PUT)
        self._release = self._redis.register_script(RELEASE)
        self.outage = Outage("redis")
        self._resting_until = 0.0

    async def _call(self, work: Callable[[], Awaitable[T]]) -> T:
        if self.outage.down_since is not None and time.monotonic() < self._resting_until:
            raise self.outage.failed(RedisConnectionError("still unreachable"))
        try:
            result = await work()
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            self._resting_until = time.monotonic() + RETRY_AFTER
            raise self.outage.failed(exc) from None
        self.outage.succeeded()
        return result

    async def get(self, namespace: str, key: str) -> Record | None:
        data = await self.get_bytes(namespace, key)
        return None if data is None else decode(namespace, key, data)

    async def get_bytes(self, namespace: str, key: str) -> bytes | None:
        data = await self._call(lambda: self._redis.get(_key(namespace, key)))
        return data.encode() if isinstance(data, str) else data  # bytes: the client does not decode

    async def put(self, namespace: str, key: str, record: Mapping[str, Any], ttl: float) -> None:
        await self.put_bytes(namespace, key, orjson.dumps(record), ttl)

    async def put_bytes(self, namespace: str, key: str, data: bytes, ttl: float) -> None:
        name, index = _key(namespace, key), _index(namespace)
        if ttl <= 0:
            await self.delete(namespace, key)
            return
        # One script, not a MULTI pipeline: atomic all the same, in one command and one reply.
        # The index drops what expired, so it stays as small as the live records.
        args = _put_args(data, ttl, time.time())
        await self._call(lambda: self._put(keys=[name, index], args=args))

    async def put_many(self, writes: Sequence[Write]) -> None:
        now = time.time()

        async def work() -> None:
            async with self._redis.pipeline(transaction=False) as pipe:  # one round trip, each script atomic
                for namespace, key, record, ttl in writes:
                    await self._put(keys=[_key(namespace, key), _index(namespace)],
                                    args=_put_args(orjson.dumps(record), ttl, now), client=pipe)
                await pipe.execute()

        await self._call(work)

    async def delete(self, namespace: str, key: str) -> bool:
        name, index = _key(namespace, key), _index(namespace)

        async def work() -> bool:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(name)
                pipe.zrem(index, name)
                deleted, _ = await pipe.execute()
            return bool(deleted)

        return await self._call(work)

    async def list(self, namespace: str) -> list[Record]:
        index = _index(namespace)

        async def work() -> list[tuple[bytes, Any]]:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zremrangebyscore(index, "-inf", time.time())
                pipe.zrange(index, 0, -1)
                _, names = await pipe.execute()
            return list(zip(names, await self._redis.mget(names), strict=False)) if names else []

        found = [decode(namespace, name.decode()[len(index):], data)
                 for name, data in await self._call(work) if data is not None]
        return [record for record in found if record is not None]

    async def claim(self, namespace: str, key: str, owner: str, ttl: float) -> bool:
        keys = [_key(namespace, key), _index(namespace)]
        args: list[bytes | int | float] = [lease_record(owner), max(1, round(ttl * 1000)), time.time() + ttl]
        return bool(await self._call(lambda: self._claim(keys=keys, args=args)))

    async def release(self, namespace: str, key: str, owner: str) -> None:
        keys = [_key(namespace, key), _index(namespace)]
        await self._call(lambda: self._release(keys=keys, args=[lease_record(owner)]))

    def healthy(self) -> bool:
        return self.outage.down_since is None

    async def close(self) -> None:
        await self._redis.aclose()


def _key(namespace: str, key: str) -> str:
    return f"{PREFIX}{namespace}:{key}"


def _index(namespace: str) -> str:
    return f"{PREFIX}{namespace}:"  # the index key is the records' common prefix: no record has an empty key


def _put_args(data: bytes, ttl: float, now: float) -> list[bytes | int | float]:
    """The PUT script's ARGV: data, ttl ms, expiry score, now."""
    return [data, max(1, round(ttl * 1000)), now + ttl, now]
