"""EventStream, the chat paths' SSE response: comment pings on a quiet stream, the data as
the body yields it, and the headers sse-starlette sent (pings take 15 s in the gateway, so
they are checked here with a short interval)."""

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.calls.lifetime import CutOnShutdown
from gateway.routes.event_stream import EventStream


async def quiet(request: Request) -> Response:
    async def body():
        yield b"data: first\n\n"
        await asyncio.sleep(0.8)  # quiet: only pings meanwhile
        yield b"data: last\n\n"

    return EventStream(body(), CutOnShutdown(1.0), 1.0, ping=0.2)


async def test_a_quiet_stream_gets_comment_pings_between_its_events():
    app = Starlette(routes=[Route("/events", quiet)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gateway") as client:
        response = await client.get("/events")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-store" and response.headers["x-accel-buffering"] == "no"
    events = response.text.split("\n\n")
    assert events[0] == "data: first" and events[-2:] == ["data: last", ""]
    pings = events[1:-2]
    assert len(pings) >= 2 and all(ping.startswith(": ping - ") for ping in pings)
