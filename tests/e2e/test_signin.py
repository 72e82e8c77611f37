"""Accounts that stay signed in (§2): refresh tokens, the cookie jar, clean headers, privacy settings,
the start-up check, all end to end through the real openai client, the gateway and the simulator."""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import replace

import httpx
import openai
import pytest

from gateway.config import AccountSettings, UpstreamSettings
from gateway.qwen.auth import REJECTED
from gateway.simulator import SimOptions
from gateway.store import MemoryStore

from .harness import Stack, default_settings, live_stack

REFRESH_TOKENS = ("rt-alpha-1", "rt-bravo-1", "rt-charlie-1")


def client_for(stack: Stack, retries: int = 2) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=retries, timeout=30)


def chat(stack: Stack, text: str, stream: bool = False) -> str:
    client = client_for(stack)
    messages = [{"role": "user", "content": text}]
    if stream:
        pieces = client.chat.completions.create(model="qwen3-max", messages=messages, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in pieces if c.choices)
    return client.chat.completions.create(model="qwen3-max", messages=messages).choices[0].message.content or ""


def refresh_accounts(tokens: tuple[str, ...] = REFRESH_TOKENS, **upstream: float) -> dict:
    accounts = tuple(AccountSettings(id=f"rt-{i}", token="", refresh_token=t) for i, t in enumerate(tokens, 1))
    return {"accounts": accounts, "upstream": UpstreamSettings(**{"refresh_margin": 1.0, **upstream})}


def auth_report(stack: Stack) -> dict:
    return stack.sim.get("/__sim/auth").json()


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def jwt(claims: dict) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'HS256'})}.{part(claims)}.sig"


def test_refresh_tokens_are_spent_once_each_and_survive_a_restart():
    store = MemoryStore()
    sim = SimOptions(speed=0.0, access_token_ttl=3, refresh_tokens=REFRESH_TOKENS, strict_headers=True)
    with live_stack(default_settings(**refresh_accounts()), sim=sim, store=store) as stack:
        assert chat(stack, "one") == "You said: one"
        time.sleep(2.5)  # into the refresh margin: the next call refreshes first
        assert chat(stack, "two", stream=True) == "You said: two"
        stack.restart_gateway()  # the new app reads the newest refresh tokens from the store
        time.sleep(1.0)
        for i in range(6):
            assert chat(stack, f"after {i}", stream=bool(i % 2)) == f"You said: after {i}"
        report = auth_report(stack)
    assert report["presented"] and set(report["presented"].values()) == {1}  # no refresh token used twice
    assert all(t in report["presented"] for t in REFRESH_TOKENS)
    assert report["refreshes"] == len(report["presented"]) >= 2 * len(REFRESH_TOKENS)


@pytest.mark.parametrize("status", [200, 401])
@pytest.mark.parametrize("stream", [False, True])
def test_an_expired_token_answer_refreshes_once_and_retries_on_the_same_account(status, stream):
    settings = default_settings(**refresh_accounts(REFRESH_TOKENS[:1]))
    with live_stack(settings, sim=SimOptions(speed=0.0, refresh_tokens=REFRESH_TOKENS[:1])) as stack:
        # the start-up check signed in, then probed with the new token
        wait_for(lambda: auth_report(stack)["refreshes"] == 1 and stack.upstream_requests("/api/v1/auths/"))
        first = stack.upstream_requests("/api/v1/auths/")[-1]["token"]
        stack.fault(first, {"kind": "expired", "status": status})
        assert chat(stack, "expired", stream=stream) == "You said: expired"
        completions = stack.upstream_requests("/api/v2/chat/completions")
        assert [r["token"] == first for r in completions] == [True, False]  # refused, then the new token
        assert auth_report(stack)["refreshes"] == 2
        assert stack.accounts()["rt-1"]["state"] == "healthy"


def test_a_refused_refresh_marks_the_account_invalid_with_the_reason(caplog):
    caplog.set_level(logging.INFO)
    accounts = refresh_accounts(("rt-never-issued", REFRESH_TOKENS[0]))
    with live_stack(default_settings(**accounts), sim=SimOptions(speed=0.0, refresh_tokens=REFRESH_TOKENS)) as stack:
        wait_for(lambda: stack.accounts()["rt-1"]["state"] == "invalid")
        account = stack.accounts()["rt-1"]
        assert account["reason"] == REJECTED
        for i in range(3):  # the other account serves; the dead one is never asked again
            assert chat(stack, f"still {i}") == f"You said: still {i}"
        assert auth_report(stack)["presented"]["rt-never-issued"] == 1
    lines = [r.getMessage() for r in caplog.records if "rt-1" in r.getMessage() and REJECTED in r.getMessage()]
    assert lines and not any("rt-never-issued" in r.getMessage() for r in caplog.records)


