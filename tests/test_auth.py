"""qwen/auth.py and qwen/cookies.py: token expiry, single-flight refresh across replicas, the store, the jar;
and the credential settings of config.py."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest
from yarl import URL

from gateway.config import AccountSettings, ConfigError, UpstreamSettings, load_settings
from gateway.errors import UpstreamAuthUnavailable, UpstreamUnauthorized
from gateway.qwen import cookies
from gateway.qwen.auth import (NAMESPACE, REJECTED, AuthUnreachable, Credentials, Refreshed, RefreshRejected,
                               jwt_exp, parse_refresh)
from gateway.store import MemoryStore

CHAT, AUTH = "https://chat.qwen.ai", "https://auth.qwen.ai"


def jwt(exp: float) -> str:
    claims = base64.urlsafe_b64encode(json.dumps({"id": "u", "exp": int(exp)}).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJIUzI1NiJ9.{claims}.sig"


def credentials(account: AccountSettings, store: MemoryStore | None = None, replica: str = "r1") -> Credentials:
    return Credentials(account, CHAT, AUTH, UpstreamSettings(), store, replica)


class FakeAuthHost:
    """Rotates like §2: each refresh token works once."""

    def __init__(self) -> None:
        self.presented: list[str] = []
        self.fail_with: Exception | None = None

    async def __call__(self, refresh_token: str) -> Refreshed:
        self.presented.append(refresh_token)
        await asyncio.sleep(0.05)
        if self.fail_with is not None:
            raise self.fail_with
        return Refreshed(jwt(time.time() + 900), f"rt-{len(self.presented) + 1}", None)


def test_jwt_exp_reads_the_claim_and_leaves_opaque_tokens_alone():
    assert jwt_exp(jwt(1_800_000_000)) == 1_800_000_000
    assert jwt_exp("opaque-token") is None and jwt_exp("a.b.c") is None


async def test_two_replicas_refresh_once_and_a_restart_continues_from_the_newest_token():
    store, host = MemoryStore(), FakeAuthHost()
    account = AccountSettings(id="a", token=jwt(time.time() - 5), refresh_token="rt-1")
    one, two = credentials(account, store, "r1"), credentials(account, store, "r2")
    tokens = await asyncio.gather(one.fresh_token(host), two.fresh_token(host), one.fresh_token(host))
    assert host.presented == ["rt-1"] and len(set(tokens)) == 1
    record = await store.get(NAMESPACE, one.key)
    assert record is not None and record["refresh_token"] == "rt-2" and record["access_token"] == tokens[0]
    assert "rt-1" not in one.key and account.refresh_token not in json.dumps(record["account"])
    restarted = credentials(account, store, "r3")  # the environment still holds the spent rt-1
    assert await restarted.fresh_token(host) == tokens[0] and host.presented == ["rt-1"]


async def test_an_opaque_token_is_used_as_is_until_refused():
    host = FakeAuthHost()
    creds = credentials(AccountSettings(id="a", token="opaque", refresh_token="rt-1"))
    assert await creds.fresh_token(host) == "opaque" and host.presented == []
    assert await creds.recover(host, "opaque") is True and host.presented == ["rt-1"]
    assert creds.refresh_token == "rt-2"


async def test_a_refused_refresh_is_final_and_never_retried():
    host = FakeAuthHost()
    host.fail_with = RefreshRejected("HTTP 401")
    creds = credentials(AccountSettings(id="a", token="", refresh_token="rt-1"))
    for _ in range(2):
        with pytest.raises(UpstreamUnauthorized, match=REJECTED):
            await creds.fresh_token(host)
    assert host.presented == ["rt-1"]


async def test_an_unreachable_auth_host_keeps_the_valid_token_then_rests():
    host = FakeAuthHost()
    host.fail_with = AuthUnreachable("ClientConnectorError")
    still_valid = jwt(time.time() + 60)
    creds = Credentials(AccountSettings(id="a", token=still_valid, refresh_token="rt-1"), CHAT, AUTH,
                        UpstreamSettings(refresh_margin=120), None)
    assert await creds.fresh_token(host) == still_valid  # inside the margin, the refresh fails, the token serves
    expired = Credentials(AccountSettings(id="b", token=jwt(time.time() - 1), refresh_token="rt-1"), CHAT, AUTH,
                          UpstreamSettings(), None)
    with pytest.raises(UpstreamAuthUnavailable) as caught:
        await expired.fresh_token(host)
    assert caught.value.seconds >= 1 and "rt-1" not in caught.value.message


def test_parse_refresh_tells_refusal_from_outage():
    ok = parse_refresh(b'{"success":true,"data":{"access_token":"a","refresh_token":"r"}}', 200, None)
    assert (ok.access_token, ok.refresh_token) == ("a", "r")
    assert parse_refresh(b'{"success":true,"data":{"access_token":"a"}}', 200, None).refresh_token is None
    with pytest.raises(RefreshRejected):
        parse_refresh(b'{"success":false,"data":{"code":"Unauthorized"}}', 401, None)
    for raw, status in ((b"<html>502</html>", 502), (b"", 503), (b"<!doctypehtml>", 200)):
        with pytest.raises(AuthUnreachable):
            parse_refresh(raw, status, None)


async def test_the_jar_keeps_domains_and_raw_values_through_the_store():
    creds = credentials(AccountSettings(id="a", token="tok", cookies="cna=abc; ssxmod_itna=Qq==x/y; token=old"))
    creds.jar.update_cookies_from_headers(["x5sec=s1; Domain=.qwen.ai; Path=/"], URL(CHAT + "/api/v2/chats/new"))
    restored = credentials(AccountSettings(id="a", token="tok"))
    cookies.load(restored.jar, json.loads(json.dumps(cookies.dump(creds.jar))))
    to_chat = restored.jar.filter_cookies(URL(CHAT + "/api/v2/chats/new"))
    assert {k: v.value for k, v in to_chat.items()} == {"cna": "abc", "ssxmod_itna": "Qq==x/y", "token": "tok",
                                                        "x5sec": "s1"}
    to_auth = restored.jar.filter_cookies(URL(AUTH + "/api/v2/auths/refresh"))
    assert set(to_auth) == {"x5sec"}  # host-only chat cookies stay on chat.qwen.ai
    assert not restored.jar.filter_cookies(URL("https://cdn.qwenlm.ai/api/x"))


def test_credential_settings_from_file_and_environment(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("accounts:\n  - {refresh_token: r1, cookies: {cna: a, x5sec: b}, proxy: 'http://p:1',"
                    " keep_settings: true}\nupstream: {refresh_margin: 5}\n")
    (account,) = load_settings(path, {}).accounts
    assert (account.token, account.refresh_token, account.cookies) == ("", "r1", "cna=a; x5sec=b")
    assert account.proxy == "http://p:1" and account.keep_settings is True
    env = {"QWEN_TOKENS": "t1", "QWEN_REFRESH_TOKENS": "r1, r2", "QWEN_AUTH_URL": "http://127.0.0.1:9"}
    settings = load_settings(path, env)
    assert [(a.id, a.token, a.refresh_token) for a in settings.accounts] == [
        ("env-1", "t1", ""), ("env-2", "", "r1"), ("env-3", "", "r2")]
    assert settings.upstream.auth_url == "http://127.0.0.1:9" and settings.upstream.refresh_margin == 5
    assert settings.qwen_version == "0.3.12"
    assert "r1" not in repr(settings) and "http://p:1" not in repr(settings)
    with pytest.raises(ConfigError, match="auth_url"):
        load_settings(None, {"QWEN_AUTH_URL": "auth.qwen.ai"})
