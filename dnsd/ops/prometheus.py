"""Render `Metrics` and the server's state as Prometheus text exposition (format 0.0.4).

Pure: counters and facts in, one string out. It must not count anything
itself, do I/O, or import `watchers` (the Docker source's name comes from the
state); the HTTP API serves the string.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence

from dnsd import __version__
from dnsd.ops.metrics import Histogram, Metrics
from dnsd.ops.state import CONNECTED, ServerState, WatcherReport
from registry import Snapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = Mapping[str, str]


def escape(value: str) -> str:
    """Escape a label value: backslash, double quote and newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def sample(name: str, labels: Labels, value: float) -> str:
    if not labels:
        return f"{name} {number(value)}"
    inner = ",".join(f'{key}="{escape(str(val))}"' for key, val in labels.items())
    return f"{name}{{{inner}}} {number(value)}"


def family(
    name: str, kind: str, help_text: str, samples: Iterable[tuple[Labels, float]]
) -> list[str]:
    """HELP and TYPE lines, then one line per (labels, value)."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines.extend(sample(name, labels, value) for labels, value in samples)
    return lines


def histogram_samples(name: str, labels: Labels, histogram: Histogram) -> list[str]:
    """Cumulative `_bucket` lines (ending in +Inf), then `_sum` and `_count`."""
    lines = []
    cumulative = 0
    bounds = [*histogram.buckets, math.inf]
    for bound, count in zip(bounds, histogram.counts, strict=True):
        cumulative += count
        lines.append(sample(f"{name}_bucket", {**labels, "le": number(bound)}, cumulative))
    lines.append(sample(f"{name}_sum", labels, histogram.total))
    lines.append(sample(f"{name}_count", labels, histogram.count))
    return lines


def histogram_family(
    name: str, help_text: str, items: Iterable[tuple[Labels, Histogram]]
) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    for labels, histogram in items:
        lines.extend(histogram_samples(name, labels, histogram))
    return lines


def render_metrics(metrics: Metrics) -> list[str]:
    """The counters every part of dnsd increments."""
    queries = [
        ({"qtype": qtype, "rcode": rcode, "source": source}, count)
        for (qtype, rcode, source), count in sorted(metrics.queries.items())
    ]
    errors = [
        ({"upstream": upstream, "kind": kind}, count)
        for (upstream, kind), count in sorted(metrics.upstream_errors.items())
    ]
    upstream_latency = [
        ({"upstream": upstream}, hist)
        for upstream, hist in sorted(metrics.upstream_latency.items())
    ]
    return [
        *family(
            "dnsd_queries_total",
            "counter",
            "DNS queries answered, by query type, response code and source "
            "(local, cache, upstream).",
            queries,
        ),
        *histogram_family(
            "dnsd_answer_latency_seconds",
            "Time from receiving a query to sending its answer.",
            [({}, metrics.answer_latency)],
        ),
        *family(
            "dnsd_upstream_errors_total",
            "counter",
            "Failed upstream attempts, by upstream and kind.",
            errors,
        ),
        *histogram_family(
            "dnsd_upstream_latency_seconds",
            "Upstream round-trip time, by upstream.",
            upstream_latency,
        ),
        *family(
            "dnsd_cache_hits_total", "counter", "Forwarding cache hits.", [({}, metrics.cache_hits)]
        ),
        *family(
            "dnsd_cache_misses_total",
            "counter",
            "Forwarding cache misses.",
            [({}, metrics.cache_misses)],
        ),
        *family(
            "dnsd_dropped_packets_total",
            "counter",
            "Packets dropped without a reply (unreadable header, or a response).",
            [({}, metrics.dropped_packets)],
        ),
    ]


def watcher_totals(watchers: Sequence[WatcherReport], docker_source: str | None) -> list[str]:
    """Docker events, resyncs and reconnects, as the supervisors count them per watcher."""
    events = sum(w.events for w in watchers if w.source == docker_source)
    resyncs = sum(w.resyncs for w in watchers)
    reconnects = sum(w.reconnects for w in watchers)
    return [
        *family("dnsd_docker_events_total", "counter", "Docker events handled.", [({}, events)]),
        *family("dnsd_resyncs_total", "counter", "Full resyncs of a watcher's source.",
                [({}, resyncs)]),
        *family("dnsd_watcher_reconnects_total", "counter", "Watcher restarts after a failure.",
                [({}, reconnects)]),
    ]  # fmt: skip


FORWARDER_GAUGES = {
    "upstreams": ("dnsd_upstreams", "Configured upstream resolvers."),
    "upstreams_healthy": ("dnsd_upstreams_healthy", "Upstream resolvers currently usable."),
    "in_flight": ("dnsd_forward_in_flight", "Forwarded queries waiting for an upstream."),
}


def forwarder_gauges(forwarder: Mapping[str, float]) -> list[str]:
    """The forwarder's figures that it reports (none when forwarding is off)."""
    lines = []
    for key, (name, help_text) in FORWARDER_GAUGES.items():
        if key in forwarder:
            lines += family(name, "gauge", help_text, [({}, float(forwarder[key]))])
    return lines


def render_facts(
    snapshot: Snapshot,
    forwarder: Mapping[str, float],
    watchers: Sequence[WatcherReport],
    uptime: float,
) -> list[str]:
    """Gauges read from the state at scrape time."""
    connected = [({"source": w.source}, 1.0 if w.state == CONNECTED else 0.0) for w in watchers]
    return [
        *family(
            "dnsd_cache_entries",
            "gauge",
            "Entries in the forwarding cache.",
            [({}, float(forwarder.get("cache_entries", forwarder.get("size", 0))))],
        ),
        *forwarder_gauges(forwarder),
        *family(
            "dnsd_registry_names", "gauge", "Names in the registry.", [({}, len(snapshot.names()))]
        ),
        *family(
            "dnsd_registry_endpoints",
            "gauge",
            "Endpoints (containers, static records).",
            [({}, len(snapshot.endpoints))],
        ),
        *family(
            "dnsd_registry_version", "gauge", "Registry snapshot version.", [({}, snapshot.version)]
        ),
        *family(
            "dnsd_watcher_connected",
            "gauge",
            "1 when the watcher is connected to its source, else 0.",
            connected,
        ),
        *family("dnsd_uptime_seconds", "gauge", "Seconds since dnsd started.", [({}, uptime)]),
        *family("dnsd_build_info", "gauge", "dnsd version.", [({"version": __version__}, 1)]),
    ]


def render(state: ServerState, now: float | None = None) -> str:
    """The whole /metrics body."""
    now = time.time() if now is None else now
    watchers = state.watcher_report()
    lines = [
        *render_metrics(state.metrics),
        *watcher_totals(watchers, state.docker_source),
        *render_facts(
            state.store.snapshot,
            state.forwarder_stats(),
            watchers,
            max(0.0, now - state.started),
        ),
    ]
    return "\n".join(lines) + "\n"
