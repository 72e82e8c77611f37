"""Fixtures for the simulator's own tests: one server per module, reset before each test.

A module sets `TOKEN`, the bearer token its `client` sends.
"""

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from gateway.simulator import RunningSimulator, SimOptions, start_simulator


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
