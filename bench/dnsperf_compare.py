"""The benchmark command: plan the runs, start each server, drive dnsperf, report.

`python -m bench [--quick]` measures dnsd, dnsmasq and Docker's embedded DNS on the
same workloads and prints a Markdown table; JSON goes to bench/results/. Owns the
order of things and the progress lines; what runs is decided in `plan`, how servers
start lives in `targets` and `docker_target`, the numbers' rendering in `report`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import platform
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from bench import dnsperf, procfs, profile, scenarios, syscalls
from bench.plan import LOOKUP, ROOT, SERVERS, Group, Options, plan
from bench.processes import free_port, wait_answering
from bench.report import MAX, RATE, WARMUP, MemoryResult, Report, RunResult, markdown, write_json
from bench.targets import Target, stub_upstream


def parse_args(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--seconds", type=float, default=10.0, help="length of each run (default 10)")
    p.add_argument("--quick", action="store_true", help="2 s runs, for development")
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
    return Options(
        seconds=2.0 if a.quick else a.seconds,
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


def query_lines(target: Target, scenario: str, names: int | None) -> list[str]:
    if scenario == LOOKUP and names is not None:
        return scenarios.many_query_lines(names)
    return scenarios.query_lines(scenario, target.spelling)


def forwarding_works(target: Target, workdir: Path, opts: Options) -> bool:
    """Ask every forwarded name once (this also fills the cache); True if all answered."""
    probe = scenarios.write(
        workdir, f"probe-fwd-{target.port}.txt", scenarios.query_lines("forwarded", target.spelling)
    )
    load = dnsperf.Load(target.server, target.port, probe, 1, netns_pid=target.netns_pid)
    try:
        wait_answering(load, len(scenarios.FORWARDED), deadline_s=5)
    except RuntimeError:
        return False
    return True


def measure(
    target: Target, lines: list[str], scenario: str, mode: str, opts: Options, workdir: Path
) -> RunResult:
    qfile = scenarios.write(workdir, f"q-{target.port}-{scenario}.txt", lines)
    load = dnsperf.Load(
        target.server,
        target.port,
        qfile,
        opts.seconds if mode != WARMUP else 120,
        opts.clients,
        opts.rate if mode == RATE else None,
        target.netns_pid,
        opts.client_cpu,
        passes=1 if mode == WARMUP else None,
    )
    # dnsd --workers N: its worker processes count too (dockerd's children are not the server)
    cpu = procfs.family_cpu_seconds if target.kind == "dnsd" else procfs.cpu_seconds
    pids = procfs.family(target.cpu_pid) if target.kind == "dnsd" else [target.cpu_pid]
    counter = syscalls.counting(pids) if opts.syscalls and mode == MAX else None
    with counter or contextlib.nullcontext() as count:
        before = cpu(target.cpu_pid)
        result = dnsperf.run(dnsperf.command(load), timeout=opts.seconds + 60)
        spent = cpu(target.cpu_pid) - before
    calls = count.calls if count is not None else None
    return RunResult(target.label, target.kind, scenario, mode, result, spent, calls)


def profiled(
    target: Target, lines: list[str], scenario: str, opts: Options, workdir: Path
) -> profile.ProfileResult:
    """One more full-rate run (not reported) while py-spy samples the server."""
    out_dir = opts.results_dir / "profiles"
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.]+", "-", target.label).strip("-")
    raw = out_dir / f"{stem}-{scenario}.txt"
    sampler = profile.start(target.cpu_pid, opts.seconds, raw)
    measure(target, lines, scenario, MAX, opts, workdir)
    sampler.wait(timeout=opts.seconds + 60)
    frames = tuple(profile.top_frames(raw)) if raw.exists() else ()
    return profile.ProfileResult(target.label, scenario, frames, str(raw))


def progress(text: str, end: str = "\n") -> None:
    print(text, end=end, file=sys.stderr, flush=True)


FAULTS = (RuntimeError, OSError, subprocess.SubprocessError)


@dataclass
class Running:
    """A started server and what its runs have found so far."""

    group: Group
    target: Target
    rss_start: int
    forwarding: bool | None = None
    last: RunResult | None = None
    cold: RunResult | None = None


def start_all(
    groups: list[Group], stack: contextlib.ExitStack, workdir: Path, report: Report
) -> list[Running]:
    """Start every server up front; one that cannot start becomes a note."""
    running = []
    for group in groups:
        progress(f"starting {group.label} ...")
        try:
            target = stack.enter_context(group.start(workdir))
        except FAULTS as exc:
            failed(report, group.label, exc)
            continue
        running.append(Running(group, target, procfs.rss_kib(target.cpu_pid)))
    return running


def interleaved(running: list[Running]) -> list[tuple[Running, str, str]]:
    """All steps, scenario by scenario and server by server within each, so that a change in
    the machine's load during the benchmark affects every server alike."""
    order = dict.fromkeys(step for r in running for step in r.group.steps)
    return [(r, s, m) for (s, m) in order for r in running if (s, m) in r.group.steps]


