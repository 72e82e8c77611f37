"""Text-to-video (§5): the task JSON a t2v completion returns, and task status (§3.4).

A task is `running` at once and turns `success` once the (scaled) render time
has passed; `task_failed` / `task_never_finishes` faults change its fate, and `no_task_id`
answers without the task id (`where`: "nowhere", "detail" = only the chat detail holds
it, "elsewhere" = a top-level `taskId`).
v1 status answers with real HTTP codes; v2 always answers 200 and puts the
real code in `x-actual-status-code`.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from . import envelopes, media, script
from .attachments import attachments
from .catalog import ModelSpec
from .faults import Fault
from .gate import admit, base_url, sim_of
from .state import Chat, SimState, StoredFile, Task, fake_jwt, new_id, uid_for
from .turns import Turn, store_turn

VIDEO_TYPES = ("t2v", "i2v")
_OUTCOMES = {"task_failed": "failed", "task_never_finishes": "never"}


def create_video(
    request: Request, sim: SimState, token: str, chat: Chat, spec: ModelSpec, turn: Turn, fault: Fault | None
) -> Response:
    if turn.stream:
        return envelopes.bad_request("Video generation only supports non-streaming requests")
    if turn.chat_type == "i2v":
        found, unusable = attachments(sim, turn.message, request.url.netloc)
        if unusable or not any(a.kind == "image" for a in found):
            return envelopes.json_response(
                envelopes.failure("invalid_input", envelopes.INVALID_INPUT_DETAILS), actual=400
            )
    if not sim.charge(token, "video", sim.options.daily_video_limit):
        return envelopes.json_response(envelopes.rate_limited(sim.options.daily_limit_num))
    size = media.ratio_or_square(turn.size)
    where = str(fault.params.get("where", "nowhere")) if fault is not None and fault.kind == "no_task_id" else None
    if where == "nowhere":  # the reply the original proxy's error names; the detail lacks it too
        bare = {"role": "assistant", "content": "", "done": False, "size": size, "extra": {}}
        return envelopes.json_response(envelopes.ok({"chat_id": chat.id, "parent_id": None, "message_id": new_id(),
                                                     "messages": [bare]}))
    task_id = new_id()
    _, answer = store_turn(chat, turn, spec.id, extra={"wanx": {"task_id": task_id}})
    video_path = f"/output/{uid_for(token)}/t2v/{chat.id}/{task_id}.mp4"
    sim.files[video_path] = StoredFile("video/mp4", media.mp4_bytes(script.clean_text(turn.text).encode()))
    sim.tasks[task_id] = Task(
        id=task_id, owner=token, uid=uid_for(token), chat_id=chat.id, message_id=answer.id, size=size,
        started=time.monotonic(), render_seconds=sim.scaled(sim.options.video_render_seconds),
        outcome=_OUTCOMES.get(fault.kind, "success") if fault is not None else "success", video_path=video_path,
    )
    # The reply's `message_id` is not in the tree: a parent that "works but loses context" (§6).
    detached = new_id()
    chat.detached_ids.add(detached)
    reply: dict[str, Any] = {"role": "assistant", "content": "", "done": False, "size": size,
                             "extra": {"wanx": {"task_id": task_id}}}
    data: dict[str, Any] = {"chat_id": chat.id, "parent_id": answer.id, "message_id": detached, "messages": [reply]}
    if where == "detail":  # only the chat detail (§3.7) holds it
        reply["extra"] = {}
    elif where == "elsewhere":  # the reply carries it, but not where it used to (R, Aug 2026)
        reply["extra"] = {}
        data["taskId"] = task_id
    return envelopes.json_response(envelopes.ok(data))


def _status_data(request: Request, sim: SimState, task: Task) -> dict[str, Any]:
    status = task.status(time.monotonic())
    content = ""
    if status == "success":
        content = f"{base_url(request)}{task.video_path}?key={fake_jwt(task.id)}"
        answer = sim.chats[task.chat_id].messages.get(task.message_id) if task.chat_id in sim.chats else None
        if answer is not None and not answer.done:
            answer.content, answer.done = content, True
    return {
        "chat_type": "t2v",
        "task_status": status,
        "message": "Video generation failed" if status == "failed" else "",
        "content": content,
        "remaining_time": "",
        "sub_chat_type": None,
        "duration": None,
    }


async def status_v1(request: Request) -> Response:
    """`GET /api/v1/tasks/status/<id>`: flat (or, behind a switch, wrapped) with real HTTP codes."""
    admission = await admit(request, "task_status")
    if isinstance(admission, Response):
        return admission
    sim = sim_of(request)
    task = sim.tasks.get(request.path_params["task_id"])
    if task is None or task.owner != admission.token:
        return envelopes.not_found("Not_Found", "Task not found", always_200=False)
    data = _status_data(request, sim, task)
    return envelopes.json_response(envelopes.ok(data) if sim.options.task_status_v1_wrapped else data)


async def status_v2(request: Request) -> Response:
    """`GET /api/v2/task/status/<id>`: always HTTP 200, the real code in `x-actual-status-code`."""
    if not sim_of(request).options.task_status_v2:
        # The older era had no such route; the FastAPI-style 404 body is inferred.
        return envelopes.json_response({"detail": "Not Found"}, status=404)
    admission = await admit(request, "task_status", always_200=True)
    if isinstance(admission, Response):
        return admission
    sim = sim_of(request)
    task = sim.tasks.get(request.path_params["task_id"])
    if task is None or task.owner != admission.token:
        return envelopes.not_found("Not_Found", "Task not found", always_200=True)
    return envelopes.json_response(envelopes.ok(_status_data(request, sim, task)), actual=200)
