"""`python -m gateway` as a user runs it: what it says at start, how it fails on bad config, JSON logs."""

import json
import os
import subprocess
import sys

import httpx
import pytest
from openai import OpenAI

from .test_run_mode import ROOT, start_gateway, stop

# These gateways run in the repository with its config.yaml, so they share data/gateway.db:
# under `make test` (xdist, --dist loadgroup) one worker runs them all, one at a time.
pytestmark = pytest.mark.xdist_group("repository-data")


def test_start_up_says_where_it_listens_the_mode_auth_store_and_version(tmp_path):
    process, url, log = start_gateway(tmp_path, GATEWAY_API_KEYS="k1,k2", GATEWAY_STATE_URL="memory://",
                                      GATEWAY_ADMIN_KEY="")
    try:
        assert httpx.get(url + "/health").status_code == 200
    finally:
        stop(process)
    text = log.read_text()
    assert f"Qwen Gateway 0.1.0 listening on {url}" in text
    assert "mode: simulator" in text
    assert "client auth: on (2 keys)" in text
    assert "state store: memory" in text
    assert "status page: off (set GATEWAY_ADMIN_KEY to serve /status)" in text
    assert f"Uvicorn running on {url}" in text  # the simulator no longer silences uvicorn's own line
    assert text.count("Started server process") == 1  # and its embedded server adds no second one


def test_start_up_lists_configured_accounts_with_their_states(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("upstream: {startup_check: false}\nstate_url: memory://\nqwen_base_url: http://127.0.0.1:9\n"
                      "accounts:\n  - {id: main, token: sekrit-token}\n  - {id: spare, token: other-sekrit}\n")
    process, url, log = start_gateway(tmp_path, config, GATEWAY_ADMIN_KEY="admin-sekrit")
    try:
        assert httpx.get(url + "/health").status_code == 200
    finally:
        stop(process)
    text = log.read_text()
    assert "mode: 2 Qwen accounts (main healthy, spare healthy)" in text
    assert "metrics: /metrics; status page: /status" in text
    assert "client auth: off" in text
    assert "sekrit" not in text


def test_a_missing_config_file_stops_with_its_name(tmp_path):
    process, _, log = start_gateway(tmp_path, tmp_path / "nope.yaml")
    assert process.wait(20) == 2
    text = log.read_text()
    assert f"configuration error: {tmp_path / 'nope.yaml'}: no such config file" in text
    assert "Traceback" not in text


def test_gateway_config_names_the_file_too(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "QWEN_TOKENS"}
    done = subprocess.run([sys.executable, "-m", "gateway"], cwd=ROOT, capture_output=True, text=True, timeout=30,
                          env={**env, "GATEWAY_CONFIG": str(tmp_path / "elsewhere.yaml")})
    assert done.returncode == 2
    assert done.stderr.strip() == f"configuration error: {tmp_path / 'elsewhere.yaml'}: no such config file " \
                                  "(GATEWAY_CONFIG or --config names it)"


def test_a_bad_value_is_one_line_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("log_level: verbose\n")
    process, _, log = start_gateway(tmp_path, bad)
    assert process.wait(20) == 2
    [line] = log.read_text().splitlines()
    assert line == "configuration error: log_level: 'verbose' is not one of debug, info, warning, error, critical"


def test_json_logs_are_one_object_per_line_with_the_request_fields(tmp_path):
    process, url, log = start_gateway(tmp_path, GATEWAY_LOG_FORMAT="json", GATEWAY_STATE_URL="memory://")
    try:
        client = OpenAI(base_url=url + "/v1", api_key="unused")
        reply = client.chat.completions.with_raw_response.create(
            model="qwen3-max", messages=[{"role": "user", "content": "Hi"}])
        request_id = reply.headers["x-request-id"]
        with httpx.Client() as raw:
            raw.send(raw.build_request("GET", url + "/v1/models%0aforged%20line"))
    finally:
        stop(process)
    entries = [json.loads(line) for line in log.read_text().splitlines()]  # every line is JSON
    [chat] = [e for e in entries if e.get("request_id") == request_id]
    assert chat["path"] == "/v1/chat/completions" and chat["status"] == 200
    assert chat["account"] == "simulator" and chat["model"] == "qwen3-max"
    assert chat["duration_ms"] >= chat["upstream_ms"] > 0
    assert any(e["message"].startswith("Qwen Gateway") for e in entries)
    [forged] = [e for e in entries if "forged" in e.get("path", "")]
    assert forged["path"] == "/v1/models\nforged line"  # kept verbatim inside one JSON line
