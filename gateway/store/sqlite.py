"""SqliteStore: one file on this machine (WAL), so state survives a restart.

aiosqlite runs every statement on one worker thread, so the event loop never waits on
the disk. Expiry is wall-clock time, kept in a column and checked on every read; a
lease is a record whose upsert succeeds only if the old one expired or has the same owner,
which SQLite does atomically even when two processes share the file.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from ..config import ConfigError
from .base import Record, Write, decode, lease_record

SCHEMA = ("CREATE TABLE IF NOT EXISTS records (namespace TEXT NOT NULL, key TEXT NOT NULL, "
          "expires REAL NOT NULL, data BLOB NOT NULL, PRIMARY KEY (namespace, key)) WITHOUT ROWID")
ROWS_PER_INSERT = 500  # 4 parameters a row: well under SQLite's 32,766 per statement
CLAIM = ("INSERT INTO records VALUES (?, ?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE "
         "SET expires = excluded.expires, data = excluded.data "
         "WHERE records.expires <= ? OR records.data = excluded.data")


def sqlite_path(url: str) -> Path:
    """`sqlite:///rel/path` is relative to the working directory; `sqlite:////abs/path` is absolute."""
    rest = url[len("sqlite://"):]
    if not rest.startswith("/") or len(rest) < 2:
        raise ConfigError("state_url: a SQLite URL is sqlite:///relative/path.db or sqlite:////absolute/path.db")
    return Path(rest[1:])  # "/rel/path" → rel/path; "//abs/path" → /abs/path


class SqliteStore:
    kind = "sqlite"
    shared = False  # one machine: a restart finds everything, but replicas elsewhere do not

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._opening = asyncio.Lock()

    @classmethod
    def open(cls, url: str) -> SqliteStore:
        """Create the file and table now, so a path that cannot be written stops start-up with its name."""
        path = sqlite_path(url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(path) as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(SCHEMA)
                db.execute("BEGIN IMMEDIATE")  # a read-only file or folder fails here, not on the first write
                db.rollback()
            db.close()
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"state_url: cannot write the SQLite store at {path.resolve()}: {exc}") from None
        return cls(path)

    async def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            async with self._opening:
                if self._db is None:
                    db = await aiosqlite.connect(self.path, isolation_level=None)
                    await db.execute("PRAGMA busy_timeout=5000")
                    await db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at each checkpoint, fast commits
                    self._db = db
        return self._db

    async def get(self, namespace: str, key: str) -> Record | None:
        data = await self.get_bytes(namespace, key)
        return None if data is None else decode(namespace, key, data)

    async def get_bytes(self, namespace: str, key: str) -> bytes | None:
        db = await self._conn()
        async with db.execute("SELECT data FROM records WHERE namespace = ? AND key = ? AND expires > ?",
                              (namespace, key, time.time())) as rows:
            row = await rows.fetchone()
        return None if row is None else bytes(row[0])

    async def put(self, namespace: str, key: str, record: Mapping[str, Any], ttl: float) -> None:
        await self.put_bytes(namespace, key, orjson.dumps(record), ttl)

    async def put_bytes(self, namespace: str, key: str, data: bytes, ttl: float) -> None:
        db = await self._conn()
        if ttl <= 0:
            await db.execute("DELETE FROM records WHERE namespace = ? AND key = ?", (namespace, key))
            return
        await db.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?)",
                         (namespace, key, time.time() + ttl, data))

    async def put_many(self, writes: Sequence[Write]) -> None:
        # One statement a chunk: one trip to the store's thread and one commit, however many rows.
        db = await self._conn()
        now = time.time()
        for start in range(0, len(writes), ROWS_PER_INSERT):
            chunk = writes[start:start + ROWS_PER_INSERT]
            values: list[Any] = []
            for namespace, key, record, ttl in chunk:
                values += (namespace, key, now + ttl, orjson.dumps(record))
            await db.execute("INSERT OR REPLACE INTO records VALUES " + ", ".join(["(?, ?, ?, ?)"] * len(chunk)),
                             values)

    async def delete(self, namespace: str, key: str) -> bool:
        db = await self._conn()
        async with db.execute("DELETE FROM records WHERE namespace = ? AND key = ? AND expires > ?",
                              (namespace, key, time.time())) as cursor:
            return cursor.rowcount > 0

    async def list(self, namespace: str) -> list[Record]:
        db = await self._conn()
        now = time.time()
        await db.execute("DELETE FROM records WHERE namespace = ? AND expires <= ?", (namespace, now))
        async with db.execute("SELECT key, data FROM records WHERE namespace = ?", (namespace,)) as rows:
            found = [decode(namespace, key, data) for key, data in await rows.fetchall()]
        return [record for record in found if record is not None]

    async def claim(self, namespace: str, key: str, owner: str, ttl: float) -> bool:
        db = await self._conn()
        now = time.time()
        async with db.execute(CLAIM, (namespace, key, now + ttl, lease_record(owner), now)) as cursor:
            return cursor.rowcount > 0

    async def release(self, namespace: str, key: str, owner: str) -> None:
        db = await self._conn()
        await db.execute("DELETE FROM records WHERE namespace = ? AND key = ? AND data = ?",
                         (namespace, key, lease_record(owner)))

    def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None
