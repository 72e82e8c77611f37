import pytest

from .harness import Stack, live_stack


@pytest.fixture
def stack() -> Stack:
    """A fresh simulator + gateway per test: account health never leaks between tests."""
    with live_stack() as live:
        yield live
