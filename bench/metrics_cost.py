"""What counting for /metrics costs per request: the same chats through a gateway with
`metrics: true` (the default) and one with `metrics: false`, taking turns as the stores do.

Both use `memory://`, so the only difference is the counting (one counter, a few histogram
observations and the usage read per request, in RequestLog) and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.load import Result
from bench.processes import HOST, TOKENS, Server, _spawn, free_port
from bench.report import ADDED_COLUMNS, added_rows, table

BASE = "metrics off"


@contextmanager
def metrics_gateways(sim_url: str, logs: Path, env: dict[str, str]) -> Iterator[dict[str, Server]]:
    with ExitStack() as exits:
        servers: dict[str, Server] = {}
        for name, flag in (("metrics off", "false"), ("metrics on", "true")):
            config = logs / f"gateway-{flag}.yaml"
            config.write_text(f"metrics: {flag}\n")
            port = free_port()
            gateway_env = {**env, "QWEN_BASE_URL": sim_url, "QWEN_TOKENS": ",".join(TOKENS), "GATEWAY_HOST": HOST,
                           "GATEWAY_PORT": str(port), "GATEWAY_API_KEYS": "", "GATEWAY_STATE_URL": "memory://"}
            servers[name] = _spawn(f"gateway-metrics-{flag}", ["-m", "gateway", "--config", str(config)],
                                   gateway_env, port, logs)
            exits.callback(servers[name].stop)
        yield servers


def report(results: Sequence[Result]) -> str:
    return "\n".join(["/metrics counting (concurrency 1; 'adds' is metrics on minus metrics off):",
                      table(added_rows(results, BASE), ADDED_COLUMNS)])
