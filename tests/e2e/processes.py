"""Gateways as real processes (`python -m gateway`) in front of one simulator process, for
restart and replica tests: a SIGTERM is a restart, a SIGKILL is a crash, and two gateways
on one Redis are two replicas. Every process is stopped when the context ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import yaml

from redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = ({"id": "acct-alpha", "token": "token-alpha"}, {"id": "acct-bravo", "token": "token-bravo"})
POLL_INTERVAL = 0.5  # seconds between video status polls in these tests


@dataclass
class Process:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """A graceful stop (SIGTERM): what a restart does."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """`kill -9`: no lease is handed back, nothing is flushed."""
        self.process.kill()
        self.process.wait()

    def http(self, api_key: str | None = None) -> httpx.Client:
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.Client(base_url=self.url, timeout=30, headers=headers)

    def openai(self, api_key: str = "unused") -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=api_key, max_retries=0, timeout=30)


class Cluster:
    """One simulator and any number of gateways sharing `state_url`."""

    def __init__(self, workdir: Path, state_url: str, **settings: Any) -> None:
        self.workdir = workdir
        self.state_url = state_url
        self.settings = settings
        self.processes: list[Process] = []
        self.sim = self._start("simulator", [sys.executable, "-m", "gateway.simulator", "--speed", "1",
                                             "--log-level", "warning", "--port"], "/__sim/requests")
        self.sim_http = httpx.Client(base_url=self.sim.url, timeout=30)

    def gateway(self, name: str) -> Process:
        config = {"qwen_base_url": self.sim.url, "accounts": [dict(a) for a in ACCOUNTS], "state_url": self.state_url,
                  "video": {"poll_interval": POLL_INTERVAL, "timeout": 60, "typical_render": 2, "job_ttl": 600},
                  "timeouts": {"connect": 2, "first_event": 10, "idle": 5, "deadline": 15, "shutdown_grace": 1},
                  **self.settings}
        path = self.workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        return self._start(name, [sys.executable, "-m", "gateway", "--config", str(path), "--port"], "/health")

    def _start(self, name: str, command: list[str], ready_path: str) -> Process:
        port = free_port()
        log = self.workdir / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("QWEN_", "GATEWAY_"))}
        with log.open("ab") as out:
            process = subprocess.Popen([*command, str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        started = Process(name, f"http://127.0.0.1:{port}", process, log)
        self.processes.append(started)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited at start-up:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(started.url + ready_path, timeout=1).status_code == 200:
                    return started
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"{name} did not answer within 20 s:\n{log.read_text()[-3000:]}")

    def fault(self, token: str, *faults: dict[str, Any]) -> None:
        self.sim_http.post("/__sim/faults", json={"token": token, "faults": list(faults)}).raise_for_status()

    def sim_options(self, **options: Any) -> None:
        self.sim_http.post("/__sim/options", json=options).raise_for_status()

    def upstream_requests(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.sim_http.get("/__sim/requests").json()["requests"] if r["path"] == path]

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.sim_http.close()


@contextmanager
def cluster(workdir: Path, state_url: str, **settings: Any) -> Iterator[Cluster]:
    running = Cluster(workdir, state_url, **settings)
    try:
        yield running
    finally:
        running.close()


def wait_until(check: Any, within: float, step: float = 0.05) -> Any:
    """`check()`'s first truthy value, polled for up to `within` seconds (a bound, not a measurement)."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)
