"""A chat request made ready to run: checked against its model, its images and documents loaded,
and where its conversation stands upstream (`continuation`)."""

from __future__ import annotations

from dataclasses import replace

from starlette.requests import Request

from ..attachments import image_refs, load_images
from ..catalog import require
from ..documents import document_parts, load_documents
from ..errors import InvalidRequest
from ..middleware import request_owner
from ..translate.chat import ChatRequest, hosted_images
from .chat import ChatCall, Documents
from .continuation import find_chaining, own_chat


async def prepare_call(request: Request, chat: ChatRequest) -> tuple[ChatCall, str | None]:
    """The call, and the account it must run on (None: any)."""
    state = request.app.state
    if chat.parent_id is not None and chat.chat_id is None:
        raise InvalidRequest("'parent_id' continues an upstream chat and needs 'chat_id' too.", param="parent_id")
    model = await state.catalog.pick(chat.model, "t2t")
    if chat.web_search:
        require(model.info, "search", param="web_search_options")
    request.state.model = model.info.id
    chat_id, parent_id, owner = await own_chat(state.chats, chat.chat_id, chat.parent_id)
    if chat_id != chat.chat_id:
        chat = replace(chat, chat_id=chat_id, parent_id=parent_id)
    refs = image_refs(chat.messages)
    if refs or hosted_images(chat.messages[-1]):
        require(model.info, "vision")
    if document_parts(chat.messages):
        require(model.info, "document")
    images = await load_images(refs, state.media) if refs else []
    documents = await load_documents(request, chat.messages)
    chaining = None if chat.chat_id is not None else await find_chaining(
        state.conversations, state.pool, request_owner(request.scope), model.info.id,
        "\n".join(chat.instructions()), chat.messages)
    if chaining is not None and chaining.link is not None:
        owner = chaining.link.account_id
    uploads = list(zip(refs, images, strict=False))
    media = state.settings.media
    return ChatCall(chat, model, state.settings.timeouts.first_event, uploads, state.media.uploads,
                    conversation=state.settings.conversation, chaining=chaining,
                    documents=Documents(documents, state.media.uploads.sts_keys, media.parse_poll, media.parse_wait),
                    max_answer=state.settings.timeouts.max_answer, fresh=state.fresh_chats), owner
