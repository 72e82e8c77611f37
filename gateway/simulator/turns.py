"""One completion request read as a turn of the chat tree (§3.2, §6).

The upstream spreads a turn's settings over the body, the message and its
`feature_config`/`extra.meta`; this module gathers them once so handlers read
plain fields.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from . import script
from .faults import Fault, fault_from_marker
from .state import Chat, Message, new_id


@dataclass(frozen=True)
class Turn:
    message: dict[str, Any]  # the (last) message sent
    single_user_message: bool  # exactly one message, role user: anything else gets an empty reply
    text: str  # the message text, markers included
    chat_type: str
    model_id: str
    parent_id: str | None
    phase_schema: bool  # feature_config.output_schema == "phase"
    thinking_enabled: bool
    size: str | None  # top-level `size`, else extra.meta.size
    meta_size: str | None
    stream: bool


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_turn(body: dict[str, Any], chat: Chat) -> Turn:
    messages = body.get("messages")
    messages = messages if isinstance(messages, list) else []
    message = _dict(messages[-1]) if messages else {}
    meta = _dict(_dict(message.get("extra")).get("meta"))
    feature = _dict(message.get("feature_config"))
    chat_type = (
        _str(message.get("chat_type"))
        or _str(message.get("sub_chat_type"))
        or _str(meta.get("subChatType"))
        or _str(body.get("chat_type"))
        or chat.chat_type
    )
    models = message.get("models")
    model_id = _str(body.get("model")) or (_str(models[0]) if isinstance(models, list) and models else None) or ""
    # Only `parent_id` counts (§6); the frontend's `parentId` echo is not trusted to carry it.
    parent_id = _str(body.get("parent_id"))
    return Turn(
        message=message,
        single_user_message=len(messages) == 1 and message.get("role") == "user",
        text=script.message_text(message.get("content")),
        chat_type=chat_type,
        model_id=model_id,
        parent_id=parent_id,
        phase_schema=feature.get("output_schema") == "phase",
        thinking_enabled=feature.get("thinking_enabled") is True,
        size=_str(body.get("size")) or _str(meta.get("size")),
        meta_size=_str(meta.get("size")),
        stream=body.get("stream", True) is not False,
    )


def marker_fault(text: str) -> Fault | None:
    """The first well-formed `[[sim:fault=…]]` marker in the prompt, if any."""
    for params in script.markers(text):
        if "fault" in params:
            try:
                return fault_from_marker(params)
            except ValueError:
                continue
    return None


def earlier_user_texts(chat: Chat, parent_id: str | None) -> list[str]:
    """What the user said along the parent chain, oldest first: the context the model sees."""
    return [script.clean_text(m.content) for m in chat.ancestors(parent_id) if m.role == "user"]


def store_turn(chat: Chat, turn: Turn, model: str, *, extra: dict[str, Any] | None = None) -> tuple[Message, Message]:
    """Add the user message and an empty assistant reply under `turn.parent_id`."""
    now = int(time.time())
    fid = turn.message.get("fid")
    user_id = fid if isinstance(fid, str) and fid and fid not in chat.messages else new_id()
    files = turn.message.get("files")
    user = Message(
        id=user_id, parent_id=turn.parent_id, role="user", content=turn.text, chat_type=turn.chat_type,
        model=model, timestamp=now, files=files if isinstance(files, list) else [],
    )
    chat.add(user)
    answer = Message(
        id=new_id(), parent_id=user.id, role="assistant", content="", chat_type=turn.chat_type,
        model=model, timestamp=now, extra=dict(extra or {}), done=False,
    )
    chat.add(answer)
    return user, answer
