"""The floor relay: `python -m bench.floor --port P --upstream URL --tokens a,b`.

What any proxy of chat completions in front of the Qwen web API must at least spend per
request, built from the gateway's own parts (uvicorn with uvloop and httptools, Starlette,
one aiohttp session, orjson): it reads the client's JSON, makes the same two upstream calls
as the gateway (`chats/new`, then `chat/completions`, with the gateway's header set and a
§3.2 body), and relays the upstream bytes untranslated: a whole answer as one JSON body
holding the SSE text read to its end, a stream as the upstream SSE chunk by chunk.
No translation, no account pool, no state, no log line: `make bench` divides the
gateway's CPU per request by this process's.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import aiohttp
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from bench.scenarios import QWEN_VERSION, completion_body
from gateway.config import AccountSettings
from gateway.qwen.client import account_headers


def build(upstream: str, tokens: Sequence[str]) -> Starlette:
    state: dict[str, aiohttp.ClientSession] = {}
    fixed = [{**account_headers(AccountSettings(id=f"floor-{i}", token=token), upstream, QWEN_VERSION),
              "accept": "application/json", "content-type": "application/json",
              "authorization": f"Bearer {token}", "cookie": f"token={token}"} for i, token in enumerate(tokens)]
    turn = itertools.cycle(fixed)

    def headers() -> dict[str, str]:
        # Fresh per call as the protocol asks (§2): a request id and the browser's clock.
        return {**next(turn), "x-request-id": str(uuid.uuid4()),
                "timezone": time.strftime("%a %b %d %Y %H:%M:%S GMT%z", time.localtime())}

    async def relay(request: Request) -> Response:
        body = orjson.loads(await request.body())
        session = state["session"]
        call = headers()
        model = body["model"]
        new_chat = {"title": "New Chat", "models": [model], "chat_mode": "normal", "chat_type": "t2t",
                    "timestamp": int(time.time() * 1000), "project_id": ""}
        async with session.post(upstream + "/api/v2/chats/new", data=orjson.dumps(new_chat),
                                headers=call) as created:
            chat_id = orjson.loads(await created.read())["data"]["id"]
        payload = orjson.dumps(completion_body(chat_id, body["messages"][-1]["content"], model))
        answer = await session.post(f"{upstream}/api/v2/chat/completions?chat_id={chat_id}", data=payload,
                                    headers=call)
        if not body.get("stream"):
            async with answer:
                return Response(orjson.dumps({"sse": (await answer.read()).decode()}),
                                media_type="application/json")

        async def chunks() -> AsyncIterator[bytes]:
            async with answer:
                async for chunk in answer.content.iter_any():
                    yield chunk

        return StreamingResponse(chunks(), media_type="text/event-stream")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                                 timeout=aiohttp.ClientTimeout(total=None))
        try:
            yield
        finally:
            await state["session"].close()

    return Starlette(routes=[Route("/v1/chat/completions", relay, methods=["POST"]),
                             Route("/health", lambda request: Response(b"ok"))], lifespan=lifespan)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the simulator's base URL")
    parser.add_argument("--tokens", required=True, help="comma-separated account tokens, used in rotation")
    args = parser.parse_args(argv)
    app = build(args.upstream.rstrip("/"), args.tokens.split(","))
    uvicorn.run(app, host=args.host, port=args.port, loop="uvloop", http="httptools", access_log=False,
                log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
