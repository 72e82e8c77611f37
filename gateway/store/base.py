"""The Store protocol every backend implements, and what backends share.

Records go in and come out as plain dicts that survive an orjson round trip, so the
backends are interchangeable: memory (one process, lost on restart), SQLite (one
machine, survives restarts), Redis (every replica sees every record).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import orjson

from ..errors import GatewayError

Record = dict[str, Any]
Write = tuple[str, str, Mapping[str, Any], float]  # namespace, key, record, ttl (> 0)
log = logging.getLogger("gateway.store")
WARN_EVERY = 30.0  # seconds between two "store unreachable" warnings


class StoreUnavailable(GatewayError):
    """The shared store cannot be reached: a route that needs it answers 503 saying so."""

    status = 503
    type = "server_error"
    code = "state_store_unavailable"


class Store(Protocol):
    """What shared state needs from a store: JSON records with expiry, and leases."""

    kind: str  # "memory", "sqlite" or "redis", for /health and logs
    shared: bool  # True when other processes may see the same records (several replicas)

    async def get(self, namespace: str, key: str) -> Record | None:
        """The record, or None if absent or expired."""

    async def put(self, namespace: str, key: str, record: Mapping[str, Any], ttl: float) -> None:
        """Create or replace a record that expires `ttl` seconds from now (<= 0: drop it)."""

    async def put_bytes(self, namespace: str, key: str, data: bytes, ttl: float) -> None:
        """`put` of a record already encoded (a JSON object): a big one is encoded off the event loop."""

    async def get_bytes(self, namespace: str, key: str) -> bytes | None:
        """The record as stored, still encoded: a big one is decoded off the event loop."""

    async def put_many(self, writes: Sequence[Write]) -> None:
        """Create or replace many records in one round trip (each ttl > 0): `WriteBehind`'s batches."""

    async def delete(self, namespace: str, key: str) -> bool:
        """Remove a record; True if it was there."""

    async def list(self, namespace: str) -> list[Record]:
        """Every live record of a namespace, in no particular order."""

    async def claim(self, namespace: str, key: str, owner: str, ttl: float) -> bool:
        """Take or renew a lease: True if `key` was free, expired or already held by `owner`.

        The one primitive behind every "exactly one replica at a time" rule (video job
        polling, token refresh, concurrency slots): a holder that dies stops renewing,
        and the lease comes back after `ttl` seconds.
        """

    async def release(self, namespace: str, key: str, owner: str) -> None:
        """Give a lease back early; a lease held by another owner is left alone."""

    def healthy(self) -> bool:
        """False while the store is unreachable (only a remote store ever is)."""

    async def close(self) -> None:
        """Release connections and files."""


def lease_record(owner: str) -> bytes:
    """A lease is a record like any other: `{"owner": ...}`, encoded the same way everywhere."""
    return orjson.dumps({"owner": owner})


def decode(namespace: str, key: str, data: bytes | str) -> Record | None:
    """A stored record, or None (logged) when it cannot be read: an older format never crashes."""
    try:
        record = orjson.loads(data)
    except orjson.JSONDecodeError:
        record = None
    if not isinstance(record, dict):
        log.warning("store: skipping undecodable record %s/%s", namespace, key)
        return None
    return record


class Outage:
    """Tracks whether a remote store is reachable: one warning per 30 s while it is not."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.down_since: float | None = None
        self._warned = 0.0

    def failed(self, exc: BaseException) -> StoreUnavailable:
        now = time.monotonic()
        if self.down_since is None:
            self.down_since = now
        if now - self._warned >= WARN_EVERY:
            self._warned = now
            log.warning("state store (%s) unreachable: %s; serving from local state", self.kind, type(exc).__name__)
        return StoreUnavailable(f"The shared state store ({self.kind}) is unreachable, and this request needs it; "
                                "try again shortly.", headers={"retry-after": "1"})

    def succeeded(self) -> None:
        if self.down_since is not None:
            log.warning("state store (%s) reachable again after %.0f s", self.kind, time.monotonic() - self.down_since)
            self.down_since = None
            self._warned = 0.0
