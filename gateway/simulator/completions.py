"""`POST /api/v2/chat/completions`: validation in the upstream's order, then the reply.

t2t, search, t2i and image_edit stream SSE (`streams`); t2v/i2v answer the task
JSON (`tasks`). Faults queued for the token come first; a prompt marker fault
is read once the body is known.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from . import envelopes, media, script, tasks
from .attachments import Attachment, attachments
from .catalog import ModelSpec, find_model
from .documents import Documents, chars_before, read_documents
from .faults import Fault
from .gate import act_out, admit, base_url, read_json, sim_of
from .state import Chat, SimState, StoredFile, fake_jwt, new_id, uid_for
from .streams import StreamPlan, sse_response
from .turns import Turn, earlier_user_texts, marker_fault, parse_turn, store_turn

_IMAGE_TYPES = ("t2i", "image_edit")


async def create_completion(request: Request) -> Response:
    admission = await admit(request, "completions", write=True)
    if isinstance(admission, Response):
        return admission
    sim, token = sim_of(request), admission.token
    body = await read_json(request)
    if not isinstance(body, dict):
        return envelopes.validation_error("Input should be a valid dictionary or object to extract fields from")
    chat_id = body.get("chat_id")
    if not isinstance(chat_id, str) or not chat_id:
        return envelopes.validation_error("Field 'chat_id': Field required")
    if not isinstance(body.get("messages"), list):
        return envelopes.validation_error("Field 'messages': Field required")
    chat = sim.owned_chat(chat_id, token)
    if chat is None:
        deleted = "This chat has been deleted. Please start a new chat to continue."  # §3.7
        return envelopes.not_found("CHAT_NOT_FOUND", deleted if chat_id in sim.deleted_chats else "Chat not found")
    turn = parse_turn(body, chat)
    if len(turn.text) > sim.options.prompt_limit:  # §7a: the anti-bot stub, though the account is fine
        return envelopes.json_response(envelopes.rgv587(base_url(request)))
    spec = find_model(turn.model_id)
    if spec is None:
        return envelopes.bad_request("Model not found")
    if turn.parent_id is not None and turn.parent_id not in chat.messages and turn.parent_id not in chat.detached_ids:
        if sim.options.parent_error == "PARENT_NOT_FOUND":
            return envelopes.json_response(envelopes.failure("PARENT_NOT_FOUND", "Parent message not found"))
        return envelopes.bad_request(f"Invalid input chat parent_id {turn.parent_id} is not exist.")
    if len(body["messages"]) > 1:  # Sep 2026: no longer an empty reply (R #54) but a refusal (S)
        return envelopes.bad_request("Invalid input too many messages")
    running = sim.chat_streams.get(chat.id)
    if running is not None and running.status == "running":
        return envelopes.bad_request(envelopes.CHAT_IN_PROGRESS)
    fault = admission.fault
    if fault is None:
        fault = marker_fault(turn.text)
        stop = await act_out(fault, request)
        if stop is not None:
            return stop
    if turn.chat_type not in spec.chat_types:
        return envelopes.bad_request(f"Model {spec.id} does not support chat type {turn.chat_type}")
    if turn.chat_type in tasks.VIDEO_TYPES:
        return tasks.create_video(request, sim, token, chat, spec, turn, fault)
    if not sim.charge(token, "chat", sim.options.daily_chat_limit):
        return envelopes.json_response(envelopes.rate_limited(sim.options.daily_limit_num))
    if not turn.stream:
        return _non_stream(sim, chat, spec, turn, request)
    return _stream(request, sim, token, chat, spec, turn, fault)


def _reply_text(chat: Chat, turn: Turn, found: list[Attachment], documents: Documents | None = None) -> str:
    documents = documents or Documents()
    text = script.answer_for(turn.text, earlier_user_texts(chat, turn.parent_id), documents.texts,
                             documents.earlier_chars)
    return text + "".join(script.attachment_note(a.kind, a.stored.data) for a in found
                          if a.stored is not None and a.url not in documents.context_urls)


def _non_stream(sim: SimState, chat: Chat, spec: ModelSpec, turn: Turn, request: Request) -> Response:
    """The Oct 2025 JSON reply; later the upstream refused non-stream chat."""
    if not sim.options.nonstream_chat or turn.chat_type in _IMAGE_TYPES:
        return envelopes.bad_request("Non-streaming output is not supported for this chat type")
    found, unusable = attachments(sim, turn.message, request.url.netloc)
    if unusable or (found and not spec.vision):
        return envelopes.json_response(envelopes.failure("invalid_input", envelopes.INVALID_INPUT_DETAILS), actual=400)
    _, answer = store_turn(chat, turn, spec.id)
    answer.content = _reply_text(chat, turn, found) if turn.single_user_message else ""
    answer.done = True
    detached = new_id()
    chat.detached_ids.add(detached)
    data = {"chat_id": "", "parent_id": answer.id, "message_id": detached, "messages": None,
            "choices": [{"message": {"role": "assistant", "content": answer.content}}]}
    return envelopes.json_response(envelopes.ok(data))


def _stream(
    request: Request, sim: SimState, token: str, chat: Chat, spec: ModelSpec, turn: Turn, fault: Fault | None
) -> Response:
    found, unusable = attachments(sim, turn.message, request.url.netloc)
    images = [a for a in found if a.kind == "image" and a.stored is not None]
    documents = read_documents(sim, turn.message, token, spec)
    documents.earlier_chars = chars_before(sim, chat, turn.parent_id)
    unusable = unusable or documents.unusable
    if any(a.kind != "file" for a in found) and not spec.vision and turn.chat_type not in _IMAGE_TYPES:
        unusable = True  # image input to a text-only model
    if turn.chat_type == "image_edit" and not images:
        unusable = True  # nothing to edit
    if spec.must_think and not turn.thinking_enabled:
        unusable = True  # §9: a think_skip model refuses thinking off
    user, answer = store_turn(chat, turn, spec.id)
    plan = StreamPlan(
        chat_id=chat.id, user_message_id=user.id, response_id=answer.id, token=token, answer=answer,
        kind="answer", pieces=[], input_tokens=script.input_tokens(turn.text), phase_schema=turn.phase_schema,
        thinking_era=sim.options.era if turn.thinking_enabled and spec.can_think else None,
        fault=Fault("invalid_input") if unusable else fault,
    )
    if not turn.single_user_message:
        plan.thinking_era = None  # "more gives empty replies"
    elif turn.chat_type in _IMAGE_TYPES:
        plan.kind, plan.input_tokens = "image_gen", 0
        url, plan.image_hw = _render_image(request, sim, token, answer.id, turn, images)
        plan.pieces = [url]
        answer.extra["output_image_hw"] = [list(plan.image_hw)]
    else:
        plan.pieces = script.pieces(_reply_text(chat, turn, found, documents))
        if turn.chat_type == "search":
            plan.search_query = script.clean_text(turn.text)[:100]
    return sse_response(plan, sim)


def _render_image(
    request: Request, sim: SimState, token: str, response_id: str, turn: Turn, sources: list[Attachment]
) -> tuple[str, tuple[int, int]]:
    """Store a small PNG of the advertised ratio; return its URL and (height, width)."""
    width, height = media.IMAGE_SIZES[media.ratio_or_square(turn.size)]
    seed = script.clean_text(turn.text).encode() + b"".join(s.stored.data for s in sources if s.stored)
    png = media.png_bytes(width // media.SERVED_SCALE, height // media.SERVED_SCALE, media.colour_for(seed))
    path = f"/output/{uid_for(token)}/t2i/{response_id}/1.png"
    sim.files[path] = StoredFile("image/png", png)
    return f"{base_url(request)}{path}?key={fake_jwt(response_id)}", (height, width)
