"""Chats: create (§3.1), read back the stored tree (§3.7), stop a running reply."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from . import envelopes
from .gate import admit, read_json, sim_of
from .state import Chat, Message, new_id, uid_for

_CHAT_MODES = ("normal", "guest", "local")


async def create_chat(request: Request) -> Response:
    admission = await admit(request, "chats_new", write=True)
    if isinstance(admission, Response):
        return admission
    body = await read_json(request)
    if not isinstance(body, dict):
        return envelopes.validation_error("Input should be a valid dictionary or object to extract fields from")
    models = body.get("models")
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        return envelopes.validation_error("Field 'models': Input should be a valid list")
    mode = body.get("chat_mode", "normal")
    if mode not in _CHAT_MODES:
        return envelopes.validation_error(f"Field 'chat_mode': Input should be {', '.join(_CHAT_MODES)}")
    chat_type, title = body.get("chat_type"), body.get("title")
    chat = Chat(
        id=new_id(),
        owner=admission.token,
        title=title if isinstance(title, str) else "New Chat",
        chat_type=chat_type if isinstance(chat_type, str) and chat_type else "t2t",
        models=list(models),
        created_at=int(time.time()),
    )
    sim_of(request).chats[chat.id] = chat
    return envelopes.json_response(envelopes.ok({"id": chat.id}))


def _message_json(message: Message) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": message.id,
        "parentId": message.parent_id,
        "childrenIds": list(message.children_ids),
        "role": message.role,
        "content": message.content,
        "timestamp": message.timestamp,
        "chat_type": message.chat_type,
        "sub_chat_type": message.chat_type,
        "files": message.files,
        "extra": message.extra,
    }
    if message.role == "user":
        body["models"] = [message.model]
    else:
        body.update(model=message.model, modelIdx=0, done=message.done)
    return body


async def chat_detail(request: Request) -> Response:
    admission = await admit(request)
    if isinstance(admission, Response):
        return admission
    sim = sim_of(request)
    chat = sim.owned_chat(request.path_params["chat_id"], admission.token)
    if chat is None:
        if request.path_params["chat_id"] in sim.deleted_chats:
            return envelopes.not_found("Not_Found", "Chat not found")  # §3.7
        return envelopes.not_found("CHAT_NOT_FOUND", "Chat not found")
    messages = {m.id: _message_json(m) for m in chat.messages.values()}
    current_path = [_message_json(m) for m in chat.ancestors(chat.current_id)]
    data = {
        "id": chat.id,
        "user_id": uid_for(chat.owner),
        "title": chat.title,
        "chat_type": chat.chat_type,
        "created_at": chat.created_at,
        "updated_at": max([chat.created_at, *(m.timestamp for m in chat.messages.values())]),
        "chat": {
            "id": chat.id,
            "title": chat.title,
            "models": chat.models,
            "history": {"messages": messages, "currentId": chat.current_id},
            "messages": current_path,
        },
    }
    return envelopes.json_response(envelopes.ok(data))


async def stop_completion(request: Request) -> Response:
    """`{chat_id, response_id}` (inferred): the running stream ends with its `finished` event."""
    admission = await admit(request, write=True)
    if isinstance(admission, Response):
        return admission
    sim = sim_of(request)
    body = await read_json(request)
    body = body if isinstance(body, dict) else {}
    chat = sim.owned_chat(str(body.get("chat_id", "")), admission.token)
    if chat is None:
        return envelopes.not_found("CHAT_NOT_FOUND", "Chat not found")
    response_id = body.get("response_id")
    if isinstance(response_id, str) and response_id in chat.messages:
        sim.stopped.add(response_id)
    return envelopes.json_response(envelopes.ok({}))


async def delete_chat(request: Request) -> Response:
    """`DELETE /api/v2/chats/<chat_id>` (§3): only the owner's; the chat is gone for GET and completions."""
    admission = await admit(request, write=True)
    if isinstance(admission, Response):
        return admission
    sim = sim_of(request)
    chat = sim.owned_chat(request.path_params["chat_id"], admission.token)
    if chat is None:
        return envelopes.not_found("CHAT_NOT_FOUND", "Chat not found")
    del sim.chats[chat.id]
    sim.deleted_chats.add(chat.id)
    return envelopes.json_response(envelopes.ok({"status": True}))


async def delete_all_chats(request: Request) -> Response:
    """`DELETE /api/v2/chats/` (§3): every chat of the caller's account, as "clear history" in the web UI."""
    admission = await admit(request, write=True)
    if isinstance(admission, Response):
        return admission
    sim = sim_of(request)
    for chat_id in [c.id for c in sim.chats.values() if sim.owned_chat(c.id, admission.token) is not None]:
        del sim.chats[chat_id]
        sim.deleted_chats.add(chat_id)
    return envelopes.json_response(envelopes.ok({"status": True}))
