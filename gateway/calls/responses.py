"""The responses service: a Responses request runs as a chat call, and is kept for later.

`plan` turns the request (and the stored response it continues) into the same
`ChatCall` chat completions use. With `previous_response_id` and one new message, the
upstream Qwen chat of that response is continued (only the new message is sent);
otherwise, or when that chat is gone, the whole conversation is folded into a new one.
Stored responses live in the `Store` under `responses`, scoped to the API key's owner id; the
input items of a big body, encoded by a worker, are a record of their own under `response-items`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from ..account import Lease
from ..accounts import AccountPool
from ..errors import GatewayError, InvalidRequest, NotFound
from ..file_records import find_upload
from ..middleware import request_owner
from ..store import Record, Store
from ..translate.chat import text_of
from ..translate.response_events import ResponseRender
from ..translate.response_input import image_files, to_messages
from ..translate.responses import ResponsesRequest
from .answers import AnswerStream, OpenAnswer
from .chat import ChatCall
from .continuation import hold, run
from .lifetime import CutOnShutdown, stream_failure
from .prepare import prepare_call

NAMESPACE = "responses"
ITEMS_NAMESPACE = "response-items"  # a big body's input items, apart, so reading the response never decodes them
KEEP_SECONDS = 30 * 24 * 3600  # OpenAI keeps stored responses for 30 days


class ResponseStore:
    """Stored responses, each visible only to the owner (API key) that created it."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def get(self, owner: str, response_id: str, param: str | None = None) -> Record:
        record = await self._store.get(NAMESPACE, response_id)
        if record is None or record.get("owner") != owner:
            raise NotFound(f"No response found with id '{response_id}'.", param=param)
        return record

    async def put(self, owner: str, response: dict[str, Any], items: list[dict[str, Any]] | bytes,
                  messages: list[dict[str, Any]], chat_id: str | None, parent_id: str | None) -> None:
        """Keep a response; `items` as bytes are the encoded record `{"input_items": [...]}` of a big body."""
        record: Record = {"owner": owner, "response": response, "messages": messages, "chat_id": chat_id,
                          "parent_id": parent_id}
        if isinstance(items, bytes):  # first, so a stored response always has its items
            await self._store.put_bytes(ITEMS_NAMESPACE, response["id"], items, KEEP_SECONDS)
        else:
            record["input_items"] = items
        await self._store.put(NAMESPACE, response["id"], record, KEEP_SECONDS)

    async def items_apart(self, response_id: str) -> bytes:
        """The encoded `{"input_items": [...]}` record of a response whose record does not hold them."""
        return await self._store.get_bytes(ITEMS_NAMESPACE, response_id) or b'{"input_items":[]}'

    async def delete(self, owner: str, response_id: str) -> None:
        await self.get(owner, response_id)
        await self._store.delete(NAMESPACE, response_id)
        await self._store.delete(ITEMS_NAMESPACE, response_id)


def response_store(request: Request) -> ResponseStore:
    return ResponseStore(request.app.state.store)


@dataclass
class Planned:
    request: ResponsesRequest
    call: ChatCall
    account: str | None  # the account that owns the continued upstream chat
    conversation: list[dict[str, Any]]  # earlier turns and this input, without instructions
    render: ResponseRender


async def plan(request: Request, req: ResponsesRequest) -> Planned:
    history: list[dict[str, Any]] = []
    previous: Record | None = None
    chat_id = parent_id = None
    if req.previous_response_id is not None:
        previous = await response_store(request).get(request_owner(request.scope), req.previous_response_id,
                                                     "previous_response_id")
        history = previous["messages"]
    files, file_account = await _hosted_files(request, req.items)
    turn = to_messages(req.items, history, files)
    if previous is not None and len(turn) == 1 and turn[0]["role"] in {"user", "tool"} and previous["parent_id"]:
        chat_id, parent_id = previous["chat_id"], previous["parent_id"]  # only the new message goes upstream
    chat = req.with_history(history, chat_id, parent_id, files)
    try:
        call, account = await prepare_call(request, chat)
    except InvalidRequest as exc:
        raise req.input_error(exc, len(history)) from None
    account = account or file_account  # a Qwen file is usable by the account that uploaded it only
    query = text_of(chat.messages[-1]) if call.chat_type == "search" else None
    render = ResponseRender(req, chat.model, search_query=query)
    return Planned(req, call, account, history + turn, render)


