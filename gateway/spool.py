"""Big bytes cross to and from the body-decoding worker processes through files, not pipes.

The process pool pickles what it sends and unpickles what comes back on its own threads, and
each copy of a 33 MB body or result holds the GIL for 20-100 ms on 2 shared cores: the event
loop stalls that long. File reads and writes release the GIL while the kernel copies, so a big
body is written to a spool file a megabyte at a time as it arrives (never joined in memory),
the worker reads it there and writes its results to files the gateway reads back in one
`os.read` on a thread. Files go to the temp folder (`TMPDIR`); each is removed once read.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterable

FLUSH_BYTES = 1 << 20  # chunks are written in batches of about this size: one thread hop each
FLUSH_CHUNKS = 256  # or of this many chunks, when a client sends tiny ones


def new_path() -> str:
    """A fresh, empty spool file's path; whoever ends up with it removes it (`discard`)."""
    fd, path = tempfile.mkstemp(prefix="gateway-spool-")
    os.close(fd)
    return path


def discard(*paths: str) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


async def collect(chunks: AsyncIterable[bytes], threshold: int) -> bytes | str:
    """A body under `threshold` bytes in memory; a bigger one in a spool file, as its path."""
    held: list[bytes] = []
    size = 0
    path: str | None = None
    try:
        async for chunk in chunks:
            held.append(chunk)
            size += len(chunk)
            if path is None and size >= threshold:
                path = new_path()
            if path is not None and (size >= FLUSH_BYTES or len(held) >= FLUSH_CHUNKS):
                await asyncio.to_thread(_append, path, held)
                held, size = [], 0
        if path is None:
            return b"".join(held)
        await asyncio.to_thread(_append, path, held)
        return path
    except BaseException:
        if path is not None:
            discard(path)
        raise


async def write(data: bytes) -> str:
    """`data` in a new spool file (the kernel copies it, the GIL is free meanwhile)."""
    path = new_path()
    try:
        await asyncio.to_thread(_append, path, [data])
    except BaseException:
        discard(path)
        raise
    return path


async def take(path: str) -> bytes:
    """A spool file's bytes, read in one call on a thread; the file is removed."""
    try:
        return await asyncio.to_thread(_read, path)
    finally:
        discard(path)


def fill(path: str, data: bytes) -> None:
    """In a worker: write a result into the spool file the gateway made for it. Never creates one:
    if the gateway gave up on the request (client gone) and removed it, nothing is left behind."""
    with open(path, "r+b") as file:
        file.write(data)


def _append(path: str, chunks: list[bytes]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _read(path: str) -> bytes:
    with open(path, "rb", buffering=0) as file:
        size = os.fstat(file.fileno()).st_size
        data = os.read(file.fileno(), size)  # allocated unfilled, filled by the kernel without the GIL
        if len(data) == size:
            return data
        return data + file.read()  # a short read (files over 2 GiB): not the hot path
