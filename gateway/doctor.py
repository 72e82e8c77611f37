"""`python -m gateway doctor`: each configured account checked step by step against the real upstream.

The test suite never reaches chat.qwen.ai, so this is the user's check: the model list, the token
probe, a refresh, `chats/new`, a one-word completion and upload credentials, each passed or failed
with Qwen's own answer (secrets masked) and what to do about it. `--trace FILE` keeps a redacted
record of the exchanges for a bug report. Refreshed tokens go to the configured state store, where
the gateway reads them: a refresh token Qwen rotates here is not lost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from .config import AccountSettings, ConfigError, Settings, settings_from_command_line
from .doctor_trace import Redactor, Trace
from .errors import UpstreamError
from .qwen.client import QwenClient
from .qwen.events import Delta
from .qwen.files import parse_sts
from .store import open_store
from .translate.chat import completion_payload

Step = Callable[[], Awaitable[str]]
ADVICE = {
    "invalid": "sign in again in a browser and replace this account's refresh_token (or token); README "
               "\"Getting credentials\"",
    "blocked": "Qwen's anti-bot check refused the call: give fresh `cookies` (cna, ssxmod_itna, x5sec) from a "
               "signed-in browser, or the bx-* `headers`, or wait for the block to lift",
    "cooling": "the account reached Qwen's usage limit: wait, or add accounts",
    "resting": "the auth host did not answer: check the network, `proxy` and QWEN_AUTH_URL, then run doctor again",
    "failure": "Qwen did not answer as expected: check the network and `proxy`; if it persists, report it "
               "with --trace",
}


async def check_account(account: AccountSettings, settings: Settings, trace: Trace | None, out: list[str]) -> bool:
    store = open_store(settings.state_url)
    client = QwenClient(account, settings.qwen_base_url, settings.qwen_version, settings.timeouts,
                        upstream=settings.upstream, store=store, trace_configs=[trace.config] if trace else ())
    found: dict[str, str] = {}

    async def models() -> str:
        body = await client.models()
        ids = [m.get("id") for m in (body.get("data") or []) if isinstance(m, dict)]
        found["model"] = "qwen3-max" if "qwen3-max" in ids else str(ids[0] if ids else "qwen3-max")
        return f"{len(ids)} models"

    async def probe() -> str:
        user = await client.user()
        if not (isinstance(user, dict) and user.get("id")):
            raise UpstreamError("Qwen's probe returned no user for this token")
        return "the token is accepted"

    async def refresh() -> str:
        if not client.auth.refresh_token:
            return "skipped: no refresh_token, so the access token lapses in time (add refresh_token)"
        await client.auth.refresh(client.refresh_call, client.auth.access_token)
        return "a new access token" + ("" if store.kind == "memory" else f", saved in the {store.kind} store")

    async def new_chat() -> str:
        found["chat"] = await client.create_chat(found.get("model", "qwen3-max"), "t2t")
        return "chat created"

    async def completion() -> str:
        if "chat" not in found:
            raise UpstreamError("no chat to answer in (chats/new failed)")
        payload = completion_payload(chat_id=found["chat"], model=found.get("model", "qwen3-max"),
                                     content="Reply with one word: ok")
        text = []
        async for event in client.stream_completion(found["chat"], payload):
            if isinstance(event, Delta) and event.phase in (None, "answer"):
                text.append(event.content)
        answer = "".join(text).strip()
        if not answer:
            raise UpstreamError("the answer was empty")
        return f"answered {answer[:40]!r}"

    async def upload() -> str:
        body = await client.upload_grant({"filename": "doctor.txt", "filesize": "2", "filetype": "file"})
        grant = parse_sts(body)  # raises, naming what is missing
        return f"upload credentials granted (bucket {grant.bucket})"

    steps: list[tuple[str, Step]] = [("model list", models), ("token probe", probe), ("refresh", refresh),
                                     ("chats/new", new_chat), ("completion", completion),
                                     ("upload credentials", upload)]
    ok, signed_out = True, False
    out.append(f"account {account.id}:")
    try:
        for name, step in steps:
            if signed_out:  # every further call would fail the same way
                out.append(f"  SKIP {name}: the account is not signed in")
                continue
            if trace is not None:
                trace.note(name, account.id)
            try:
                out.append(f"  PASS {name}: {await step()}")
            except UpstreamError as error:
                ok = False
                penalty = error.account_penalty or "failure"
                signed_out = penalty == "invalid"
                out.append(
                    f"  FAIL {name}: {error.message}\n       what to do: {ADVICE.get(penalty, ADVICE['failure'])}"
                )
            except Exception as exc:  # a doctor reports, it does not crash
                ok = False
                out.append(f"  FAIL {name}: {type(exc).__name__}\n       what to do: {ADVICE['failure']}")
            if trace is not None:
                trace.redactor.add([client.auth.access_token, client.auth.refresh_token])
    finally:
        await client.close()
        await store.close()
    return ok


async def run(settings: Settings, trace_path: Path | None) -> tuple[bool, list[str]]:
    secrets = [s for a in settings.accounts for s in (a.token, a.refresh_token, a.cookies, a.proxy)]
    secrets += [v for a in settings.accounts for v in a.headers.values()]
    secrets += [p.split("=", 1)[1] for a in settings.accounts for p in a.cookies.split(";") if "=" in p]
    trace = Trace(Redactor(secrets)) if trace_path is not None else None
    out: list[str] = [f"Checking {len(settings.accounts)} account(s) against {settings.qwen_base_url}"]
    results = [await check_account(a, settings, trace, out) for a in settings.accounts]
    if trace is not None and trace_path is not None:
        trace.redactor.add(secrets)
        trace.write(trace_path)
        out.append(f"trace (tokens and cookies masked): {trace_path}")
    out.append("all checks passed" if all(results) else "some checks failed: see README \"Troubleshooting\"")
    return all(results), out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway doctor", description="check each account against Qwen")
    parser.add_argument("--config", help="YAML settings file (default: GATEWAY_CONFIG, else config.yaml)")
    parser.add_argument("--trace", type=Path, help="write a redacted trace of the exchanges to this file")
    args = parser.parse_args(argv)
    try:
        settings = settings_from_command_line(args.config, os.environ)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if not settings.accounts:
        print("no Qwen account configured: nothing to check (see README \"Getting credentials\")", file=sys.stderr)
        return 2
    ok, lines = asyncio.run(run(settings, args.trace))
    print("\n".join(lines))
    return 0 if ok else 1
