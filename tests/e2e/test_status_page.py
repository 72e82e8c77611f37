"""The status page in a real headless Chromium (Debian's, driven by Playwright): sign in with the
admin key, see the accounts and a chart, pause and resume one, add one; never a token on screen."""

import os
import struct
import zlib
from pathlib import Path

import httpx
import openai
import pytest
from playwright.sync_api import sync_playwright

from gateway.simulator import SimOptions

from .harness import TOKENS, default_settings, live_stack
from .processes import wait_until

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ADMIN_KEY = "admin-key-for-tests"
NEW_REFRESH = "rt-pasted-secret-1"
COOKIE_VALUE = "cookie-secret-value"
WIDTH, HEIGHT = 1280, 900

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=".ci/run installs chromium")


def png_facts(data: bytes) -> tuple[int, int, int]:
    """(width, height, distinct bytes in the pixel data) of a PNG, with no imaging library."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    chunks, at = [], 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        if kind == b"IDAT":
            chunks.append(data[at + 8:at + 8 + length])
        at += 12 + length
    return width, height, len(set(zlib.decompress(b"".join(chunks))))


def test_the_status_page_in_chromium(tmp_path, monkeypatch):
    monkeypatch.setenv("GATEWAY_ADMIN_KEY", ADMIN_KEY)
    sim = SimOptions(speed=0.0, refresh_tokens=(NEW_REFRESH,))
    with live_stack(default_settings(), sim=sim) as stack, sync_playwright() as playwright:
        client = openai.OpenAI(base_url=stack.base_url, api_key="unused")
        for _ in range(3):
            client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "Hi"}])
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": WIDTH, "height": HEIGHT})
        try:
            page = browser.new_page()
            page.goto(stack.url + "/status")
            page.fill("input[name=key]", "wrong")
            page.click("button[type=submit]")
            assert "That is not the admin key." in page.inner_text("body")
            page.fill("input[name=key]", ADMIN_KEY)
            page.click("button[type=submit]")
            rows = page.locator("#accounts tbody tr")
            assert rows.count() == 2
            assert "acct-alpha\thealthy" in page.inner_text("#accounts")
            assert page.locator("#rpm rect").count() == 30
            assert "(3 in the last 30 minutes)" in page.inner_text("body")  # chats, not this page's own loads

            page.locator("tr[data-account=acct-alpha] button").click()
            assert "acct-alpha\tpaused" in page.inner_text("#accounts")
            assert stack.accounts()["acct-alpha"]["state"] == "cooling"  # rests: no call goes to it
            served = stack.accounts()["acct-bravo"]["served"]
            client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "Hi"}])
            assert stack.accounts()["acct-bravo"]["served"] == served + 1
            page.locator("tr[data-account=acct-alpha] button").click()
            assert "acct-alpha\thealthy" in page.inner_text("#accounts")

            stack.fault(TOKENS[1], {"kind": "ratelimited", "num": 6})  # bravo meets its chat quota
            client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "Hi"}])
            client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "Hi"}])
            page.reload()
            assert "t2t until" in page.inner_text("tr[data-account=acct-bravo] td.modes")
            assert page.inner_text("tr[data-account=acct-alpha] td.modes") == "—"

            page.fill("#add-account input[name=id]", "pasted")
            page.fill("#add-account input[name=refresh_token]", NEW_REFRESH)
            page.fill("#add-account input[name=cookies]", f"cna={COOKIE_VALUE}")
            page.click("#add-account button")
            assert "pasted\thealthy" in page.inner_text("#accounts")
            assert stack.accounts()["pasted"]["state"] == "healthy"

            shot = page.screenshot()
            (tmp_path / "status.png").write_bytes(shot)
            if os.environ.get("STATUS_SCREENSHOT"):  # to look at the page as a person would
                Path(os.environ["STATUS_SCREENSHOT"]).write_bytes(shot)
            width, height, distinct = png_facts(shot)
            assert (width, height) == (WIDTH, HEIGHT) and distinct > 10  # a rendered page, not a blank one
            html = page.content()
            for secret in (*TOKENS, NEW_REFRESH, COOKIE_VALUE, ADMIN_KEY):
                assert secret not in html
        finally:
            browser.close()


def test_without_an_admin_key_the_page_is_not_served(stack, monkeypatch):
    monkeypatch.delenv("GATEWAY_ADMIN_KEY", raising=False)
    assert stack.http.get("/status").status_code == 404
    monkeypatch.setenv("GATEWAY_ADMIN_KEY", ADMIN_KEY)
    assert stack.http.get("/status").status_code == 401  # the sign-in form
    assert stack.http.post("/status/accounts/acct-alpha/pause").status_code == 404  # not signed in
    signed = httpx.Client(base_url=stack.url)
    signed.post("/status/sign-in", data={"key": ADMIN_KEY})
    assert signed.post("/status/accounts/acct-alpha/explode").status_code == 404
    assert signed.post("/status/accounts/acct-alpha/pause").status_code == 303


def test_the_page_shows_the_chats_made_ahead_on_each_account(monkeypatch):
    monkeypatch.setenv("GATEWAY_ADMIN_KEY", ADMIN_KEY)
    with live_stack(default_settings(fresh_chats=2)) as stack:
        client = openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)
        client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "Hi"}])
        signed = httpx.Client(base_url=stack.url)
        signed.post("/status/sign-in", data={"key": ADMIN_KEY})
        served_by = next(a for a, row in stack.accounts().items() if row["served"] == 1)
        assert wait_until(lambda: _fresh_cell(signed.get("/status").text, served_by) == "2", within=10), \
            "the two chats made ahead never showed"
        other = next(a for a in stack.accounts() if a != served_by)
        assert _fresh_cell(signed.get("/status").text, other) == "0"  # only the account that served learnt the model


def _fresh_cell(html: str, account: str) -> str:
    row = html.split(f'data-account="{account}"', 1)[1].split("</tr>", 1)[0]
    return row.split('<td class="fresh">', 1)[1].split("</td>", 1)[0]
