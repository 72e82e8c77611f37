"""The simulator's network round trip (`rtt`) and chat deletion (§3, §3.7)."""

from __future__ import annotations

import time

import httpx
import pytest

from gateway.simulator import RunningSimulator
from gateway.simulator.__main__ import main as simulator_main
from gateway.simulator.testing import answer_text, complete, new_chat, parse_sse, recorded_requests, set_options
from gateway.simulator.testing import completion_body as body_for

TOKEN = "token-alpha"
OTHER = {"authorization": "Bearer token-bravo"}

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_rtt_holds_every_upstream_answer_for_a_round_trip(sim: RunningSimulator,
                                                                client: httpx.AsyncClient) -> None:
    await set_options(client, rtt=0.2)
    for method, path in (("GET", "/api/models"), ("GET", "/api/v1/auths/"), ("POST", "/api/v2/chats/new"),
                         ("GET", "/files/nothing-here"), ("GET", "/api/v2/auths/refresh")):
        started = time.monotonic()
        await client.request(method, path, json={"models": ["qwen3-max"]} if method == "POST" else None)
        assert time.monotonic() - started >= 0.2, path  # a lower bound only: the delay is there
    started = time.monotonic()
    options = (await client.get("/__sim/options")).json()["options"]
    assert options["rtt"] == 0.2 and time.monotonic() - started < 0.2  # the control plane is no network


async def test_a_stream_under_rtt_is_whole(client: httpx.AsyncClient) -> None:
    await set_options(client, rtt=0.1)
    chat_id = await new_chat(client)
    reply = await complete(client, body_for(chat_id, "over the wire"))
    assert answer_text(parse_sse(reply.text)) == "You said: over the wire"


async def test_rtt_is_checked(client: httpx.AsyncClient) -> None:
    for bad in (-1, "0.1", True):
        assert (await client.post("/__sim/options", json={"rtt": bad})).status_code == 400
    assert (await client.get("/__sim/options")).json()["options"]["rtt"] == 0


async def test_rtt_on_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: seen.update(options=app.state.sim.options))
    simulator_main(["--port", "1", "--rtt", "0.15"])
    assert seen["options"].rtt == 0.15


async def test_delete_a_chat_only_its_owner_can(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    refused = await client.delete(f"/api/v2/chats/{chat_id}", headers=OTHER)
    assert refused.json()["data"]["code"] == "CHAT_NOT_FOUND"
    assert (await client.delete(f"/api/v2/chats/{chat_id}")).json()["success"] is True
    detail = (await client.get(f"/api/v2/chats/{chat_id}")).json()
    assert detail["success"] is False and detail["data"]["code"] == "Not_Found"
    reply = (await complete(client, body_for(chat_id, "still there?"))).json()
    assert reply["data"]["code"] == "CHAT_NOT_FOUND" and "deleted" in reply["data"]["details"]
    assert [r["method"] for r in await recorded_requests(client)].count("DELETE") == 2


async def test_delete_all_chats_of_an_account(client: httpx.AsyncClient) -> None:
    mine = [await new_chat(client), await new_chat(client)]
    async with httpx.AsyncClient(base_url=str(client.base_url), headers=OTHER) as other:
        theirs = await new_chat(other)
        assert (await client.delete("/api/v2/chats/")).json()["success"] is True
        assert (await other.get(f"/api/v2/chats/{theirs}")).json()["success"] is True
    for chat_id in mine:
        assert (await client.get(f"/api/v2/chats/{chat_id}")).json()["data"]["code"] == "Not_Found"
