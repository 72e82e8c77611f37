from collections.abc import Iterator

import pytest

from .harness import Stack, close_shared_servers, live_stack


@pytest.fixture(scope="session", autouse=True)
def _shared_servers() -> Iterator[None]:
    """The servers `live_stack` lends from test to test are stopped once, at the end."""
    yield
    close_shared_servers()


@pytest.fixture
def stack() -> Iterator[Stack]:
    """A fresh gateway app and a reset simulator per test: account health never leaks between tests."""
    with live_stack() as live:
        yield live
