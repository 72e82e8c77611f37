"""`python -m gateway doctor` against the simulator: a good account passes every step, a failing one
is told what is wrong and what to do, and the trace it writes holds no token or cookie."""

import asyncio
import json
import os
import sys
from pathlib import Path

from gateway.simulator import SimOptions, start_simulator

ROOT = Path(__file__).resolve().parents[2]
STEPS = ("model list", "token probe", "refresh", "chats/new", "completion", "upload credentials")


async def doctor(*args, env=None):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "doctor", *args, cwd=ROOT, env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, output.decode()


async def test_doctor_passes_a_good_account_and_explains_a_failing_one(tmp_path):
    sim = await start_simulator(SimOptions(speed=0.0, refresh_tokens=("rt-good-secret-1",)))
    try:
        config = tmp_path / "config.yaml"
        config.write_text(
            f"qwen_base_url: {sim.url}\nupstream: {{auth_url: {sim.url}}}\n"
            f"state_url: sqlite:///{tmp_path / 'state.db'}\n"
            "accounts:\n"
            "  - {id: good, refresh_token: rt-good-secret-1, cookies: 'cna=cookie-secret-value'}\n"
            "  - {id: stale, refresh_token: rt-never-issued-secret}\n")
        trace = tmp_path / "trace.jsonl"
        code, output = await doctor("--config", str(config), "--trace", str(trace))
    finally:
        await sim.stop()
    assert code == 1, output
    good, stale = output.split("account good:")[1].split("account stale:")
    for step in STEPS:
        assert f"PASS {step}" in good
    assert "answered 'You said: Reply with one word: ok'" in good
    assert "FAIL model list: refresh token rejected: sign in again" in stale  # the auth host's refusal
    assert "what to do: sign in again in a browser and replace this account's refresh_token" in stale
    assert "PASS" not in stale and "SKIP upload credentials: the account is not signed in" in stale
    text = trace.read_text()
    entries = [json.loads(line) for line in text.splitlines()]
    assert {e["step"] for e in entries if e.get("account") == "good"} == set(STEPS)
    assert any("/api/v2/chats/new" in e.get("url", "") for e in entries)
    assert any(e.get("request_headers", {}).get("authorization") == "***" for e in entries)
    for secret in ("rt-good-secret-1", "rt-never-issued-secret", "cookie-secret-value"):
        assert secret not in text and secret not in output
    assert "eyJ" not in text  # no access token (the simulator's are JWTs)


async def test_doctor_with_no_account_says_so(tmp_path):
    config = tmp_path / "empty.yaml"
    config.write_text("accounts: []\n")
    code, output = await doctor("--config", str(config), env={"QWEN_TOKENS": "", "QWEN_REFRESH_TOKENS": ""})
    assert code == 2 and "no Qwen account configured" in output