def run_step(
    r: Running, scenario: str, mode: str, opts: Options, workdir: Path, report: Report
) -> str:
    """One measured run (after a warm-up pass at full rate); returns the progress text."""
    target = r.target
    if scenario == "forwarded":
        if r.forwarding is None:
            r.forwarding = forwarding_works(target, workdir, opts)
            if not r.forwarding:
                report.notes.append(
                    f"{target.label}: forwarded names were not answered; that scenario is skipped."
                )
        if not r.forwarding:
            return "skipped (forwarded names not answered)"
    lines = query_lines(target, scenario, r.group.names)
    if mode == MAX:  # answer every name once first: measure the steady state
        r.cold = measure(target, lines, scenario, WARMUP, opts, workdir)
    r.last = measure(target, lines, scenario, mode, opts, workdir)
    report.runs.append(r.last)
    if opts.profile and mode == MAX and target.kind == "dnsd":
        report.profiles.append(profiled(target, lines, scenario, opts, workdir))
    return (
        f"{r.last.dnsperf.qps:,.0f} q/s, {r.last.cpu_us_per_query or 0:.1f} µs/query, "
        f"avg {r.last.dnsperf.avg_latency_s * 1e3:.3f} ms"
    )


def run_all(running: list[Running], opts: Options, workdir: Path, report: Report) -> None:
    steps = interleaved(running)
    for number, (r, scenario, mode) in enumerate(steps, 1):
        what = "max rate" if mode == MAX else f"{opts.rate:,} q/s"
        progress(
            f"[{number}/{len(steps)}] {r.group.label} {scenario} ({what}): {opts.seconds:g} s ... ",
            end="",
        )
        try:
            progress(run_step(r, scenario, mode, opts, workdir, report))
        except FAULTS as exc:
            progress("failed")
            failed(report, f"{r.group.label} {scenario} ({what})", exc)
    for r in running:
        if r.group.names is not None:
            rss_end = procfs.rss_kib(r.target.cpu_pid)
            report.memory.append(
                MemoryResult(r.group.label, r.group.names, r.rss_start, rss_end, r.last, r.cold)
            )


def failed(report: Report, what: str, exc: BaseException) -> None:
    progress(f"{what} failed: {exc}")
    report.notes.append(f"{what} failed: {str(exc).splitlines()[0]}")


def _terminate(signum: int, _frame: object) -> NoReturn:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _terminate)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report = Report(
        meta={
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "seconds": opts.seconds,
            "clients": opts.clients,
            "rate": opts.rate,
            "server_cpu": opts.server_cpu,
            "client_cpu": opts.client_cpu,
            "command": " ".join(["python -m bench", *sys.argv[1:]]),
            "host": f"{platform.node()}, {platform.processor() or platform.machine()}, "
            f"Linux {platform.release()}",
            "load_start": procfs.load_average(),
        }
    )
    if opts.profile and not profile.available():
        report.notes.append("--profile: py-spy is not installed (pip install py-spy); no profiles.")
        opts = dataclasses.replace(opts, profile=False)
    if opts.syscalls and not syscalls.available():
        report.notes.append("--syscalls: perf cannot count raw_syscalls:sys_enter here.")
        opts = dataclasses.replace(opts, syscalls=False)
    with tempfile.TemporaryDirectory(prefix="dnsd-bench-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        upstream = None
        if "forwarded" in opts.scenarios:
            upstream = stack.enter_context(stub_upstream(workdir, "127.0.0.1", free_port()))
        running = start_all(plan(opts, report, upstream), stack, workdir, report)
        run_all(running, opts, workdir, report)
    report.meta["load_end"] = procfs.load_average()
    titles = {s.key: s.title for s in scenarios.SCENARIOS if s.key in opts.scenarios}
    print(markdown(report, titles))
    progress(f"JSON: {write_json(report, opts.results_dir, stamp)}")
    return 0
