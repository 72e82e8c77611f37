"""A local aiohttp server sending every request, whatever its method and path, to one handler."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.test_utils import TestServer


@asynccontextmanager
async def serve_all(handle: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> AsyncIterator[TestServer]:
    """The running server (its `.port`; `make_url("")` is its base URL) until the block ends."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    async with TestServer(app, host="127.0.0.1") as server:
        yield server
