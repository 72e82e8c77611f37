"""`python -m bench.run [--requests N] [--concurrency 1,16,64] [--quick]`: the gateway against the
simulator directly, at each concurrency; prints the table and the overhead rows."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

if __package__ in (None, ""):  # run as `python bench/run.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench import stream_memory
from bench.conversation import render as render_turns
from bench.conversation import turn_40
from bench.first_token import report as first_token_report
from bench.load import Result, drive, warm_up
from bench.metrics_cost import metrics_gateways
from bench.metrics_cost import report as metrics_report
from bench.processes import TOKENS, Server, Stack, StartupError, cpu_seconds, stack, wait_ready
from bench.report import render
from bench.scenarios import Scenario, direct, floor, gateway_chat, gateway_responses, gateway_stream
from bench.stores import compare, report, store_gateways

T = TypeVar("T")


@dataclass(frozen=True)
class Options:
    requests: int
    concurrency: tuple[int, ...]
    time_cap: float  # seconds, per scenario and concurrency
    keep_logs: Path | None
    conversations: int = 20  # long conversations timed at turn 40, per chaining setting
    stores: bool = True  # also compare the state stores (memory, sqlite, redis)
    metrics: bool = True  # also compare metrics on and off
    first_token: int = 40  # rounds of the first-token comparison at a 150 ms round trip (0 skips)
    scenarios: frozenset[str] = frozenset()  # only these scenarios of the main table (empty: all)
    memory_streams: int = 1000  # open streams for the memory figure (0 skips it)


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--requests", type=int, help="requests per scenario and concurrency (default 300, --quick 50)")
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated levels (default 1,16,64)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run: 50 requests, 30 s cap")
    parser.add_argument("--time-cap", type=float, help="hard cap in seconds per run (default 120, --quick 30)")
    parser.add_argument("--keep-logs", type=Path, help="keep the servers' logs in this directory")
    parser.add_argument("--conversations", type=int,
                        help="40-turn conversations timed per chaining setting (default 20, --quick 3; 0 skips)")
    parser.add_argument("--no-stores", action="store_true", help="skip the state-store comparison")
    parser.add_argument("--no-metrics", action="store_true", help="skip the metrics on/off comparison")
    parser.add_argument("--first-token", type=int, help="first-token rounds at a 150 ms round trip "
                        "(default 40, --quick 10; 0 skips)")
    parser.add_argument("--memory-streams", type=int,
                        help="streams held open for the memory per stream (default 1000, --quick 200; 0 skips)")
    parser.add_argument("--only", default="", help="comma-separated scenarios of the main table to run, e.g. "
                        "floor,gateway,floor-stream,gateway-stream (default: all)")
    args = parser.parse_args(argv)
    try:
        levels = tuple(int(level) for level in args.concurrency.split(",") if level.strip())
    except ValueError:
        parser.error("--concurrency takes whole numbers separated by commas, e.g. 1,16,64")
    requests = args.requests if args.requests is not None else (50 if args.quick else 300)
    if requests < 1 or not levels or min(levels) < 1:
        parser.error("--requests and every --concurrency level must be at least 1")
    time_cap = args.time_cap if args.time_cap is not None else (30.0 if args.quick else 120.0)
    conversations = args.conversations if args.conversations is not None else (3 if args.quick else 20)
    first_token = args.first_token if args.first_token is not None else (10 if args.quick else 40)
    only = frozenset(name.strip() for name in args.only.split(",") if name.strip())
    memory = args.memory_streams if args.memory_streams is not None else (200 if args.quick else 1000)
    return Options(requests, levels, time_cap, args.keep_logs, max(0, conversations), not args.no_stores,
                   not args.no_metrics, max(0, first_token), only, max(0, memory))


def _cpu_now(servers: Stack, proxy: Server) -> dict[str, float]:
    return {"gateway": cpu_seconds(proxy.process.pid),
            "simulator": cpu_seconds(servers.simulator.process.pid), "client": cpu_seconds()}


async def _measure(servers: Stack, scenario: Scenario, session: aiohttp.ClientSession,
                   options: Options, concurrency: int) -> Result:
    # The floor's rows count the floor relay's CPU in the proxy column, the others the gateway's.
    proxy = servers.floor if scenario.name.startswith("floor") and servers.floor else servers.gateway
    before = _cpu_now(servers, proxy)
    result = await drive(scenario, session, options.requests, concurrency, options.time_cap)
    after = _cpu_now(servers, proxy)
    result.cpu = {name: after[name] - before[name] for name in after}
    print(f"  {scenario.name:<15} c={concurrency:<4} {result.throughput:7.1f} req/s  "
          f"p50 {result.latency_ms(50):7.1f} ms  errors {result.error_count}", file=sys.stderr, flush=True)
    return result


async def _upstream_slots(gateway_url: str) -> int:
    """How many upstream calls the gateway lets run at once (the sum of its accounts' limits)."""
    async with aiohttp.ClientSession() as session, session.get(gateway_url + "/v1/accounts") as response:
        accounts = (await response.json())["data"]
    return sum(int(account["limit"]) for account in accounts)


async def run(options: Options) -> tuple[list[Result], list[str]]:
    """Every scenario at every concurrency; the results and notes for the report."""
    main_task = asyncio.current_task()
    assert main_task is not None
    # SIGTERM cancels the run like Ctrl-C does, so leaving `stack()` stops the servers.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    with stack(options.keep_logs, floor=True) as servers:
        assert servers.floor is not None
        await wait_ready(servers.simulator, "/api/models")
        await wait_ready(servers.gateway, "/health")
        await wait_ready(servers.floor, "/health")
        slots = await _upstream_slots(servers.gateway.url)
        notes = [f"gateway: {len(TOKENS)} accounts, at most {slots} upstream calls in flight (the pool's per-account\n"
                 f"      limit): beyond {slots} concurrent clients, the rest wait inside the gateway"]
        print(f"simulator {servers.simulator.url} (speed 0), gateway {servers.gateway.url}", file=sys.stderr)
        # Each floor row runs just before the gateway row it is compared with, so a change in the
        # machine's load falls on both alike.
        scenarios = [direct(servers.simulator.url, TOKENS), floor(servers.floor.url, stream=False),
                     gateway_chat(servers.gateway.url), floor(servers.floor.url, stream=True),
                     gateway_stream(servers.gateway.url), gateway_responses(servers.gateway.url, stream=False),
                     gateway_responses(servers.gateway.url, stream=True)]
        if options.scenarios:
            scenarios = [scenario for scenario in scenarios if scenario.name in options.scenarios]
        results: list[Result] = []
        timeout = aiohttp.ClientTimeout(total=None)
        sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(options.concurrency)),
                                          timeout=timeout) for _ in scenarios]
        try:
            for scenario, session in zip(scenarios, sessions, strict=True):
                await warm_up(scenario, session)
            for concurrency in options.concurrency:
                for scenario, session in zip(scenarios, sessions, strict=True):
                    results.append(await _measure(servers, scenario, session, options, concurrency))
        finally:
            await asyncio.gather(*(session.close() for session in sessions))
        if options.stores:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "QWEN_"))}
            with store_gateways(servers.simulator.url, servers.logs, env) as gateways:
                print("state stores: " + ", ".join(gateways), file=sys.stderr)
                compared = await compare(gateways, options.requests, options.time_cap)
            notes.append(report(compared, "redis" not in gateways))
        if options.metrics:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "QWEN_"))}
            with metrics_gateways(servers.simulator.url, servers.logs, env) as gateways:
                print("metrics: off and on", file=sys.stderr)
                notes.append(metrics_report(await compare(gateways, options.requests, options.time_cap)))
    if options.conversations:
        notes.append(await _conversations(options))
    if options.first_token:
        notes.append("\n" + await first_token_report(options.first_token))
    if options.memory_streams:
        print(f"  memory: {options.memory_streams} open streams, gateway then floor", file=sys.stderr, flush=True)
        gateway = await stream_memory.measure(options.memory_streams, out=sys.stderr)
        floor_kib = await stream_memory.measure(options.memory_streams, "floor", sys.stderr)
        notes.append(f"\nmemory per open stream ({options.memory_streams} streams open at once, RSS): gateway "
                     f"{gateway:.1f} KiB, floor relay {floor_kib:.1f} KiB (target: gateway ≤ 48 KiB)")
    return results, notes


async def _conversations(options: Options) -> str:
    """Turn 40 of long conversations on two fresh gateways (and simulators): the default
    (chaining on) and one configured with `conversation.chain: false`."""
    print("  conversation: 40 turns, chaining on and off", file=sys.stderr, flush=True)
    results = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        for label, config in (("on", ""), ("off", "conversation:\n  chain: false\n")):
            with stack(None, config) as servers:
                await wait_ready(servers.simulator, "/api/models")
                await wait_ready(servers.gateway, "/health")
                results.append(await turn_40(session, servers.gateway.url, servers.simulator.url, label,
                                             options.conversations))
    return "\n" + render_turns(results)


def _runner(main: Coroutine[Any, Any, T]) -> T:
    # uvloop, as the gateway runs it, keeps the load generator's own share of the cores small.
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    try:
        results, notes = _runner(run(options))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; the servers are stopped", file=sys.stderr)
        return 130
    except StartupError as exc:
        print(f"cannot start the servers: {exc}", file=sys.stderr)
        return 2
    print(render(results, notes, load_before), flush=True)
    return 1 if any(r.error_count for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
