"""The benchmark reads dnsperf's summary and builds its workloads correctly (no servers run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import dnsperf, scenarios
from bench.dnsperf import DnsperfResult
from bench.report import MAX, Report, RunResult, markdown
from bench.scenarios import Spelling

SUMMARY = """Statistics:

  Queries sent:         227511
  Queries completed:    227500 (100.00%)
  Queries lost:         11 (0.00%)

  Response codes:       NOERROR 204750 (90.00%), NXDOMAIN 22750 (10.00%)
  Average packet size:  request 28, response 44
  Run time (s):         2.000529
  Queries per second:   113725.419627

  Average Latency (s):  0.000416 (min 0.000014, max 0.011988)
  Latency StdDev (s):   0.000646
"""


def test_summary_is_parsed() -> None:
    result = dnsperf.parse(SUMMARY)
    assert result == DnsperfResult(
        sent=227511,
        completed=227500,
        lost=11,
        qps=113725.419627,
        run_seconds=2.000529,
        avg_latency_s=0.000416,
        max_latency_s=0.011988,
        rcodes={"NOERROR": 204750, "NXDOMAIN": 22750},
        response_bytes=44,
    )


def test_netns_and_rate_cap_are_on_the_command_line() -> None:
    load = dnsperf.Load("127.0.0.11", 53, Path("q"), 2, 10, 10_000, netns_pid=42, cpu=1)
    argv = dnsperf.command(load)
    assert argv[:6] == ["nsenter", "-t", "42", "-n", "taskset", "-c"]
    assert argv[argv.index("-Q") + 1] == "10000"


@pytest.mark.parametrize(
    ("scenario", "spelling", "expected"),
    [
        ("single", Spelling.ZONE, {"target.docker A"}),
        ("single", Spelling.BARE, {"target A"}),
        ("roundrobin", Spelling.ZONE, {"rr.docker A"}),
        ("forwarded", Spelling.BARE, {f"{n} A" for n in scenarios.FORWARDED}),
    ],
)
def test_query_names(scenario: str, spelling: Spelling, expected: set[str]) -> None:
    assert set(scenarios.query_lines(scenario, spelling)) == expected


def test_nxmix_is_ninety_percent_hits() -> None:
    lines = scenarios.query_lines("nxmix", Spelling.BARE)
    misses = [line for line in lines if line.startswith("missing-")]
    assert len(misses) * 10 == len(lines)


def test_round_robin_name_has_ten_addresses() -> None:
    hosts = scenarios.local_hosts(Spelling.ZONE, many=10_000)
    assert sum(line.endswith(" rr.docker") for line in hosts) == 10
    assert len({line.split()[0] for line in hosts}) == len(hosts)


def test_table_has_ratios_against_both_references() -> None:
    def run(label: str, kind: str, qps: float, cpu_s: float) -> RunResult:
        result = DnsperfResult(100_000, 100_000, 0, qps, 1.0, 0.0001, 0.002)
        return RunResult(label, kind, "single", MAX, result, cpu_s)

    report = Report(
        meta={
            "started": "now",
            "seconds": 1,
            "clients": 10,
            "rate": 10_000,
            "server_cpu": 0,
            "client_cpu": 1,
            "host": "test",
        },
        runs=[
            run("dnsd", "dnsd", 100.0, 0.001),
            run("dnsmasq", "dnsmasq", 200.0, 0.0005),
            run("Docker", "docker", 50.0, 0.004),
        ],
    )
    table = markdown(report, {"single": "one name"})
    assert "| one name | dnsd | 0.50 | 2.00 | 2.00 | 0.25 |" in table
