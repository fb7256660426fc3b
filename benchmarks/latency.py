"""Latency summaries shared by the drivers (ws_fanout.py, celery_tasks.py), which run by path
in the rendered project's environment and import this module from their own directory."""

from __future__ import annotations

import math


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def summary(milliseconds: list[float]) -> dict[str, float | None]:
    """p50, p99 and max of latencies in milliseconds (None each when there are none)."""
    return {
        "p50_ms": percentile(milliseconds, 50),
        "p99_ms": percentile(milliseconds, 99),
        "max_ms": max(milliseconds) if milliseconds else None,
    }
