"""Starting and stopping the servers under test: the Qwen simulator and the gateway.

Each runs as its own Python process on a free loopback port, so the load generator,
the gateway and the simulator each get their own interpreter and event loop. The
`stack()` context manager stops both on every exit path (errors, Ctrl-C, cancellation).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import aiohttp

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
TOKENS = ("bench-1", "bench-2", "bench-3", "bench-4")


class StartupError(RuntimeError):
    """A server did not come up; the message carries the tail of its log."""


@dataclass
class Server:
    name: str
    url: str  # e.g. http://127.0.0.1:40123, no trailing slash
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def log_tail(self, lines: int = 20) -> str:
        self.log.flush()
        text = Path(self.log.name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM (uvicorn's graceful stop), then SIGKILL after `grace` seconds."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@dataclass(frozen=True)
class Stack:
    simulator: Server
    gateway: Server
    logs: Path
    floor: Server | None = None  # the floor relay (bench/floor.py), in the main run only


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) a process has used so far; this process when `pid` is None."""
    if pid is None:
        return time.process_time()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")  # no procfs (not Linux): the report shows n/a
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _spawn(name: str, args: Sequence[str], env: Mapping[str, str], port: int, logs: Path) -> Server:
    log = open(logs / f"{name}.log", "w+b")  # noqa: SIM115 (Server.stop closes it)
    process = subprocess.Popen([sys.executable, *args], cwd=REPO, env=dict(env), stdin=subprocess.DEVNULL,
                               stdout=log, stderr=subprocess.STDOUT)
    return Server(name, f"http://{HOST}:{port}", process, log)


async def wait_ready(server: Server, path: str, timeout: float = 20.0) -> None:
    """Poll `path` until it answers 200; fail early if the process dies."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise StartupError(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
            try:
                async with session.get(server.url + path, timeout=aiohttp.ClientTimeout(total=1)) as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.05)
    raise StartupError(f"{server.name} not ready after {timeout:.0f} s:\n{server.log_tail()}")


@contextmanager
def stack(keep_logs: Path | None = None, gateway_config: str = "", floor: bool = False,
          simulator_args: Sequence[str] = ()) -> Iterator[Stack]:
    """Start the simulator (no delays) and the gateway in front of it, and with `floor` the floor
    relay beside the gateway; stop them all on exit.

    The servers are started but not yet known to be ready: await `wait_ready` on each.
    """
    with ExitStack() as exits:
        logs = keep_logs or Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="qwen-bench-")))
        logs.mkdir(parents=True, exist_ok=True)
        config = logs / "gateway.yaml"
        config.write_text(
            gateway_config or "# empty on purpose: the benchmark configures the gateway through the environment\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "QWEN_"))}
        sim_port, gateway_port = free_port(), free_port()
        simulator = _spawn("simulator", ["-m", "gateway.simulator", "--host", HOST, "--port", str(sim_port),
                                         "--speed", "0", "--log-level", "warning", *simulator_args], env, sim_port,
                           logs)
        exits.callback(simulator.stop)
        gateway_env = {**env, "QWEN_BASE_URL": simulator.url, "QWEN_TOKENS": ",".join(TOKENS),
                       "GATEWAY_HOST": HOST, "GATEWAY_PORT": str(gateway_port), "GATEWAY_API_KEYS": "",
                       "GATEWAY_STATE_URL": f"sqlite:///{logs.resolve()}/state.db"}  # the default store, not ./data/
        gateway = _spawn("gateway", ["-m", "gateway", "--config", str(config)], gateway_env, gateway_port, logs)
        exits.callback(gateway.stop)  # callbacks run last-in first-out: the gateway stops first
        relay = None
        if floor:
            port = free_port()
            relay = _spawn("floor", ["-m", "bench.floor", "--host", HOST, "--port", str(port), "--upstream",
                                     simulator.url, "--tokens", ",".join(TOKENS)], env, port, logs)
            exits.callback(relay.stop)
        yield Stack(simulator, gateway, logs, relay)
