"""`make run` with no account: the gateway serves from its built-in simulator and says so."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_python_m_gateway_without_accounts_serves_the_readme_curl_example(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"QWEN_TOKENS", "GATEWAY_API_KEYS"}}
    env["GATEWAY_PORT"] = str(port)
    env["GATEWAY_STATE_URL"] = f"sqlite:///{tmp_path}/state.db"  # not the checkout's ./data/
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "gateway", "--config", "config.yaml"],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        health = httpx.get(url + "/health").json()
        assert health["simulated"] is True
        # the README's curl example, verbatim in body
        reply = httpx.post(url + "/v1/chat/completions", timeout=30, json={
            "model": "qwen3-max", "messages": [{"role": "user", "content": "Hello, Qwen!"}]})
        assert reply.status_code == 200
        assert reply.json()["choices"][0]["message"]["content"] == "You said: Hello, Qwen!"
    finally:
        process.terminate()
        process.wait(10)
    warnings = [line for line in log.read_text().splitlines() if "NO QWEN ACCOUNT CONFIGURED" in line]
    assert len(warnings) == 1
    assert "simulator" in warnings[0]
