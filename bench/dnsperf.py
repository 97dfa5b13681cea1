"""Running dnsperf and reading its summary: command line in, `DnsperfResult` out.

Knows dnsperf's flags and output format; knows nothing about which server is measured.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.latency import LatencyStats, latency_stats, parse_latencies

DNSPERF = "dnsperf"


class DnsperfError(RuntimeError):
    """dnsperf failed or printed no statistics; str() includes its output."""


@dataclass(frozen=True)
class DnsperfResult:
    """dnsperf's summary of one run."""

    sent: int
    completed: int
    lost: int
    qps: float
    run_seconds: float
    avg_latency_s: float
    max_latency_s: float
    rcodes: Mapping[str, int] = field(default_factory=dict)
    response_bytes: int = 0  # average response size
    latency: LatencyStats | None = None  # per-query percentiles (runs with `Load.verbose`)


@dataclass(frozen=True)
class Load:
    """Where and how hard dnsperf sends: server, query file, time, clients, optional rate cap."""

    server: str
    port: int
    queryfile: Path
    seconds: float
    clients: int = 10
    max_qps: int | None = None
    netns_pid: int | None = None  # run inside this process's network namespace
    cpu: int | None = None  # pin dnsperf to this core
    passes: int | None = None  # stop after this many passes through the file (-n)
    verbose: bool = False  # -v: one line per answer with its latency (for percentiles)
    realtime: int | None = None  # run dnsperf under SCHED_RR at this priority (chrt -r)


def command(load: Load) -> list[str]:
    """The argv that applies `load` (nsenter and taskset wrappers included)."""
    argv: list[str] = []
    if load.netns_pid is not None:
        argv += ["nsenter", "-t", str(load.netns_pid), "-n"]
    if load.cpu is not None:
        argv += ["taskset", "-c", str(load.cpu)]
    if load.realtime is not None:
        argv += ["chrt", "-r", str(load.realtime)]
    argv += [DNSPERF, "-s", load.server, "-p", str(load.port), "-d", str(load.queryfile)]
    argv += ["-c", str(load.clients), "-l", f"{load.seconds:g}", "-t", "2"]
    if load.max_qps is not None:
        argv += ["-Q", str(load.max_qps)]
    if load.passes is not None:
        argv += ["-n", str(load.passes)]
    if load.verbose:
        argv.append("-v")
    return argv


def probe_command(load: Load) -> list[str]:
    """argv that sends each query of the file once, with a short timeout (readiness checks)."""
    argv = command(load)
    cut = argv.index("-c")
    return [*argv[:cut], "-c", "1", "-n", "1", "-t", "1"]


def run(argv: list[str], timeout: float, output: Path | None = None) -> DnsperfResult:
    """Run dnsperf; with `output` its stdout goes to that file (verbose runs: one line per
    answer, too much for a pipe) and the per-query latencies are summarised."""
    try:
        if output is None:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
            stdout = done.stdout
        else:
            with output.open("w") as out:
                done = subprocess.run(
                    argv, stdout=out, stderr=subprocess.PIPE, text=True, timeout=timeout
                )
            stdout = output.read_text(errors="replace")
    except subprocess.TimeoutExpired as exc:
        raise DnsperfError(f"dnsperf did not finish within {timeout:.0f} s") from exc
    if done.returncode != 0 or "Statistics:" not in stdout:
        raise DnsperfError(
            f"{' '.join(argv)} exited {done.returncode}: {stdout[-2000:]}{done.stderr}"
        )
    result = parse(stdout)
    if output is not None:
        result = dataclasses.replace(result, latency=latency_stats(parse_latencies(stdout)))
    return result


_NUMBER = r"([0-9.]+)"
_PATTERNS = {
    "sent": rf"Queries sent:\s+{_NUMBER}",
    "completed": rf"Queries completed:\s+{_NUMBER}",
    "lost": rf"Queries lost:\s+{_NUMBER}",
    "qps": rf"Queries per second:\s+{_NUMBER}",
    "run_seconds": rf"Run time \(s\):\s+{_NUMBER}",
    "avg_latency_s": rf"Average Latency \(s\):\s+{_NUMBER}",
    "max_latency_s": rf"Average Latency \(s\):.*max {_NUMBER}\)",
    "response_bytes": rf"Average packet size:.*response {_NUMBER}",
}


def parse(text: str) -> DnsperfResult:
    """dnsperf's stdout -> result; missing fields (e.g. no latency when nothing completed) are 0."""
    values: dict[str, float] = {}
    for key, pattern in _PATTERNS.items():
        found = re.search(pattern, text)
        values[key] = float(found.group(1)) if found else 0.0
    return DnsperfResult(
        sent=int(values["sent"]),
        completed=int(values["completed"]),
        lost=int(values["lost"]),
        qps=values["qps"],
        run_seconds=values["run_seconds"],
        avg_latency_s=values["avg_latency_s"],
        max_latency_s=values["max_latency_s"],
        rcodes=parse_rcodes(text),
        response_bytes=int(values["response_bytes"]),
    )


def parse_rcodes(text: str) -> dict[str, int]:
    found = re.search(r"Response codes:\s+(.*)", text)
    if not found:
        return {}
    return {name: int(count) for name, count in re.findall(r"([A-Z]+) (\d+) \(", found.group(1))}
