"""`GET /metrics`: Prometheus text format, one registry per app (tests run several apps in a process).

The hot path only bumps a counter and a histogram once per request (in RequestLog); account
states, pool waiters and jobs are read from their owners when Prometheus scrapes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from .errors import NotFound
from .jobs import FINISHED_JOBS
from .qwen.auth import REFRESHES

MINUTES = 30  # the status page's requests-per-minute chart
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("gateway_requests", "Requests by route, method, status and model",
                                ("route", "method", "status", "model"), registry=self.registry)
        self.latency = Histogram("gateway_request_seconds", "Whole request time", ("route",), buckets=BUCKETS,
                                 registry=self.registry)
        self.first_token = Histogram("gateway_first_token_seconds", "Time to the first body byte of a stream",
                                     ("route",), buckets=BUCKETS, registry=self.registry)
        self.upstream = Histogram("gateway_upstream_seconds", "Time spent waiting on Qwen", ("route",),
                                  buckets=BUCKETS, registry=self.registry)
        self.tokens = Counter("gateway_tokens", "Tokens by direction (in: prompt, out: completion) and model",
                              ("direction", "model"), registry=self.registry)
        self.failures = Counter("gateway_upstream_failures", "Failed attempts by reason, and whether another "
                                "account was tried next (failover) or the error went to the client",
                                ("reason", "next"), registry=self.registry)
        self._minutes: dict[int, int] = {}

    def per_minute(self) -> list[int]:
        """Model calls in each of the last MINUTES minutes, oldest first."""
        now = int(time.time() // 60)
        return [self._minutes.get(minute, 0) for minute in range(now - MINUTES + 1, now + 1)]

    def request(self, scope: Scope, status: int, state: dict[str, Any], elapsed: float) -> None:
        """Called by RequestLog once per request; route templates keep ids out of the labels."""
        route = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        model = state.get("model") or ""
        self.requests.labels(path, scope["method"], str(status or 0), model).inc()
        if model:  # a call that reached a model (chat, responses, images, videos): the status page's chart
            minute = int(time.time() // 60)
            self._minutes[minute] = self._minutes.get(minute, 0) + 1
            if len(self._minutes) > MINUTES:
                del self._minutes[min(self._minutes)]
        self.latency.labels(path).observe(elapsed)
        if "upstream_ms" in state:
            self.upstream.labels(path).observe(state["upstream_ms"] / 1000)
        if "first_byte" in state:
            self.first_token.labels(path).observe(state["first_byte"])
        usage = state.get("usage")
        if isinstance(usage, dict):
            self.tokens.labels("in", model).inc(usage.get("prompt_tokens") or 0)
            self.tokens.labels("out", model).inc(usage.get("completion_tokens") or 0)

    def failure(self, reason: str, failover: bool) -> None:
        self.failures.labels(reason, "failover" if failover else "client").inc()

    def watch(self, app_state: Any) -> None:
        """Scrape-time gauges read from the running app; failures reported by its pool."""
        app_state.pool.on_failure = self.failure
        self.registry.register(_LiveState(app_state))


class _LiveState(Collector):
    def __init__(self, app_state: Any) -> None:
        self.state = app_state

    def collect(self) -> Iterator[Metric]:
        pool = getattr(self.state, "pool", None)
        if pool is None:
            return
        accounts = GaugeMetricFamily("gateway_accounts", "Accounts by state", labels=("state",))
        counts: dict[str, int] = {"healthy": 0, "cooling": 0, "invalid": 0}
        for account in pool.status():
            counts[account["state"]] = counts.get(account["state"], 0) + 1
        for name, count in counts.items():
            accounts.add_metric((name,), count)
        yield accounts
        # A quota rests one mode of an account (modes.py): chat can be healthy while video cools.
        by_mode = GaugeMetricFamily("gateway_account_modes", "Accounts by mode and state", labels=("mode", "state"))
        mode_counts: dict[tuple[str, str], int] = {}
        for account in pool.status():
            for mode, health in account["modes"].items():
                mode_counts[mode, health["state"]] = mode_counts.get((mode, health["state"]), 0) + 1
        for (mode, state), count in sorted(mode_counts.items()):
            by_mode.add_metric((mode, state), count)
        yield by_mode
        waiters = GaugeMetricFamily("gateway_pool_waiters", "Calls waiting for a free account slot")
        waiters.add_metric((), pool.waiting)
        yield waiters
        in_flight = GaugeMetricFamily("gateway_in_flight", "Upstream calls under way")
        in_flight.add_metric((), sum(a["in_flight"] for a in pool.status()))
        yield in_flight
        refreshes = CounterMetricFamily("gateway_token_refreshes", "Access-token refreshes by outcome",
                                        labels=("outcome",))
        for outcome in ("ok", "rejected", "unreachable"):
            refreshes.add_metric((outcome,), REFRESHES[outcome])
        yield refreshes
        polled = GaugeMetricFamily("gateway_video_jobs_polling", "Video jobs this replica is polling now")
        jobs = getattr(self.state, "jobs", None)
        polled.add_metric((), jobs.polling if jobs is not None else 0)
        yield polled
        finished = CounterMetricFamily("gateway_video_jobs_finished", "Video jobs seen finishing, by status",
                                       labels=("status",))
        for status, count in sorted(FINISHED_JOBS.items()):
            finished.add_metric((status,), count)
        yield finished
        fresh = getattr(self.state, "fresh_chats", None)
        if fresh is not None:
            stocked = GaugeMetricFamily("gateway_fresh_chats", "Upstream chats made ahead and not yet used")
            stocked.add_metric((), fresh.stocked)
            yield stocked
            outcomes = CounterMetricFamily("gateway_fresh_chats_events", "Chats made ahead, taken by a request, "
                                           "missed (none on the shelf), deleted unused, failed to make",
                                           labels=("event",))
            for event, count in fresh.counts.items():
                outcomes.add_metric((event,), count)
            yield outcomes
        uptime = GaugeMetricFamily("gateway_uptime_seconds", "Seconds since the app started")
        uptime.add_metric((), time.monotonic() - getattr(self.state, "started", time.monotonic()))
        yield uptime


async def metrics(request: Request) -> Response:
    if request.app.state.metrics is None:
        raise NotFound("Metrics are off (metrics: false in the config).")
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


ROUTES = [Route("/metrics", metrics)]
