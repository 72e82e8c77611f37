"""What the status page changes: pausing and resuming an account, adding one from a pasted refresh token.

A pause is a cool-down with no end and the reason PAUSED, so every path that skips a resting account
skips a paused one too; like any mark it goes through the store, so every replica pauses and resumes
it (account_marks). An added account lives until the gateway
restarts (put it in config.local.yaml to keep it); its tokens go to the state store like any other's.
"""

from __future__ import annotations

import re
from typing import Any

from .accounts import PAUSE_SECONDS, PAUSED, AccountPool
from .config import AccountSettings
from .errors import InvalidRequest, NotFound
from .qwen.client import QwenClient
from .upkeep import Upkeep

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _known(pool: AccountPool, account_id: str) -> str:
    if pool.client(account_id) is None:
        raise NotFound(f"No account '{account_id}'.")
    return account_id


def pause(pool: AccountPool, account_id: str) -> None:
    pool.pause(_known(pool, account_id), PAUSED, PAUSE_SECONDS)


def resume(pool: AccountPool, account_id: str) -> None:
    pool.resume(_known(pool, account_id), PAUSED)


async def add(app_state: Any, account_id: str, refresh_token: str, cookies: str) -> str:
    """Add and check an account; returns its state after the check."""
    pool: AccountPool = app_state.pool
    settings = app_state.settings
    account_id, refresh_token, cookies = account_id.strip(), refresh_token.strip(), cookies.strip()
    if not _ID.match(account_id):
        raise InvalidRequest("The account id takes 1-64 letters, digits, '.', '_' or '-'.", param="id")
    if any(a.id == account_id for a in pool.accounts):
        raise InvalidRequest(f"An account '{account_id}' exists already.", param="id")
    if not refresh_token:
        raise InvalidRequest("Paste the account's refresh token.", param="refresh_token")
    config = AccountSettings(id=account_id, token="", refresh_token=refresh_token, cookies=cookies)
    client = QwenClient(config, settings.qwen_base_url, settings.qwen_version, settings.timeouts,
                        upstream=settings.upstream, store=app_state.store)
    pool.add(client, config.concurrency)
    return await Upkeep(pool, settings.upstream).check(account_id, client)