def test_an_expired_access_token_without_refresh_token_is_invalid_and_says_why():
    expired = jwt({"id": "u1", "exp": int(time.time()) - 60})
    accounts = (AccountSettings(id="old", token=expired), AccountSettings(id="good", token="token-alpha"))
    with live_stack(default_settings(accounts=accounts)) as stack:
        wait_for(lambda: stack.accounts()["old"]["state"] == "invalid")
        reason = stack.accounts()["old"]["reason"]
        assert "expired" in reason and "no refresh token" in reason and expired not in reason
        assert chat(stack, "hi") == "You said: hi"


def test_an_unreachable_auth_host_serves_while_the_token_lasts_then_rests_and_recovers():
    token = jwt({"id": "u-rest", "exp": int(time.time()) + 3})
    account = AccountSettings(id="rest", token=token, refresh_token=REFRESH_TOKENS[0])
    upstream = UpstreamSettings(refresh_margin=30, refresh_retry_max=1, startup_check=False)
    settings = default_settings(accounts=(account,), upstream=upstream)
    with live_stack(settings, sim=SimOptions(speed=0.0, refresh_tokens=REFRESH_TOKENS[:1])) as stack:
        stack.sim.post("/__sim/faults", json={"token": REFRESH_TOKENS[0],
                                              "faults": [{"kind": "http_5xx", "on": "refresh"}] * 2})
        assert chat(stack, "while it lasts") == "You said: while it lasts"  # refresh failed, the token still works
        exp = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["exp"]
        wait_for(lambda: time.time() > exp + 0.1)  # past the token's exp
        body = {"model": "qwen3-max", "messages": [{"role": "user", "content": "now"}]}
        resting = stack.http.post("/v1/chat/completions", json=body)
        assert resting.status_code == 503 and "auth host unreachable" in resting.json()["error"]["message"]
        assert "auth host unreachable" in stack.accounts()["rest"]["reason"]
        time.sleep(1.2)  # the backoff passes; the auth host answers again
        assert chat(stack, "recovered") == "You said: recovered"
        assert stack.accounts()["rest"]["state"] == "healthy"


def test_an_idle_account_is_refreshed_every_refresh_every_seconds():
    upstream = UpstreamSettings(refresh_every=1)
    settings = default_settings(**{**refresh_accounts(REFRESH_TOKENS[:1]), "upstream": upstream})
    with live_stack(settings, sim=SimOptions(speed=0.0, refresh_tokens=REFRESH_TOKENS[:1])) as stack:
        wait_for(lambda: auth_report(stack)["refreshes"] >= 3)  # no traffic at all: the keeper spends it
        report = auth_report(stack)
        assert set(report["presented"].values()) == {1} and stack.accounts()["rt-1"]["state"] == "healthy"
        assert chat(stack, "after idling") == "You said: after idling"


def test_the_cookie_jar_round_trips_and_persists():
    store = MemoryStore()
    account = AccountSettings(id="jar", token="token-alpha", cookies="cna=abc; ssxmod_itna=Qq==x/y; token=stale")
    settings = default_settings(accounts=(account,), upstream=UpstreamSettings(startup_check=False))
    with live_stack(settings, store=store) as stack:
        chat(stack, "a")
        requests = stack.upstream_requests()
        first = requests[0]["headers"]["cookie"]
        assert "cna=abc" in first and "ssxmod_itna=Qq==x/y" in first and "token=token-alpha" in first
        assert "stale" not in first and "acw_tc" not in first
        set_by_sim = auth_report(stack)["last_acw_tc"]
        chat(stack, "b")
        assert f"acw_tc={set_by_sim}" in stack.upstream_requests()[len(requests)]["headers"]["cookie"]
        before_restart = auth_report(stack)["last_acw_tc"]
        stack.restart_gateway()
        count = len(stack.upstream_requests())
        chat(stack, "c")
        after = stack.upstream_requests()[count]["headers"]["cookie"]
        assert f"acw_tc={before_restart}" in after and "cna=abc" in after


def test_headers_carry_no_bx_by_default_and_the_reference_set_everywhere():
    sim = SimOptions(speed=0.0, refresh_tokens=REFRESH_TOKENS[:1], strict_headers=True)
    with live_stack(default_settings(**refresh_accounts(REFRESH_TOKENS[:1])), sim=sim) as stack:
        client = client_for(stack)
        client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "h"}])
        requests = stack.upstream_requests()
        assert {"/api/v2/auths/refresh", "/api/v1/auths/", "/api/v2/users/user/settings/update",
                "/api/v2/chats/new", "/api/v2/chat/completions"} <= {r["path"] for r in requests}
        for request in requests:
            headers = request["headers"]
            assert not [h for h in headers if h.startswith("bx-")]
            assert headers["version"] == "0.3.12" and headers["source"] == "web"
            assert headers["accept"] == "application/json" and headers["timezone"] and headers["x-request-id"]
        (completion,) = stack.upstream_requests("/api/v2/chat/completions")
        assert completion["headers"]["referer"] == f"{stack.sim_url}/c/{completion['query']['chat_id']}"
        assert "x-request-origin" in stack.upstream_requests("/api/v2/auths/refresh")[0]["headers"]
        assert len({r["headers"]["x-request-id"] for r in requests}) == len(requests)


