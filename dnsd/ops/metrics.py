"""Counters the whole process shares; `dnsd.ops.prometheus` renders them as text.

A leaf: it imports nothing of dnsd, so every layer (forward, serve) may count into it.
Counting must cost nanoseconds: plain dict and int updates on the event loop
thread, no locks, no I/O.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field

LATENCY_BUCKETS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


@dataclass
class Histogram:
    """A Prometheus-style histogram with fixed upper bounds."""

    buckets: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1


@dataclass
class Metrics:
    """Every counter dnsd exports. Sources: 'local', 'cache', 'upstream'."""

    queries: Counter[tuple[str, str, str]] = field(
        default_factory=Counter
    )  # (qtype, rcode, source)
    answer_latency: Histogram = field(default_factory=Histogram)
    upstream_errors: Counter[tuple[str, str]] = field(default_factory=Counter)  # (upstream, kind)
    upstream_latency: dict[str, Histogram] = field(default_factory=dict)
    cache_hits: int = 0
    cache_misses: int = 0
    dropped_packets: int = 0

    def observe_upstream(self, upstream: str, seconds: float) -> None:
        histogram = self.upstream_latency.get(upstream)
        if histogram is None:
            histogram = self.upstream_latency[upstream] = Histogram()
        histogram.observe(seconds)
