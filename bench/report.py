"""Results as values, and their two renderings: a Markdown table and a JSON file.

Formats only; runs nothing and measures nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.dnsperf import DnsperfResult
from bench.latency import LatencySummary, summarize
from bench.profile import ProfileResult

MAX = "max"  # as fast as dnsperf can send
RATE = "rate"  # capped with -Q for latency
WARMUP = "warmup"  # one pass through the query file before the full-rate run


@dataclass(frozen=True)
class RunResult:
    """One dnsperf run against one server, with the server's CPU time over the run."""

    label: str
    kind: str
    scenario: str
    mode: str
    dnsperf: DnsperfResult
    server_cpu_s: float
    syscalls: int | None = None  # the server's system calls over the run (`--syscalls`)
    steal: float | None = None  # share of the pinned cores' time the hypervisor took meanwhile

    @property
    def syscalls_per_query(self) -> float | None:
        if self.syscalls is None or self.dnsperf.completed < 1000:
            return None
        return self.syscalls / self.dnsperf.completed

    @property
    def cpu_us_per_query(self) -> float | None:
        """None below 1,000 queries: /proc counts CPU in 10 ms ticks."""
        if self.dnsperf.completed < 1000:
            return None
        return self.server_cpu_s * 1e6 / self.dnsperf.completed


@dataclass(frozen=True)
class MemoryResult:
    """dnsd with N registered names: resident memory and the cost of looking them up."""

    label: str
    names: int
    rss_kib_start: int
    rss_kib_end: int
    run: RunResult | None
    cold: RunResult | None  # the warm-up pass: every name asked once for the first time


