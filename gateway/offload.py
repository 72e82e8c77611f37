"""Big chat and Responses bodies are decoded and checked in a worker process, off the event loop.

orjson and pydantic-core hold the GIL for a whole call: a 30 MB body of a million content
parts costs ~4 s of CPU in one stretch (decode 0.35 s, schema check 3.9 s), and a worker
thread would stall the event loop just as long (four such requests held `/health` for
9.9 s). So bodies over `OFFLOAD_BYTES` go to a small process pool: the worker decodes and
checks them as the route would, then folds each run of adjacent text parts into one part
(joined by "\\n", as `text_of` joins them, so prompts and conversation digests do not
change) and sends back that compact JSON, which the event loop decodes in milliseconds.
A Responses body's input items are stored and listed back by `input_items` as sent: the
worker also sends them whole, encoded, and they reach the store as an `orjson.Fragment`
(copied, never decoded on the loop); only the planning copy is folded.
Errors come back as their status, message, param and code.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import Any

import orjson
from starlette.requests import Request

from .errors import GatewayError, InvalidRequest
from .limits import json_loads, read_json_bytes
from .translate.chat import ChatRequest, parse_chat_request
from .translate.responses import ResponsesRequest, parse_responses_request

log = logging.getLogger("gateway")
OFFLOAD_BYTES = 1 << 20  # smaller bodies decode in well under a millisecond per KB: not worth a hop
TEXT_TYPES = frozenset({"text", "input_text"})
RESPONSE_TEXT_TYPES = frozenset({"input_text", "output_text"})  # both become chat text parts (to_messages)
_pool: ProcessPoolExecutor | None = None


async def read_chat_request(request: Request, max_bytes: int) -> ChatRequest:
    """The chat request of `request`'s body; a big body is decoded and checked in a worker process."""
    body = await read_json_bytes(request, max_bytes)
    if len(body) < OFFLOAD_BYTES:
        return parse_chat_request(json_loads(body))
    return parse_chat_request(orjson.loads(await _in_worker(decode_chat, body)))


async def read_responses_request(request: Request, max_bytes: int) -> ResponsesRequest:
    """The Responses request of `request`'s body; a big body is decoded and checked in a worker process."""
    body = await read_json_bytes(request, max_bytes)
    if len(body) < OFFLOAD_BYTES:
        return parse_responses_request(json_loads(body))
    folded, items = await _in_worker(decode_responses, body)
    return replace(parse_responses_request(orjson.loads(folded)), kept_items=orjson.Fragment(items))


async def _in_worker(decode: Callable[[bytes], tuple[str, Any]], body: bytes) -> Any:
    try:
        kind, result = await asyncio.get_running_loop().run_in_executor(_executor(), decode, body)
    except BrokenProcessPool:  # a worker died (killed, out of memory): start afresh next time
        _reset()
        raise GatewayError("The gateway's body decoder stopped unexpectedly; retry the request.") from None
    if kind == "error":
        status, message, param, code = result
        raise InvalidRequest(message, param=param, code=code, status=status)
    return result


def decode_chat(body: bytes) -> tuple[str, Any]:
    """In the worker: decode, check as the route does, and compact the text parts."""
    try:
        obj = json_loads(body)
        parse_chat_request(obj)
    except GatewayError as exc:
        return "error", (exc.status, exc.message, exc.param, exc.code)
    for message in obj["messages"]:
        if isinstance(message.get("content"), list):
            message["content"] = compact_parts(message["content"])
    return "ok", orjson.dumps(obj)


def decode_responses(body: bytes) -> tuple[str, Any]:
    """In the worker: decode and check as the route does; send back the body with its input items
    (ids given) folded for planning, and the items as sent, encoded, for `input_items`."""
    try:
        obj = json_loads(body)
        items = parse_responses_request(obj).items
    except GatewayError as exc:
        return "error", (exc.status, exc.message, exc.param, exc.code)
    kept = orjson.dumps(items)
    for item in items:  # the parser's own copies: `kept` is already encoded
        if item.get("type") == "message":
            text = "output_text" if item["role"] == "assistant" else "input_text"
            item["content"] = compact_parts(item["content"], RESPONSE_TEXT_TYPES, text)
    obj["input"] = items  # the parser keeps the ids it is given, so both copies name the items alike
    return "ok", (orjson.dumps(obj), kept)


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
        _pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        log.info("started %d body-decoding worker process(es) for request bodies over %d bytes", workers,
                 OFFLOAD_BYTES)
    return _pool


def _reset() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None
