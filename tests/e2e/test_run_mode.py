"""`make run` with no account: the gateway serves from its built-in simulator and says so."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

# These gateways run in the repository with its config.yaml, so they share data/gateway.db:
# under `make test` (xdist, --dist loadgroup) one worker runs them all, one at a time.
pytestmark = pytest.mark.xdist_group("repository-data")

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_python_m_gateway_without_accounts_serves_the_readme_curl_example(tmp_path):
    process, url, log = start_gateway(tmp_path)
    try:
        health = httpx.get(url + "/health").json()
        assert health["simulated"] is True
        # the README's curl example, verbatim in body
        reply = httpx.post(url + "/v1/chat/completions", timeout=30, json={
            "model": "qwen3-max", "messages": [{"role": "user", "content": "Hello, Qwen!"}]})
        assert reply.status_code == 200
        assert reply.json()["choices"][0]["message"]["content"] == "You said: Hello, Qwen!"
    finally:
        stop(process)
    warnings = [line for line in log.read_text().splitlines() if "NO QWEN ACCOUNT CONFIGURED" in line]
    assert len(warnings) == 1
    assert "simulator" in warnings[0]


def start_gateway(tmp_path, config="config.yaml", **environ):
    """`python -m gateway` with `environ` on top of ours; returns (process, url, log path)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"QWEN_TOKENS", "GATEWAY_API_KEYS"}}
    env.update(GATEWAY_PORT=str(port), **environ)
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(config)],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        if process.poll() is not None:
            break
        try:
            httpx.get(url + "/health")
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return process, url, log


def stop(process):
    process.terminate()
    process.wait(10)


def test_a_newline_in_a_path_cannot_forge_a_log_line_even_on_a_401(tmp_path):
    process, url, log = start_gateway(tmp_path, GATEWAY_API_KEYS="right-key")
    forged = "2026-11-29 12:00:00,000 INFO gateway.access request id=forged status=200"
    try:
        with httpx.Client() as client:
            answer = client.send(client.build_request("GET", url + "/v1/models%0a" + forged.replace(" ", "%20")))
        assert answer.status_code == 401
    finally:
        stop(process)
    lines = log.read_text().splitlines()
    assert not any(line.startswith(forged) for line in lines)
    [logged] = [line for line in lines if "gateway.access" in line and "status=401" in line]
    assert "/v1/models\\x0a2026-11-29" in logged


def test_blank_only_api_keys_refuse_to_start(tmp_path):
    process, _, log = start_gateway(tmp_path, GATEWAY_API_KEYS=" , ")
    try:
        assert process.wait(20) == 2
    finally:
        if process.poll() is None:  # it started after all: do not leave it serving
            stop(process)
    assert "GATEWAY_API_KEYS: holds no key" in log.read_text()


def test_a_non_loopback_bind_without_api_keys_warns_loudly(tmp_path):
    process, url, log = start_gateway(tmp_path, GATEWAY_HOST="0.0.0.0")
    try:
        assert httpx.get(url + "/health").status_code == 200
    finally:
        stop(process)
    [warning] = [line for line in log.read_text().splitlines() if "CLIENT AUTH IS OFF" in line]
    assert "0.0.0.0" in warning and "GATEWAY_API_KEYS" in warning


def test_a_loopback_bind_without_api_keys_does_not_warn(tmp_path):
    process, url, log = start_gateway(tmp_path)
    try:
        assert httpx.get(url + "/health").status_code == 200
    finally:
        stop(process)
    assert "CLIENT AUTH IS OFF" not in log.read_text()


def limits_config(tmp_path, **limits):
    path = tmp_path / "limits.yaml"
    path.write_text("limits:\n" + "".join(f"  {k}: {v}\n" for k, v in limits.items()))
    return path


def test_a_request_head_that_trickles_in_is_cut_with_a_408(tmp_path):
    process, url, _ = start_gateway(tmp_path, limits_config(tmp_path, head_timeout=0.5))
    port = int(url.rsplit(":", 1)[1])
    try:
        with socket.create_connection(("127.0.0.1", port)) as slow, socket.create_connection(("127.0.0.1", port)) as mute:
            slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            slow.settimeout(5)
            mute.settimeout(5)
            started = time.monotonic()
            assert slow.recv(1024).startswith(b"HTTP/1.1 408")
            assert mute.recv(1024).startswith(b"HTTP/1.1 408")  # a connection that sends nothing too
            assert slow.recv(1024) == b"" and time.monotonic() - started < 4  # closed
        with httpx.Client(base_url=url) as client:  # whole requests, and idle keep-alive, are unaffected
            assert client.get("/health").status_code == 200
            time.sleep(0.8)
            assert client.get("/health").status_code == 200
    finally:
        stop(process)


def test_connections_past_the_cap_get_503(tmp_path):
    process, url, _ = start_gateway(tmp_path, limits_config(tmp_path, max_connections=3, head_timeout=30))
    port = int(url.rsplit(":", 1)[1])
    try:
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        time.sleep(0.2)
        assert httpx.get(url + "/health").status_code == 503
        for sock in idle:
            sock.close()
        time.sleep(0.2)
        assert httpx.get(url + "/health").status_code == 200
    finally:
        stop(process)