@dataclass
class Report:
    meta: dict[str, Any]
    runs: list[RunResult] = field(default_factory=list)
    memory: list[MemoryResult] = field(default_factory=list)
    profiles: list[ProfileResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _find(runs: Iterable[RunResult], label: str, scenario: str, mode: str) -> RunResult | None:
    return next((r for r in runs if (r.label, r.scenario, r.mode) == (label, scenario, mode)), None)


def find_all(runs: Iterable[RunResult], label: str, scenario: str, mode: str) -> list[RunResult]:
    return [r for r in runs if (r.label, r.scenario, r.mode) == (label, scenario, mode)]


def latency_of(runs: Sequence[RunResult]) -> LatencySummary | None:
    """The capped runs of one server and scenario as one row (see `latency.summarize`)."""
    return summarize([r.dnsperf.latency for r in runs if r.dnsperf.latency is not None])


def _labels(runs: Sequence[RunResult]) -> list[str]:
    return list(dict.fromkeys(r.label for r in runs))


def main_table(report: Report, titles: Mapping[str, str]) -> list[str]:
    rate = report.meta.get("rate", 10000)
    lines = [
        f"| scenario | server | queries/s | server CPU µs/query | lost "
        f"| avg latency @{rate:,} q/s (ms) | p50 (ms) | p99 (ms) | max (ms) "
        "| steal % (capped runs) | reply bytes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario, title in titles.items():
        for label in _labels(report.runs):
            top = _find(report.runs, label, scenario, MAX)
            capped = find_all(report.runs, label, scenario, RATE)
            if top is not None or capped:
                lines.append(f"| {title} | {label} | " + " | ".join(_cells(top, capped)) + " |")
    return lines


def _ms(seconds: float | None, digits: int = 3) -> str:
    return _fmt(None if seconds is None else seconds * 1e3, digits)


def _cells(top: RunResult | None, capped: Sequence[RunResult]) -> list[str]:
    """queries/s, CPU, lost, latency (median of the capped runs), steal, reply size."""
    lost = sum(r.dnsperf.lost for r in (top, *capped) if r)
    size = next(r.dnsperf.response_bytes for r in (top, *capped) if r)
    summary = latency_of(capped)
    steals = [r.steal for r in capped if r.steal is not None]
    if summary is not None:
        latency = [
            _ms(summary.avg_s),
            _ms(summary.p50_s),
            _ms(summary.p99_s),
            _ms(summary.max_s, 2),
        ]
    elif capped:  # no per-query figures: dnsperf's own average and maximum
        latency = [_ms(capped[0].dnsperf.avg_latency_s), "—", "—"]
        latency.append(_ms(max(r.dnsperf.max_latency_s for r in capped), 2))
    else:
        latency = ["—"] * 4
    return [
        _fmt(top.dnsperf.qps if top else None, 0),
        _fmt(top.cpu_us_per_query if top else None),
        f"{lost:,}",
        *latency,
        _fmt(max(steals) * 100 if steals else None),
        str(size),
    ]


def _percent(share: object) -> str:
    return f"{share:.1%}" if isinstance(share, float) else "?"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def ratio_table(report: Report, titles: Mapping[str, str]) -> list[str]:
    refs = {
        kind: next((r.label for r in report.runs if r.kind == kind), None)
        for kind in ("dnsmasq", "docker")
    }
    dnsds = [
        label
        for label in _labels(report.runs)
        if any(r.kind == "dnsd" and r.label == label for r in report.runs)
    ]
    lines = [
        "| scenario | dnsd | q/s ÷ dnsmasq | CPU/query ÷ dnsmasq "
        "| q/s ÷ Docker | CPU/query ÷ Docker |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for scenario, title in titles.items():
        for label in dnsds:
            mine = _find(report.runs, label, scenario, MAX)
            if mine is None:
                continue
            cells = []
            for ref in (refs["dnsmasq"], refs["docker"]):
                other = _find(report.runs, ref, scenario, MAX) if ref else None
                other_qps = other.dnsperf.qps if other else None
                cells.append(_fmt(_ratio(mine.dnsperf.qps, other_qps), 2))
                cells.append(
                    _fmt(
                        _ratio(mine.cpu_us_per_query, other.cpu_us_per_query if other else None), 2
                    )
                )
            lines.append(f"| {title} | {label} | " + " | ".join(cells) + " |")
    return lines


def syscall_table(report: Report, titles: Mapping[str, str]) -> list[str]:
    lines = ["| scenario | server | system calls per query (full rate) |", "|---|---|---:|"]
    for scenario, title in titles.items():
        for label in _labels(report.runs):
            top = _find(report.runs, label, scenario, MAX)
            if top is not None and top.syscalls_per_query is not None:
                lines.append(f"| {title} | {label} | {top.syscalls_per_query:.2f} |")
    return lines


def memory_table(report: Report) -> list[str]:
    lines = [
        "| dnsd | registered names | VmRSS after start (MiB) | VmRSS after run (MiB) "
        "| queries/s | server CPU µs/query | first pass CPU µs/query |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in report.memory:
        qps = m.run.dnsperf.qps if m.run else None
        cpu = m.run.cpu_us_per_query if m.run else None
        cold = m.cold.cpu_us_per_query if m.cold else None
        lines.append(
            f"| {m.label} | {m.names:,} | {m.rss_kib_start / 1024:.1f} "
            f"| {m.rss_kib_end / 1024:.1f} | {_fmt(qps, 0)} | {_fmt(cpu)} | {_fmt(cold)} |"
        )
    return lines


def profile_line(profile: ProfileResult, titles: Mapping[str, str]) -> str:
    shown = profile.frames[:10] if profile.tool == "perf" else profile.frames[:8]
    top = " · ".join(f"{f.self_share:.0%} `{f.name}`" for f in shown)
    title = titles.get(profile.scenario, profile.scenario)
    return f"- {profile.label}, {title} ({profile.tool}): {top}"


def markdown(report: Report, titles: Mapping[str, str]) -> str:
    meta = report.meta
    parts = [
        f"### dnsperf comparison, {meta['started']}",
        "",
        f"{meta['seconds']:g} s per run, {meta['clients']} dnsperf clients, server pinned to core "
        f"{meta['server_cpu']}, dnsperf to core {meta['client_cpu']}; {meta['host']}; "
        f"load average {meta.get('load_start', '?')} before, {meta.get('load_end', '?')} after; "
        f"steal {_percent(meta.get('steal'))} of all CPU time during the run.",
        "",
        f"Latency: {meta.get('latency_runs', 1)} run(s) of {meta.get('latency_seconds', '?')} s "
        "capped at that rate per server and scenario, interleaved, each after a 0.5 s pause, "
        f"{'server and dnsperf under SCHED_RR' if meta.get('realtime') else 'normal priority'}; "
        "per-query latencies from `dnsperf -v`; avg, p50 and p99 are the median over those runs, "
        "max the largest; steal % the most the hypervisor took from the two pinned cores "
        "in one of them.",
        "",
        *main_table(report, titles),
        "",
        "Ratios (dnsd ÷ reference; q/s above 1 and CPU below 1 favour dnsd):",
        "",
        *ratio_table(report, titles),
    ]
    if any(r.syscalls is not None for r in report.runs):
        parts += ["", "System calls (perf stat, raw_syscalls:sys_enter, every thread):", ""]
        parts += syscall_table(report, titles)
    if report.memory:
        parts += [
            "",
            "Lookup cost and memory by number of registered names:",
            "",
            *memory_table(report),
        ]
    if report.profiles:
        parts += [
            "",
            "Profiles of one more full-rate run, share of samples by frame on top of the stack "
            "(self time): py-spy for dnsd's Python, perf for any server, kernel `[k]` and user "
            "`[.]`:",
            "",
        ]
        parts += [profile_line(p, titles) for p in report.profiles]
    if report.notes:
        parts += ["", "Notes:", "", *[f"- {note}" for note in report.notes]]
    return "\n".join(parts) + "\n"


def write_json(report: Report, directory: Path, stamp: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"dnsperf-{stamp}.json"
    payload = {
        "meta": report.meta,
        "runs": [
            {
                **asdict(r),
                "cpu_us_per_query": r.cpu_us_per_query,
                "syscalls_per_query": r.syscalls_per_query,
            }
            for r in report.runs
        ],
        "latency": {
            f"{label} / {scenario}": asdict(summary)
            for label in _labels(report.runs)
            for scenario in dict.fromkeys(r.scenario for r in report.runs)
            if (summary := latency_of(find_all(report.runs, label, scenario, RATE)))
        },
        "memory": [asdict(m) for m in report.memory],
        "profiles": [asdict(p) for p in report.profiles],
        "notes": report.notes,
    }
    path.write_text(json.dumps(payload, indent=2, default=dict) + "\n")
    return path
