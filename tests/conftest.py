"""Fixtures for the simulator's own tests: one server per module, reset before each test
(a module sets `TOKEN`, the bearer token its `client` sends); and a real Redis for all.
"""

import functools
from collections.abc import AsyncIterator, Iterator

import httpcore2
import httpx
import pytest
import pytest_asyncio

from gateway.simulator import RunningSimulator, SimOptions, start_simulator

from redis_server import RedisServer
from redis_server import redis_server as start_redis


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(SimOptions(speed=0))
    yield running
    await running.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shared_client(sim: RunningSimulator, request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"authorization": f"Bearer {request.module.TOKEN}"}
    async with httpx.AsyncClient(base_url=sim.url, headers=headers) as http:
        yield http


@pytest_asyncio.fixture(loop_scope="module")
async def client(sim: RunningSimulator, shared_client: httpx.AsyncClient) -> httpx.AsyncClient:
    sim.state.reset()  # also restores the options the server was built with
    return shared_client


@pytest.fixture(scope="session", autouse=True)
def _one_tls_context() -> Iterator[None]:
    """The openai client builds a TLS context from the system's CA bundle for every client (~20 ms,
    about 15 % of an end-to-end test's CPU); the tests only speak plain HTTP on loopback, so all
    their clients share one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpcore2, "default_ssl_context", functools.cache(httpcore2.default_ssl_context))
        yield


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the whole run, started on first use and stopped at the end."""
    with start_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis URL with an empty database: each test starts clean."""
    redis_server.flush()
    return redis_server.url