async def _hosted_files(request: Request, items: list[dict[str, Any]]) -> tuple[dict[str, str], str | None]:
    """The Qwen-hosted URLs of the `/v1/files` uploads that input images name, and their account."""
    files: dict[str, str] = {}
    account = None
    for param, file_id in image_files(items):
        try:
            entry = await find_upload(request.app.state.store, file_id, request_owner(request.scope), param)
        except NotFound as exc:  # a reference inside the input: the request is wrong, not the path
            raise InvalidRequest(exc.message, param=param, code="file_not_found") from None
        files[file_id], account = entry["uploaded"]["file_url"], entry["account"]
    return files, account


async def create(request: Request, planned: Planned) -> dict[str, Any]:
    """A whole response: the chat answer, rendered as output items, kept if asked."""
    pool: AccountPool = request.app.state.pool
    served = await run(pool, planned.call.complete, planned.account, planned.call.chaining)
    request.state.account = served.account_id
    completion = served.value
    request.app.state.chats.remember(completion["chat_id"], served.account_id)
    message = completion["choices"][0]["message"]
    render = planned.render
    if message.get("reasoning_content"):
        render.reasoning(message["reasoning_content"])
    if message["content"]:
        render.text(message["content"])
    sources = [a["url_citation"] for a in message.get("annotations") or ()]
    render.finish(message.get("tool_calls") or [], sources, completion["usage"])
    await _keep(request, planned, message["content"], message.get("tool_calls"), completion["chat_id"],
                completion["parent_id"])
    assert render.response is not None
    return render.response


async def open_stream(request: Request, planned: Planned) -> Lease[OpenAnswer]:
    """The upstream answer, primed to its first output: failures up to here are plain HTTP errors."""
    pool: AccountPool = request.app.state.pool
    opened = await hold(pool, planned.call.open, planned.account, planned.call.chaining)
    request.state.account = opened.account_id
    request.app.state.chats.remember(opened.value.translator.chat_id, opened.account_id)
    return opened


async def stream_events(request: Request, planned: Planned, lease: Lease[OpenAnswer],
                        cut: CutOnShutdown) -> AsyncIterator[bytes]:
    render = planned.render
    answer = AnswerStream(planned.call, lease.value)
    failure: GatewayError | None = None
    try:
        async with lease:  # releases the account; a failure in here marks it
            # The events of one step go out in one write: Responses send several per step.
            yield b"".join(render.opening())
            async with cut:
                async for field, text in answer.pieces():
                    yield b"".join(render.text(text) if field == "content" else render.reasoning(text))
            shaped, translator = answer.shaped, answer.answer.translator
            closing = render.text(shaped.content) if shaped.content else []
            closing += render.finish(shaped.tool_calls, translator.sources, translator.usage())
            await _keep(request, planned, render.output_text, shaped.tool_calls, translator.chat_id,
                        translator.response_id)
            await planned.call.remember(lease.account_id, translator, render.output_text, shaped.tool_calls)
            yield b"".join(closing)
    except Exception as exc:  # the client gets error and response.failed, never a cut connection
        failure = stream_failure(exc, lease.account_id, "response stream")
    finally:
        await answer.close()
    if failure is not None:
        yield b"".join(render.failed(failure))


async def _keep(request: Request, planned: Planned, content: str | None, tool_calls: list[dict[str, Any]] | None,
                chat_id: str | None, parent_id: str | None) -> None:
    if not planned.request.store:
        return
    answer: dict[str, Any] = {"role": "assistant", "content": content or None}
    if tool_calls:
        answer["tool_calls"] = tool_calls
    assert planned.render.response is not None
    await response_store(request).put(request_owner(request.scope), planned.render.response,
                                      planned.request.stored_items, [*planned.conversation, answer], chat_id,
                                      parent_id)
