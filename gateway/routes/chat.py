"""`POST /v1/chat/completions`: stream and not, thinking, tools, JSON formats, web search,
and continuation of an upstream chat."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..calls.lifetime import watched
from ..offload import read_chat_request
from .render import answer_chat


async def create_chat_completion(request: Request) -> Response:
    chat = await read_chat_request(request, request.app.state.settings.max_body_bytes)
    return await answer_chat(request, chat)


ROUTES = [watched(Route("/v1/chat/completions", create_chat_completion, methods=["POST"]))]
