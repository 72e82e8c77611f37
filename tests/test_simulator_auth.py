"""The simulator's 0.3.x sign-in (§2): refresh with rotation and header checks, short access tokens in
both expired shapes, Set-Cookie on answers, the stale bx-v punish and the settings endpoint (§3.9)."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOKEN = "sim-auth-token"
REFRESH_HEADERS = {"x-request-origin": "https://chat.qwen.ai", "x-request-id": "r-1",
                   "timezone": "Mon Sep 28 2026 19:16:20 GMT+0800", "version": "0.3.12"}
CHAT = {"title": "New Chat", "models": ["qwen3-max"], "chat_mode": "normal", "chat_type": "t2t", "timestamp": 1}


async def refresh(client: httpx.AsyncClient, refresh_token: str, **headers: str) -> httpx.Response:
    return await client.get("/api/v2/auths/refresh", headers={**REFRESH_HEADERS, **headers,
                                                              "cookie": f"refresh_token={refresh_token}"})


async def test_refresh_rotates_and_a_spent_refresh_token_is_refused(client: httpx.AsyncClient) -> None:
    session = (await client.post("/__sim/signin", json={})).json()
    first = await refresh(client, session["refresh_token"])
    data = first.json()["data"]
    assert first.status_code == 200 and data["access_token"].count(".") == 2
    assert data["refresh_token"] != session["refresh_token"]
    assert f"refresh_token={data['refresh_token']}" in first.headers["set-cookie"]
    spent = await refresh(client, session["refresh_token"])
    assert spent.status_code == 401 and spent.json()["success"] is False
    assert (await refresh(client, data["refresh_token"])).status_code == 200
    report = (await client.get("/__sim/auth")).json()
    assert report["refreshes"] == 2 and report["presented"][session["refresh_token"]] == 2


async def test_refresh_checks_its_headers(client: httpx.AsyncClient) -> None:
    session = (await client.post("/__sim/signin", json={})).json()
    no_origin = await client.get("/api/v2/auths/refresh", headers={"cookie": f"refresh_token={session['refresh_token']}"})
    assert no_origin.status_code == 400 and no_origin.json()["data"]["details"] == "Missing origin"
    no_id = await client.get("/api/v2/auths/refresh", headers={"x-request-origin": "https://chat.qwen.ai",
                                                                "cookie": f"refresh_token={session['refresh_token']}"})
    assert no_id.json()["data"]["details"] == "Invalid request header"
    assert (await refresh(client, session["refresh_token"])).status_code == 200  # not spent by the bad calls


async def test_an_expired_access_token_answers_in_either_shape(client: httpx.AsyncClient) -> None:
    session = (await client.post("/__sim/signin", json={"ttl": 0})).json()
    auth = {"authorization": f"Bearer {session['access_token']}"}
    shape_200 = await client.post("/api/v2/chats/new", json=CHAT, headers=auth)
    assert shape_200.status_code == 200
    assert shape_200.json()["data"] == {"code": "unauthorized", "details": "Token has expired, please log in again."}
    await client.post("/__sim/options", json={"expired_shape": "401"})
    assert (await client.post("/api/v2/chats/new", json=CHAT, headers=auth)).status_code == 401
    fresh = (await refresh(client, session["refresh_token"])).json()["data"]["access_token"]
    ok = await client.post("/api/v2/chats/new", json=CHAT, headers={"authorization": f"Bearer {fresh}"})
    assert ok.json()["success"] is True


async def test_chats_belong_to_the_user_across_rotated_access_tokens(client: httpx.AsyncClient) -> None:
    session = (await client.post("/__sim/signin", json={})).json()
    chat = await client.post("/api/v2/chats/new", json=CHAT, headers={"authorization": f"Bearer {session['access_token']}"})
    newer = (await refresh(client, session["refresh_token"])).json()["data"]["access_token"]
    detail = await client.get(f"/api/v2/chats/{chat.json()['data']['id']}", headers={"authorization": f"Bearer {newer}"})
    assert detail.json()["success"] is True


async def test_answers_set_a_rotating_acw_tc_cookie(client: httpx.AsyncClient) -> None:
    one = await client.post("/api/v2/chats/new", json=CHAT)
    two = await client.post("/api/v2/chats/new", json=CHAT)
    assert one.headers["set-cookie"].startswith("acw_tc=") and one.headers["set-cookie"] != two.headers["set-cookie"]
    assert (await client.get("/__sim/auth")).json()["last_acw_tc"] in two.headers["set-cookie"]


async def test_a_stale_bx_v_without_bx_ua_is_punished_on_writes(client: httpx.AsyncClient) -> None:
    punished = await client.post("/api/v2/chats/new", json=CHAT, headers={"bx-v": "2.5.36"})
    assert punished.json()["ret"][0] == "FAIL_SYS_USER_VALIDATE" and "punish" in punished.json()["data"]["url"]
    passed = await client.post("/api/v2/chats/new", json=CHAT, headers={"bx-v": "2.5.36", "bx-ua": "231!x"})
    assert passed.json()["success"] is True


async def test_settings_update_is_merged_per_user(client: httpx.AsyncClient) -> None:
    reply = await client.post("/api/v2/users/user/settings/update", json={"memory": {"enable_memory": False}})
    assert reply.json()["success"] is True
    report = (await client.get("/__sim/auth")).json()
    assert list(report["settings_calls"].values()) == [1]
    assert list(report["settings"].values()) == [{"memory": {"enable_memory": False}}]
