"""Chat completions on the chat service: a whole answer, or a stream of OpenAI chunks.

`/v1/chat/completions` and the original API's `/api/chat` (t2t) both come here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request

from ..account import Lease
from ..accounts import AccountPool
from ..errors import GatewayError
from ..translate.answer import Shaped
from ..translate.chat import ChatRequest
from ..translate.completion import DONE, AnswerTranslator, ChunkWriter, error_event
from .answers import AnswerStream, OpenAnswer
from .chat import ChatCall
from .continuation import hold, run
from .lifetime import CutOnShutdown, stream_failure
from .prepare import prepare_call


async def complete(request: Request, chat: ChatRequest) -> dict[str, Any]:
    """The whole chat.completion; the account is free again once it is in hand."""
    state = request.app.state
    call, owner = await prepare_call(request, chat)
    pool: AccountPool = state.pool
    served = await run(pool, call.complete, owner, call.chaining)
    request.state.account = served.account_id
    request.state.usage = served.value.get("usage")  # for /metrics
    state.chats.remember(served.value["chat_id"], served.account_id)
    return served.value


async def open_stream(request: Request, chat: ChatRequest) -> tuple[ChatCall, Lease[OpenAnswer]]:
    """The answer's first event in hand on a held account: a failure so far is an ordinary HTTP error."""
    state = request.app.state
    call, owner = await prepare_call(request, chat)
    pool: AccountPool = state.pool
    opened: Lease[OpenAnswer] = await hold(pool, call.open, owner, call.chaining)
    request.state.account = opened.account_id
    request.state.translator = opened.value.translator  # its usage, once the stream ends, for /metrics
    state.chats.remember(opened.value.translator.chat_id, opened.account_id)
    return call, opened


async def stream_chunks(call: ChatCall, lease: Lease[OpenAnswer], usage: bool,
                        cut: CutOnShutdown) -> AsyncIterator[bytes]:
    """The SSE data of the answer, ending with [DONE]; a failure becomes an error event. Releases the lease."""
    answer = AnswerStream(call, lease.value)
    translator = lease.value.translator
    failure: GatewayError | None = None
    try:
        async with lease:  # releases the account; a failure in here marks it
            writer = ChunkWriter(translator, usage)
            yield writer.role()
            sent: list[str] = []
            async with cut:
                async for out in answer.pieces():
                    if out[0] == "content":
                        sent.append(out[1])
                    yield writer.piece(out)
            yield b"".join(_closing_chunks(writer, translator, answer.shaped, sent, usage))  # one write, not 2-5
            await call.remember(lease.account_id, translator, "".join(sent), answer.shaped.tool_calls)
    except Exception as exc:  # the client gets an error event and [DONE], never a cut connection
        failure = stream_failure(exc, lease.account_id)
    finally:
        await answer.close()
    if failure is not None:
        yield error_event(failure)
    yield DONE


def _closing_chunks(writer: ChunkWriter, translator: AnswerTranslator, shaped: Shaped, sent: list[str],
                    usage: bool) -> list[bytes]:
    chunks = []
    if shaped.content:
        sent.append(shaped.content)
        chunks.append(writer.piece(("content", shaped.content)))
    chunks += writer.tool_calls(shaped.tool_calls)
    if translator.sources:
        chunks.append(writer.annotations("".join(sent)))
    chunks.append(writer.finish(shaped.finish_reason))
    if usage:
        chunks.append(writer.usage())
    return chunks
