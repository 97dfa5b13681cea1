"""Per-query latency from dnsperf's verbose output, as percentiles, and their summary over runs.

dnsperf 2.10 prints only the average and the maximum, which on a VM shared with other work
(and losing time to the hypervisor: steal) say more about the machine than about the server.
With `-v` it prints one line per answer with its latency; this module turns those lines into
percentiles and several runs into one honest row (median of the runs, worst maximum).
Parses and computes only; runs nothing.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# "> NOERROR target.docker A 0.000123": rcode, the query as written, seconds.microseconds
_ANSWER = re.compile(r"^> [A-Z]+ .* (\d+\.\d{6})$", re.MULTILINE)
MAX_SAMPLES = 2_000_000  # bound: 10,000 q/s for 200 s


@dataclass(frozen=True)
class LatencyStats:
    """One run's per-query latencies in seconds."""

    count: int
    avg_s: float
    p50_s: float
    p90_s: float
    p99_s: float
    p999_s: float
    max_s: float


def parse_latencies(text: str) -> list[float]:
    """The latency of every answer dnsperf -v reported (seconds), at most MAX_SAMPLES."""
    found = []
    for match in _ANSWER.finditer(text):
        found.append(float(match.group(1)))
        if len(found) >= MAX_SAMPLES:
            break
    return found


def percentile(ordered: Sequence[float], share: float) -> float:
    """The nearest-rank percentile of an ascending sequence (share in 0..1)."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), math.ceil(round(share * len(ordered), 9))))
    return ordered[rank - 1]


def latency_stats(samples: Sequence[float]) -> LatencyStats | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return LatencyStats(
        count=len(ordered),
        avg_s=statistics.fmean(ordered),
        p50_s=percentile(ordered, 0.50),
        p90_s=percentile(ordered, 0.90),
        p99_s=percentile(ordered, 0.99),
        p999_s=percentile(ordered, 0.999),
        max_s=ordered[-1],
    )


@dataclass(frozen=True)
class LatencySummary:
    """Several runs of one server and scenario: the median run's figures and the worst max."""

    runs: int
    avg_s: float  # median over runs of each run's average
    p50_s: float  # median over runs of each run's median
    p99_s: float  # median over runs of each run's 99th percentile
    max_s: float  # the largest maximum of any run
    avg_range_s: tuple[float, float]  # lowest and highest per-run average


def summarize(runs: Sequence[LatencyStats]) -> LatencySummary | None:
    if not runs:
        return None
    avgs = [r.avg_s for r in runs]
    return LatencySummary(
        runs=len(runs),
        avg_s=statistics.median(avgs),
        p50_s=statistics.median(r.p50_s for r in runs),
        p99_s=statistics.median(r.p99_s for r in runs),
        max_s=max(r.max_s for r in runs),
        avg_range_s=(min(avgs), max(avgs)),
    )
