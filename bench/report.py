"""The plain-text report: one row per scenario and concurrency, then the overhead rows."""

from __future__ import annotations

import math
import os
import platform
import sys
from collections.abc import Sequence

from bench.load import Result

BASELINE = "direct"
COLUMNS = ("scenario", "conc", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "ttfb p50", "errors",
           "cpu ms/req gw|sim|client")


def _num(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def _cpu(result: Result) -> str:
    return "|".join(_num(result.cpu_ms_per_request(p), 2) for p in ("gateway", "simulator", "client"))


def _row(result: Result) -> tuple[str, ...]:
    streams = any(s.ttfb is not None for s in result.ok)
    errors = str(result.error_count)
    if result.errors:
        errors += " (" + ", ".join(f"{name} ×{n}" for name, n in result.errors.most_common(3)) + ")"
    return (
        result.scenario, str(result.concurrency), str(len(result.samples)), _num(result.throughput),
        _num(result.latency_ms(50)), _num(result.latency_ms(90)), _num(result.latency_ms(99)),
        _num(result.ttfb_ms(50)) if streams else "-", errors, _cpu(result),
    )


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def overhead_rows(results: Sequence[Result]) -> list[tuple[str, ...]]:
    """Each gateway scenario against the direct baseline at the same concurrency."""
    baseline = {r.concurrency: r for r in results if r.scenario == BASELINE}
    rows: list[tuple[str, ...]] = []
    for result in results:
        base = baseline.get(result.concurrency)
        if result.scenario == BASELINE or result.scenario.startswith("floor") or base is None:
            continue
        ratio = result.throughput / base.throughput if base.throughput else math.nan
        gateway_cpu = result.cpu_ms_per_request("gateway")
        rows.append((
            f"{result.scenario} vs {BASELINE}", str(result.concurrency),
            f"{result.latency_ms(50) - base.latency_ms(50):+.1f}",
            f"{result.latency_ms(99) - base.latency_ms(99):+.1f}",
            _num(ratio, 2) + "x",
            _num(gateway_cpu, 2),
        ))
    return rows


FLOOR_TARGETS = {"gateway": ("floor", 1.15), "gateway-stream": ("floor-stream", 1.3)}  # issue 10, item 8


def floor_rows(results: Sequence[Result]) -> list[tuple[str, ...]]:
    """The gateway's CPU per request over the floor relay's, at each concurrency, against the targets."""
    by_name = {(r.scenario, r.concurrency): r for r in results}
    rows: list[tuple[str, ...]] = []
    for result in results:
        if result.scenario not in FLOOR_TARGETS:
            continue
        floor_name, target = FLOOR_TARGETS[result.scenario]
        base = by_name.get((floor_name, result.concurrency))
        if base is None:
            continue
        gateway, floor = result.cpu_ms_per_request("gateway"), base.cpu_ms_per_request("gateway")
        ratio = gateway / floor if floor else math.nan
        verdict = "-" if math.isnan(ratio) else ("ok" if ratio <= target else "over")
        rows.append((f"{result.scenario} / {floor_name}", str(result.concurrency), _num(gateway, 3), _num(floor, 3),
                     _num(ratio, 2) + "x", f"≤ {target:.2f}x {verdict}"))
    return rows


def environment(load_before: float | None = None) -> str:
    """The machine, and how busy it was before the run (other work skews the wall-clock columns)."""
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    load = f", load average {load_before:.2f} before the run" if load_before is not None else ""
    return (
        f"machine: {cores} cores ({usable} usable), {platform.machine()}, Python {sys.version.split()[0]}, "
        f"{platform.system()} {platform.release()}{load}\n"
        f"note: the load generator, the gateway and the simulator share these {usable} cores, and the simulator\n"
        f"      answers with no delay at all, so the absolute numbers are pessimistic: a real upstream spends\n"
        f"      seconds per answer, and the gateway's few milliseconds would then be lost in the noise."
    )


def render(results: Sequence[Result], notes: Sequence[str] = (), load_before: float | None = None) -> str:
    parts = [
        environment(load_before),
        *notes,
        "",
        table([_row(r) for r in results], COLUMNS),
        "",
        "overhead (gateway minus direct at the same concurrency; the gateway's own CPU per request):",
        table(overhead_rows(results),
              ("comparison", "conc", "Δ p50 ms", "Δ p99 ms", "throughput ratio", "gateway cpu ms/req")),
    ]
    floors = floor_rows(results)
    if floors:
        parts += ["", "the gateway against the floor relay (bench/floor.py), CPU per request of each process:",
                  table(floors, ("comparison", "conc", "gateway ms/req", "floor ms/req", "ratio", "target"))]
    return "\n".join(parts)


ADDED_COLUMNS = ("scenario", "requests", "p50 ms", "gw cpu ms/req", "adds p50 ms", "adds cpu ms/req", "errors")


def added_rows(results: Sequence[Result], base: str) -> list[tuple[str, ...]]:
    """Each "<scenario> on <variant>" run's p50 and gateway CPU per request, and what it adds over
    the same scenario "on <base>" (the store comparison, the metrics cost)."""
    reference = {r.scenario.split(" on ")[0]: r for r in results if r.scenario.endswith(f" on {base}")}
    rows: list[tuple[str, ...]] = []
    for result in results:
        same = reference.get(result.scenario.split(" on ")[0])
        p50, cpu = result.latency_ms(50), result.cpu_ms_per_request("gateway")
        added_p50 = p50 - same.latency_ms(50) if same else math.nan
        added_cpu = cpu - same.cpu_ms_per_request("gateway") if same else math.nan
        rows.append((result.scenario, str(len(result.ok)), f"{p50:.2f}", f"{cpu:.3f}", f"{added_p50:+.2f}",
                     f"{added_cpu:+.3f}", str(result.error_count)))
    return rows
