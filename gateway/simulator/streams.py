"""SSE replies for t2t, search and t2i, in the captured grammar of §4.

One generator acts out a `StreamPlan`: `response.created` (its line ends with a
space once, as captured), a `response.info` keep-alive, an optional thinking
prologue in the configured era, optional web search, the content deltas with
growing `usage`, then the terminal `finished`. Stream faults cut in at their
`after` count of content deltas.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import StreamingResponse

from . import envelopes, script, variants
from .faults import Fault
from .state import Message, SimState, StreamRecord


class SimulatedDrop(Exception):
    """Raised mid-body so uvicorn aborts the connection without a closing chunk."""


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, SimulatedDrop):
                return False
            inner = getattr(exc, "exceptions", None)  # an ExceptionGroup around it
            exc = inner[0] if inner else None
        return True


def quiet_simulated_drops() -> None:
    """Keep uvicorn from logging a traceback for every scripted `drop` (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


@dataclass
class StreamPlan:
    chat_id: str
    user_message_id: str
    response_id: str
    token: str
    answer: Message  # the stored assistant message, filled as deltas go out
    kind: str  # "answer" or "image_gen": the phase of the content deltas
    pieces: list[str]  # text pieces, or one whole URL per image
    input_tokens: int
    phase_schema: bool = True  # `output_schema:"phase"` was sent
    thinking_era: str | None = None  # "think" | "summary" | None (no prologue)
    search_query: str | None = None
    image_hw: tuple[int, int] | None = None  # (height, width)
    fault: Fault | None = None


def _event(payload: Any, trailing_space: bool = False) -> bytes:
    return b"data: " + orjson.dumps(payload) + (b" \n\n" if trailing_space else b"\n\n")


def _delta(plan: StreamPlan, phase: str, status: str, content: str = "", **fields: Any) -> dict[str, Any]:
    delta: dict[str, Any] = {"role": "assistant", "content": content, "phase": phase, "status": status, **fields}
    if not plan.phase_schema:
        del delta["phase"]  # without output_schema "phase" the upstream omits it
    return delta


def _choice(delta: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"choices": [{"delta": delta}], **top}


def sse_response(plan: StreamPlan, sim: SimState) -> StreamingResponse:
    headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
    return StreamingResponse(_events(plan, sim), media_type="text/event-stream", headers=headers)


async def _events(plan: StreamPlan, sim: SimState) -> AsyncIterator[bytes]:
    record = StreamRecord(plan.response_id, plan.chat_id, plan.token)
    sim.streams[plan.response_id] = record
    sim.chat_streams[plan.chat_id] = record
    framing = sim.options.framing
    try:
        async for chunk in _script(plan, sim, record):
            yield variants.frame(chunk, framing)
    finally:
        plan.answer.done = True
        if record.status == "running":
            record.status = "cancelled"  # the client went away mid-stream


async def _script(plan: StreamPlan, sim: SimState, record: StreamRecord) -> AsyncIterator[bytes]:
    options = sim.options
    fault = plan.fault
    created = {"chat_id": plan.chat_id, "parent_id": plan.user_message_id,
               "response_id": plan.response_id, "response_index": "0"}
    if await sim.pause(sim.scaled(options.first_event_delay)):
        record.status = "closed"
        return
    yield _event({"response.created": created}, trailing_space=True)
    if fault is not None and fault.kind == "stall" and await sim.pause(fault.number("seconds", 5.0)):
        record.status = "closed"
        return
    if fault is not None and fault.kind == "invalid_input":
        record.status = "faulted"
        yield _event({"error": {"code": "invalid_input", "details": envelopes.INVALID_INPUT_DETAILS}})
        return
    yield _keepalive(plan)
    if fault is not None and fault.kind == "empty_stream":
        record.status = "finished"
        return  # a clean end with no delta at all (§7a)
    second = variants.SecondAnswer(plan.chat_id, plan.user_message_id) if _kind(fault) == "dual_answer" else None
    if second is not None:
        yield second.created()
    prologue = _prologue(plan)
    if _kind(fault) == "unknown_phase":
        prologue += [(chunk, prologue[-1][1] if prologue else 0) for chunk in variants.unknown_phase(plan.response_id)]
    reasoning = prologue[-1][1] if prologue else 0  # reasoning tokens spent before the answer
    sent = 0
    for chunk, _ in prologue:
        sent += 1
        if await sim.pause(sim.scaled(options.delta_delay)):
            record.status = "closed"
            return
        yield chunk
        if options.keepalive_every and sent % options.keepalive_every == 0:
            yield _keepalive(plan)
    cut_at = _cut_point(fault, len(plan.pieces))
    if _kind(fault) == "no_image_url" and plan.kind == "image_gen":
        plan.answer.content, cut_at = "\n".join(plan.pieces), None  # only the chat detail holds the URLs
        plan.pieces = []
    output = 0
    for index, piece in enumerate(plan.pieces[:cut_at]):
        if plan.response_id in sim.stopped:
            cut_at = None  # a stop ends the reply the normal way
            break
        if await sim.pause(sim.scaled(options.delta_delay)):
            record.status = "closed"
            return
        output = max(output + 1, script.text_tokens(len(plan.answer.content) + len(piece)))
        other = second.delta(index) if second is not None else None
        if other is not None:
            yield other
        yield _event(_content_delta(plan, piece, reasoning, output))
        sent += 1
        if options.keepalive_every and sent % options.keepalive_every == 0:
            yield _keepalive(plan)
    if fault is not None and cut_at is not None:
        record.status = "faulted"
        if fault.kind == "drop":
            raise SimulatedDrop(plan.response_id)
        if fault.kind == "stream_error":
            yield _event({"error": "Internal error!"})
        if fault.kind == "status_error":
            yield variants.status_error(plan.response_id)
        return  # truncate: a clean close without the finished event
    record.status = "finished"
    if second is not None:
        for chunk in second.rest(len(plan.pieces)):
            yield chunk
    if fault is not None and fault.kind == "finish_reason":
        yield variants.finished_with_reason(plan.kind, plan.response_id, str(fault.params.get("reason", "length")))
    else:
        yield _event(_choice(_delta(plan, plan.kind, "finished"), response_id=plan.response_id))
    if options.send_done:
        yield b"data: [DONE]\n\n"


def _cut_point(fault: Fault | None, pieces: int) -> int | None:
    """How many content deltas go out before a cutting fault strikes (None: no cut)."""
    if fault is None or fault.kind not in ("stream_error", "truncate", "drop", "status_error"):
        return None
    return min(fault.count("after", 0), pieces)


def _kind(fault: Fault | None) -> str | None:
    return fault.kind if fault is not None else None


def _keepalive(plan: StreamPlan) -> bytes:
    info = {"action": "keep_alive", "chat_id": plan.chat_id, "response_id": plan.response_id,
            "timestamp": int(time.time())}
    return _event({"response.info": info})


def _content_delta(plan: StreamPlan, piece: str, reasoning: int, output: int) -> dict[str, Any]:
    if plan.kind == "image_gen":
        height, width = plan.image_hw or (0, 0)
        plan.answer.content = piece if not plan.answer.content else plan.answer.content + "\n" + piece
        delta = _delta(plan, "image_gen", "typing", piece, extra={"output_image_hw": [[height, width]]})
        counts = {"input_tokens": 0, "output_tokens": 0, "width": width, "height": height, "image_count": 1}
        return _choice(delta, response_id=plan.response_id, usage=counts)
    plan.answer.content += piece
    details: dict[str, int] = {"text_tokens": output}
    if reasoning:
        details["reasoning_tokens"] = reasoning
    usage: dict[str, Any] = {
        "input_tokens": plan.input_tokens,
        "output_tokens": output + reasoning,
        "total_tokens": plan.input_tokens + output + reasoning,
        "output_tokens_details": details,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    delta = _delta(plan, "answer", "typing", piece)
    return _choice(delta, response_id=plan.response_id, usage=usage, timestamp=int(time.time()))


def _prologue(plan: StreamPlan) -> list[tuple[bytes, int]]:
    """Thinking and search events before the content, each with the reasoning tokens so far."""
    events: list[tuple[bytes, int]] = []
    reasoning = 0
    if plan.thinking_era == "think":
        for piece in script.pieces(script.THINK_TEXT):
            reasoning += script.text_tokens(len(piece))
            usage: dict[str, Any] = {"input_tokens": plan.input_tokens, "output_tokens": reasoning,
                     "total_tokens": plan.input_tokens + reasoning,
                     "output_tokens_details": {"reasoning_tokens": reasoning}}
            delta = _delta(plan, "think", "typing", piece)
            events.append((_event(_choice(delta, response_id=plan.response_id, usage=usage)), reasoning))
        events.append((_event(_choice(_delta(plan, "think", "finished"), response_id=plan.response_id)), reasoning))
    elif plan.thinking_era == "summary":
        steps = zip(script.SUMMARY_STEPS, script.SUMMARY_REASONING_TOKENS, strict=True)
        for (titles, thoughts), reasoning in steps:
            extra = {"summary_title": {"content": titles}, "summary_thought": {"content": thoughts}}
            usage = {"output_tokens": reasoning, "output_tokens_details": {"reasoning_tokens": reasoning}}
            delta = _delta(plan, "thinking_summary", "typing", extra=extra)
            events.append((_event(_choice(delta, usage=usage)), reasoning))
        events.append((_event(_choice(_delta(plan, "thinking_summary", "finished"))), reasoning))
    if plan.search_query is not None:
        events.extend((chunk, reasoning) for chunk in _web_search(plan))
    return events


def _web_search(plan: StreamPlan) -> list[bytes]:
    call_id = "call_" + uuid.uuid4().hex[:24]
    arguments = orjson.dumps({"queries": [plan.search_query]}).decode()
    start = _delta(plan, "web_search", "typing", function_call={"name": "web_search", "arguments": arguments},
                   function_id=call_id, extra={"display_position": "think"})
    results = [{"title": f"Result for {plan.search_query}", "url": "https://example.com/search-result",
                "snippet": "A simulated search result.", "hostname": "example.com"}]
    done = _delta(plan, "web_search", "finished", name="web_search", function_id=call_id,
                  extra={"web_search_info": results, "display_position": "think"})
    return [_event(_choice(start, response_id=plan.response_id)), _event(_choice(done, response_id=plan.response_id))]
