"""spool.py: big bodies go to a temp file as they arrive, byte for byte, and no file outlives its request."""

import tempfile
from pathlib import Path

import pytest

from gateway import spool


@pytest.fixture(autouse=True)
def own_tempdir(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


async def chunks(*parts, fail=False):
    for part in parts:
        yield part
    if fail:
        raise ConnectionResetError("client gone")


async def test_a_small_body_stays_in_memory_and_a_big_one_is_spooled_byte_for_byte(tmp_path):
    assert await spool.collect(chunks(b"{", b"}"), threshold=10) == b"{}"
    parts = [bytes([i % 251]) * 65_536 for i in range(40)]  # 2.6 MB in 64 KiB chunks: three flushes
    path = await spool.collect(chunks(*parts), threshold=100_000)
    assert isinstance(path, str) and Path(path).parent == tmp_path
    assert await spool.take(path) == b"".join(parts)
    assert list(tmp_path.iterdir()) == []  # taken: removed


async def test_a_body_that_fails_half_way_leaves_no_file(tmp_path):
    with pytest.raises(ConnectionResetError):
        await spool.collect(chunks(b"x" * 300_000, b"y" * 300_000, fail=True), threshold=100_000)
    assert list(tmp_path.iterdir()) == []


async def test_written_bytes_come_back_whole(tmp_path):
    data = bytes(range(256)) * 20_000
    assert await spool.take(await spool.write(data)) == data
    assert list(tmp_path.iterdir()) == []
