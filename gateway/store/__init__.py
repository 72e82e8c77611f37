"""Shared state behind a small async interface: JSON records by namespace and key, with expiry.

`open_store(url)` picks the backend a `GATEWAY_STATE_URL` names:

- `sqlite:///rel/path.db` (relative to the working directory) or `sqlite:////abs/path.db`:
  the default, one machine, survives restarts;
- `redis://[:password@]host:port/db` or `rediss://`: several replicas share everything;
- `memory://`: one process, lost on restart (tests).
"""

from __future__ import annotations

from ..config import ConfigError
from .base import Record, Store, StoreUnavailable
from .memory import MemoryStore

DEFAULT_STATE_URL = "sqlite:///data/gateway.db"

__all__ = ["DEFAULT_STATE_URL", "MemoryStore", "Record", "Store", "StoreUnavailable", "open_store"]


def open_store(url: str) -> Store:
    """The store `url` names; a SQLite file that cannot be written is a ConfigError naming its path."""
    if url.startswith("memory://"):
        return MemoryStore()
    if url.startswith("sqlite://"):
        from .sqlite import SqliteStore

        return SqliteStore.open(url)
    if url.startswith(("redis://", "rediss://")):
        from .redis import RedisStore

        return RedisStore(url)
    raise ConfigError(f"state_url (GATEWAY_STATE_URL): {url.partition('://')[0]}:// is not a store; "
                      "use sqlite:///path, redis://host:port/db, rediss://… or memory://")
