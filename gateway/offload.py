"""Big chat and Responses bodies are decoded and checked in a worker process, off the event loop.

orjson and pydantic-core hold the GIL for a whole call: a 30 MB body of a million content
parts costs ~4 s of CPU in one stretch (decode 0.35 s, schema check 3.9 s), and a worker
thread would stall the event loop just as long (four such requests held `/health` for
9.9 s). So bodies over `OFFLOAD_BYTES` go to a small process pool: the worker decodes and
checks them as the route would, then folds each run of adjacent text parts into one part
(joined by "\\n", as `text_of` joins them, so prompts and conversation digests do not
change) and sends back that compact JSON, which the event loop decodes in milliseconds.
A Responses body's input items are stored and listed back by `input_items` as sent: the
worker also sends them whole, encoded as the record `{"input_items": [...]}` the store keeps
(never decoded on the loop); only the planning copy is folded. A stored response's items as big
as that are paged in a worker too (`page_stored_items`).
Nothing big crosses the pool's pipes: bodies and results travel as spool files (spool.py).
Errors come back as their status, message, param and code.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request

from . import spool
from .errors import GatewayError, InvalidRequest
from .limits import capped_stream, check_json_type, json_loads
from .translate.chat import ChatRequest, parse_chat_request
from .translate.response_pages import items_page
from .translate.responses import ResponsesRequest, parse_responses_request

log = logging.getLogger("gateway")
OFFLOAD_BYTES = 1 << 20  # smaller bodies decode in well under a millisecond per KB: not worth a hop
TEXT_TYPES = frozenset({"text", "input_text"})
RESPONSE_TEXT_TYPES = frozenset({"input_text", "output_text"})  # both become chat text parts (to_messages)
WORKER_NICENESS = 10
Failure = tuple[int, str, str | None, str | None]  # a GatewayError's status, message, param, code
_pool: ProcessPoolExecutor | None = None


async def read_chat_request(request: Request, max_bytes: int) -> ChatRequest:
    """The chat request of `request`'s body; a big body is decoded and checked in a worker process."""
    body = await _read(request, max_bytes)
    if isinstance(body, bytes):
        return parse_chat_request(json_loads(body))
    (folded,) = await _in_worker(decode_chat, body, 1)
    return parse_chat_request(orjson.loads(folded))


async def read_responses_request(request: Request, max_bytes: int) -> ResponsesRequest:
    """The Responses request of `request`'s body; a big body is decoded and checked in a worker process."""
    body = await _read(request, max_bytes)
    if isinstance(body, bytes):
        return parse_responses_request(json_loads(body))
    folded, kept = await _in_worker(decode_responses, body, 2)
    return replace(parse_responses_request(orjson.loads(folded)), kept_items=kept)


async def page_stored_items(record: bytes, query: Mapping[str, str]) -> bytes:
    """The `input_items` page (JSON) of a stored `{"input_items": [...]}` record; a big one is decoded in a worker."""
    if len(record) < OFFLOAD_BYTES:
        return orjson.dumps(items_page(orjson.loads(record)["input_items"], query))
    (page,) = await _in_worker(page_items, await spool.write(record), 1, dict(query))
    return page


async def _read(request: Request, max_bytes: int) -> bytes | str:
    """A small body's bytes, or the spool file a big one was written to as it arrived."""
    check_json_type(request)
    return await spool.collect(capped_stream(request, max_bytes), OFFLOAD_BYTES)


async def _in_worker(work: Callable[..., Failure | None], body: str, outputs: int, *args: Any) -> list[bytes]:
    """Run `work(body, output paths, *args)` in a worker; the bytes it wrote to each output."""
    paths: list[str] = []
    try:
        paths = [spool.new_path() for _ in range(outputs)]
        failure = await asyncio.get_running_loop().run_in_executor(_executor(), work, body, paths, *args)
        if failure is not None:
            status, message, param, code = failure
            raise InvalidRequest(message, param=param, code=code, status=status)
        return [await spool.take(path) for path in paths]
    except BrokenProcessPool:  # a worker died (killed, out of memory): start afresh next time
        _reset()
        raise GatewayError("The gateway's body decoder stopped unexpectedly; retry the request.") from None
    finally:
        spool.discard(body, *paths)


def decode_chat(body: str, out: list[str]) -> Failure | None:
    """In the worker: decode, check as the route does, and compact the text parts."""
    try:
        obj = json_loads(Path(body).read_bytes())
        parse_chat_request(obj)
    except GatewayError as exc:
        return exc.status, exc.message, exc.param, exc.code
    for message in obj["messages"]:
        if isinstance(message.get("content"), list):
            message["content"] = compact_parts(message["content"])
    spool.fill(out[0], orjson.dumps(obj))
    return None


def decode_responses(body: str, out: list[str]) -> Failure | None:
    """In the worker: decode and check as the route does; write the body with its input items
    (ids given) folded for planning, and the items as sent, as the record `input_items` lists."""
    try:
        obj = json_loads(Path(body).read_bytes())
        items = parse_responses_request(obj).items
    except GatewayError as exc:
        return exc.status, exc.message, exc.param, exc.code
    spool.fill(out[1], orjson.dumps({"input_items": items}))
    for item in items:  # the parser's own copies: the kept ones are already written
        if item.get("type") == "message":
            text = "output_text" if item["role"] == "assistant" else "input_text"
            item["content"] = compact_parts(item["content"], RESPONSE_TEXT_TYPES, text)
    obj["input"] = items  # the parser keeps the ids it is given, so both copies name the items alike
    spool.fill(out[0], orjson.dumps(obj))
    return None


def page_items(record: str, out: list[str], query: dict[str, str]) -> Failure | None:
    """In the worker: a page of a stored `{"input_items": [...]}` record, as the route gives it."""
    try:
        page = items_page(orjson.loads(Path(record).read_bytes())["input_items"], query)
    except GatewayError as exc:
        return exc.status, exc.message, exc.param, exc.code
    spool.fill(out[0], orjson.dumps(page))
    return None


def compact_parts(parts: list[dict[str, Any]], types: frozenset[str] = TEXT_TYPES,
                  folded: str = "text") -> list[dict[str, Any]]:
    """Each run of adjacent text parts (of `types`) as one `folded` part; other parts (images, files) as they are."""
    out: list[dict[str, Any]] = []
    run: list[str] = []
    for part in parts:
        if part.get("type") in types and isinstance(part.get("text"), str):
            run.append(part["text"])
            continue
        if run:
            out.append({"type": folded, "text": "\n".join(run)})
            run = []
        out.append(part)
    if run:
        out.append({"type": folded, "text": "\n".join(run)})
    return out


def _executor() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:  # spawned, not forked: the parent runs an event loop and threads
        workers = max(1, min(2, os.cpu_count() or 1))
        _pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                    initializer=_start_worker)
        log.info("started %d body-decoding worker process(es) for request bodies over %d bytes", workers,
                 OFFLOAD_BYTES)
    return _pool


def _start_worker() -> None:
    """In each worker: niced, so on a busy machine the event loop's process gets a core before these
    batch decodes; and gone with the gateway, however it ends (uvicorn re-raises SIGTERM after its
    shutdown, which skips the pool's own clean-up: the workers would live on, orphaned)."""
    os.nice(WORKER_NICENESS)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), name="parent-watch", daemon=True).start()


def _exit_with(parent: int) -> None:
    multiprocessing.connection.wait([parent])  # readable once the gateway's process has ended
    os._exit(0)


def _reset() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None