def test_configured_bx_headers_are_sent_and_a_stale_bx_v_alone_is_punished():
    accounts = (AccountSettings(id="bx", token="token-alpha", headers={"bx-ua": "231!abc", "bx-v": "2.5.36"}),
                AccountSettings(id="stale", token="token-bravo", headers={"bx-v": "2.5.36"}))
    with live_stack(default_settings(accounts=accounts)) as stack:
        for i in range(3):
            assert chat(stack, f"bx {i}") == f"You said: bx {i}"
        assert {r["headers"].get("bx-ua") for r in stack.upstream_requests("/api/v2/chat/completions")} == {"231!abc"}
        assert stack.accounts()["stale"]["state"] == "cooling" and stack.accounts()["stale"]["reason"] == "blocked"


def test_privacy_settings_are_sent_once_per_account_across_a_restart():
    store = MemoryStore()
    accounts = (AccountSettings(id="a", token="token-alpha"), AccountSettings(id="b", token="token-bravo"),
                AccountSettings(id="keep", token="token-charlie", keep_settings=True))
    with live_stack(default_settings(accounts=accounts), store=store) as stack:
        for i in range(6):
            chat(stack, f"s{i}")
        stack.restart_gateway()
        for i in range(6):
            chat(stack, f"t{i}")
        calls = stack.upstream_requests("/api/v2/users/user/settings/update")
    assert sorted(r["token"] for r in calls) == ["token-alpha", "token-bravo"]
    body = calls[0]["body"]
    assert body["memory"] == {"enable_memory": False, "enable_history_memory": False}
    assert not any(body["tools_enabled"].values()) and not any(body["mcp"].values())


def test_the_start_up_check_logs_one_line_per_account(caplog):
    caplog.set_level(logging.INFO, logger="gateway.accounts")
    accounts = (AccountSettings(id="plain", token="token-alpha"),
                AccountSettings(id="fresh", token="", refresh_token=REFRESH_TOKENS[0]),
                AccountSettings(id="dead", token="", refresh_token="rt-spent"))
    sim = SimOptions(speed=0.0, refresh_tokens=REFRESH_TOKENS[:1])
    with live_stack(default_settings(accounts=accounts), sim=sim):
        def lines() -> dict[str, str]:
            found = [r.getMessage() for r in caplog.records if r.getMessage().startswith("account ")]
            return {line.split(":")[0].split()[1]: line for line in found if ": " in line and ";" in line}
        wait_for(lambda: len(lines()) == 3)
        found = lines()
    assert found["plain"].startswith("account plain: healthy") and "no refresh token" in found["plain"]
    assert found["fresh"].startswith("account fresh: healthy") and "refresh token expires 20" in found["fresh"]
    assert found["dead"].startswith(f"account dead: invalid ({REJECTED})")
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "token-alpha" not in text and REFRESH_TOKENS[0] not in text and "rt-spent" not in text


def test_the_soak_of_refresh_token_accounts_under_mixed_traffic_with_a_restart():
    """SOAK_SECONDS (default 10; run it at 120 before a release) of chat + stream over three accounts with
    5-second tokens, restart halfway; the client retries as the openai client does by default (twice)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    seconds = float(os.environ.get("SOAK_SECONDS", "10"))
    store = MemoryStore()
    sim = SimOptions(speed=0.0, access_token_ttl=5, refresh_tokens=REFRESH_TOKENS, strict_headers=True)
    settings = default_settings(**refresh_accounts())
    failures: list[str] = []
    done = {"count": 0}
    with live_stack(settings, sim=sim, store=store) as stack:
        client = client_for(stack, retries=2)
        stop_at = time.monotonic() + seconds

        def worker(n: int) -> None:
            i = 0
            while time.monotonic() < stop_at:
                text = f"w{n} {i}"
                messages = [{"role": "user", "content": text}]
                try:
                    if i % 2:
                        stream = client.chat.completions.create(model="qwen3-max", messages=messages, stream=True)
                        got = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
                    else:
                        got = client.chat.completions.create(model="qwen3-max", messages=messages).choices[0].message.content
                    if got != f"You said: {text}":
                        failures.append(f"{text}: {got!r}")
                except Exception as exc:  # noqa: BLE001 - every failure is reported
                    failures.append(f"{text}: {type(exc).__name__}: {exc}")
                done["count"] += 1
                i += 1
                time.sleep(0.05)

        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(worker, n) for n in range(6)]
            time.sleep(seconds / 2)
            stack.restart_gateway()
            for future in futures:
                future.result()
        report = auth_report(stack)
        states = {a["id"]: a["state"] for a in stack.accounts().values()}
    print(f"soak: {seconds:.0f} s, {done['count']} requests, {report['refreshes']} refreshes, "
          f"{len(failures)} failures")
    assert not failures, failures[:5]
    assert set(report["presented"].values()) == {1} and report["refreshes"] == len(report["presented"])
    assert report["refreshes"] >= len(REFRESH_TOKENS) * max(2, int(seconds / 8))
    assert set(states.values()) == {"healthy"}
