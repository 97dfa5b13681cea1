"""/metrics text: parses with the Prometheus parser and carries the counters we incremented."""

from __future__ import annotations

import math

from prometheus_client.parser import text_string_to_metric_families

from dnsd.config import Config
from dnsd.ops.metrics import Metrics
from dnsd.ops.prometheus import escape, render
from dnsd.ops.state import ServerState, WatcherReport
from registry import Address, Endpoint, NameClaim, Origin, Resync, Store

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> tuple[Samples, dict[str, str]]:
    """Every sample by (name, sorted labels), and every family's type."""
    values: Samples = {}
    types: dict[str, str] = {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            values[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return values, types


def busy_state() -> ServerState:
    metrics = Metrics()
    metrics.queries[("A", "NOERROR", "local")] += 3
    metrics.queries[("AAAA", "NXDOMAIN", "upstream")] += 1
    metrics.answer_latency.observe(0.0003)
    metrics.answer_latency.observe(0.02)
    metrics.answer_latency.observe(99.0)
    metrics.upstream_errors[('10.0.0.1:53"\\', "timeout")] += 2
    metrics.observe_upstream("127.0.0.1:5300", 0.004)
    metrics.cache_hits, metrics.cache_misses = 7, 4
    store = Store()
    endpoint = Endpoint(
        "docker", "c1", "web-1",
        (NameClaim("web-1", Origin.CONTAINER_NAME), NameClaim("web", Origin.COMPOSE_SERVICE)),
        (Address("10.0.0.5", "net"),),
    )  # fmt: skip
    store.apply(Resync("docker", (endpoint,)))
    return ServerState(
        Config(),
        store,
        metrics,
        started=1000.0,
        watcher_report=lambda: [
            WatcherReport("docker", "connected", events=11, resyncs=2, reconnects=1),
            WatcherReport("file:/etc/x", "connected", events=5, resyncs=3),
        ],
        docker_source="docker",
        forwarder_stats=lambda: {"cache_entries": 42.0, "upstreams": 2.0, "upstreams_healthy": 1.0},
    )


def test_counters_and_gauges_parse_with_their_values() -> None:
    values, types = samples(render(busy_state(), now=1010.0))
    expected = {
        ("dnsd_queries_total", (("qtype", "A"), ("rcode", "NOERROR"), ("source", "local"))): 3,
        ("dnsd_queries_total", (("qtype", "AAAA"), ("rcode", "NXDOMAIN"), ("source", "upstream"))):
            1,
        ("dnsd_upstream_errors_total", (("kind", "timeout"), ("upstream", '10.0.0.1:53"\\'))): 2,
        ("dnsd_cache_hits_total", ()): 7,
        ("dnsd_cache_misses_total", ()): 4,
        ("dnsd_cache_entries", ()): 42,
        ("dnsd_registry_names", ()): 2,
        ("dnsd_registry_endpoints", ()): 1,
        ("dnsd_docker_events_total", ()): 11,  # only the docker source's events
        ("dnsd_resyncs_total", ()): 5,
        ("dnsd_upstreams", ()): 2,
        ("dnsd_upstreams_healthy", ()): 1,
        ("dnsd_watcher_reconnects_total", ()): 1,
        ("dnsd_watcher_connected", (("source", "docker"),)): 1,
        ("dnsd_uptime_seconds", ()): 10,
    }  # fmt: skip
    for key, value in expected.items():
        assert values[key] == value, key
    assert types["dnsd_queries"] == "counter"
    assert types["dnsd_answer_latency_seconds"] == "histogram"
    assert types["dnsd_registry_names"] == "gauge"


def test_answer_latency_histogram_is_cumulative() -> None:
    values, _ = samples(render(busy_state(), now=1010.0))

    def bucket(le: str) -> float:
        return values[("dnsd_answer_latency_seconds_bucket", (("le", le),))]

    assert bucket("0.0001") == 0
    assert bucket("0.00025") == 0
    assert bucket("0.0005") == 1
    assert bucket("0.025") == 2
    assert bucket("2.5") == 2
    assert bucket("+Inf") == 3
    assert values[("dnsd_answer_latency_seconds_count", ())] == 3
    assert math.isclose(values[("dnsd_answer_latency_seconds_sum", ())], 99.0203)
    upstream = ("dnsd_upstream_latency_seconds_count", (("upstream", "127.0.0.1:5300"),))
    assert values[upstream] == 1


def test_an_idle_server_still_exports_every_family() -> None:
    state = ServerState(Config(), Store(), Metrics())
    _, types = samples(render(state))
    for name in (
        "dnsd_queries",
        "dnsd_answer_latency_seconds",
        "dnsd_upstream_errors",
        "dnsd_cache_entries",
        "dnsd_registry_names",
        "dnsd_docker_events",
        "dnsd_resyncs",
        "dnsd_watcher_reconnects",
    ):
        assert name in types


def test_label_values_are_escaped() -> None:
    assert escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
