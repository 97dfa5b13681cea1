"""The benchmark's command line: flags in, `plan.Options` out (bad flags exit 2 via argparse).

Knows the flags and their defaults; runs nothing.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from bench import scenarios
from bench.plan import ROOT, SERVERS, Options

DESCRIPTION = (
    "Measure dnsd, dnsmasq and Docker's embedded DNS side by side on loopback with dnsperf; "
    "Markdown on stdout, JSON and Markdown in bench/results/."
)


def _bounded(
    low: float, high: float, kind: type[int] | type[float] = int
) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number from {low:g} to {high:g}"
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected a number from {low:g} to {high:g}")
        return value

    return parse


def parse_args(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench", description=DESCRIPTION)
    p.add_argument(
        "--seconds",
        type=_bounded(0.5, 120, float),
        default=None,
        help="length of each full-rate run (default 10, or 4 with --repeat above 1)",
    )
    p.add_argument(
        "--quick", action="store_true", help="2 s runs, one 1 s latency run; for development"
    )
    p.add_argument(
        "--repeat",
        type=_bounded(1, 10),
        default=1,
        help="run the whole comparison N times (1-10) with the same servers, one after another; "
        "each run's tables, then the range of each ratio over the runs",
    )
    p.add_argument(
        "--latency-runs",
        type=_bounded(1, 10),
        default=3,
        help="capped runs per server and scenario for latency, interleaved (1-10, default 3)",
    )
    p.add_argument(
        "--latency-seconds",
        type=_bounded(0.5, 60, float),
        default=2.0,
        help="length of each capped latency run (default 2)",
    )
    p.add_argument(
        "--no-realtime",
        action="store_true",
        help="run the capped latency runs at normal priority (default: server and dnsperf "
        "under SCHED_RR, so other work on the machine does not queue in front of them)",
    )
    p.add_argument(
        "--default-install",
        action="store_true",
        help="also measure dnsd from two fresh venvs of this tree: `pip install .` (no extras, "
        "no flags) and the same with no C compiler (CC=false: no C extension)",
    )
    p.add_argument("--clients", type=int, default=10, help="dnsperf -c (default 10)")
    p.add_argument("--rate", type=int, default=10_000, help="latency runs q/s (10000)")
    p.add_argument("--servers", default=",".join(SERVERS), help="comma list of dnsd,dnsmasq,docker")
    p.add_argument(
        "--scenarios",
        default=",".join(scenarios.SCENARIO_KEYS),
        help="comma list of " + ",".join(scenarios.SCENARIO_KEYS),
    )
    p.add_argument(
        "--dnsd-command",
        default=f"{sys.executable} -m dnsd",
        help="how to run dnsd (default: this python -m dnsd)",
    )
    p.add_argument(
        "--event-loops",
        default="auto",
        help="dnsd --event-loop values to compare, e.g. asyncio,uvloop (default: "
        "both if dnsd has the flag and uvloop is installed)",
    )
    p.add_argument("--names", type=int, default=10_000, help="names for the memory run (10000)")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results")
    p.add_argument(
        "--profile",
        action="store_true",
        help="after each full-rate dnsd run, one more run under py-spy; top frames in the report",
    )
    p.add_argument(
        "--syscalls",
        action="store_true",
        help="count each server's system calls per query (perf stat on raw_syscalls:sys_enter)",
    )
    p.add_argument(
        "--dnsd-variants",
        default="",
        help="semicolon list of extra dnsd arguments, one dnsd per entry and event loop, "
        "e.g. '--udp-batch 0;--udp-batch 32' (default: one dnsd, no extra arguments)",
    )
    a = p.parse_args(argv)
    seconds = a.seconds if a.seconds is not None else (4.0 if a.repeat > 1 else 10.0)
    return Options(
        seconds=2.0 if a.quick else seconds,
        repeat=int(a.repeat),
        latency_runs=min(2, int(a.latency_runs)) if a.quick else int(a.latency_runs),
        latency_seconds=1.0 if a.quick else float(a.latency_seconds),
        default_install=a.default_install,
        realtime=not a.no_realtime,
        clients=a.clients,
        rate=a.rate,
        servers=_choices(a.servers, SERVERS, p),
        scenarios=_choices(a.scenarios, scenarios.SCENARIO_KEYS, p),
        dnsd_command=tuple(shlex.split(a.dnsd_command)),
        event_loops=tuple(x for x in a.event_loops.split(",") if x),
        names=a.names,
        server_cpu=a.server_cpu,
        client_cpu=a.client_cpu,
        results_dir=a.results_dir,
        profile=a.profile,
        syscalls=a.syscalls,
        variants=tuple(v.strip() for v in a.dnsd_variants.split(";")) or ("",),
    )


def _choices(text: str, allowed: tuple[str, ...], p: argparse.ArgumentParser) -> tuple[str, ...]:
    picked = tuple(x for x in text.split(",") if x)
    bad = [x for x in picked if x not in allowed]
    if bad:
        p.error(f"unknown {bad}; expected some of {','.join(allowed)}")
    return picked
