"""The load driver: a fixed number of requests at a fixed concurrency, and their numbers.

`drive()` runs `concurrency` workers that take request numbers until `requests` have
been sent, times each request (and its first body byte), and stops everything at a
hard time cap; requests cut by the cap count as errors.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from bench.scenarios import Failed, Scenario


@dataclass(frozen=True)
class Sample:
    latency: float  # seconds, request sent to answer complete
    ttfb: float | None  # seconds to the first byte of the response body (streams)
    error: str | None = None


@dataclass
class Result:
    scenario: str
    concurrency: int
    requests: int  # planned
    elapsed: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    cpu: dict[str, float] = field(default_factory=dict)  # process name → CPU seconds spent

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.error is None]

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def throughput(self) -> float:
        return len(self.ok) / self.elapsed if self.elapsed else 0.0

    def latency_ms(self, q: float) -> float:
        return percentile([s.latency for s in self.ok], q) * 1000

    def ttfb_ms(self, q: float) -> float:
        return percentile([s.ttfb for s in self.ok if s.ttfb is not None], q) * 1000

    def cpu_ms_per_request(self, process: str) -> float:
        done = len(self.ok)
        return self.cpu[process] * 1000 / done if done and process in self.cpu else math.nan


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100), linearly interpolated; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _error_name(exc: BaseException) -> str:
    if isinstance(exc, Failed):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "request timeout"
    return type(exc).__name__


async def drive(
    scenario: Scenario,
    session: aiohttp.ClientSession,
    requests: int,
    concurrency: int,
    time_cap: float,
    request_timeout: float = 30.0,
) -> Result:
    """Send `requests` calls of `scenario`, `concurrency` at a time, within `time_cap` seconds."""
    result = Result(scenario.name, concurrency, requests)
    numbers = itertools.count()

    async def worker() -> None:
        while (index := next(numbers)) < requests:
            started = time.monotonic()
            try:
                async with asyncio.timeout(request_timeout):
                    first = await scenario.call(session, index)
            except Exception as exc:  # a TimeoutError too: the request's own timeout
                result.errors[_error_name(exc)] += 1
                result.samples.append(Sample(time.monotonic() - started, None, _error_name(exc)))
                continue
            ttfb = first - started if first is not None else None
            result.samples.append(Sample(time.monotonic() - started, ttfb))

    started = time.monotonic()
    try:
        async with asyncio.timeout(time_cap), asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, requests)):
                group.create_task(worker())
    except TimeoutError:
        cut = requests - len(result.samples)
        result.errors["time cap"] += cut
    result.elapsed = time.monotonic() - started
    return result


async def warm_up(scenario: Scenario, session: aiohttp.ClientSession, requests: int = 20) -> None:
    """Unrecorded calls first: connections, caches (the gateway's model list) and code paths get warm."""
    result = await drive(scenario, session, requests, concurrency=4, time_cap=30.0)
    if result.error_count:
        detail = ", ".join(f"{name} ×{count}" for name, count in result.errors.items())
        raise RuntimeError(f"warm-up of {scenario.name} failed: {detail}")
