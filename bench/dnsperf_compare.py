"""The benchmark command: plan the runs, start each server, drive dnsperf, report.

`python -m bench [--quick]` measures dnsd, dnsmasq and Docker's embedded DNS on the
same workloads and prints a Markdown table; JSON goes to bench/results/. Owns the
order of things and the progress lines; what runs is decided in `plan`, how servers
start lives in `targets` and `docker_target`, the numbers' rendering in `report`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from bench import dnsperf, installs, procfs, profile, repeat, scenarios, syscalls
from bench.dnsperf_args import parse_args
from bench.plan import LOOKUP, Group, Options, plan
from bench.processes import free_port, wait_answering
from bench.report import MAX, RATE, WARMUP, MemoryResult, Report, RunResult, markdown, write_json
from bench.targets import Target, stub_upstream


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
    seconds = {WARMUP: 120, RATE: opts.latency_seconds}.get(mode, opts.seconds)
    load = dnsperf.Load(
        target.server,
        target.port,
        qfile,
        seconds,
        opts.clients,
        opts.rate if mode == RATE else None,
        target.netns_pid,
        opts.client_cpu,
        passes=1 if mode == WARMUP else None,
        verbose=mode == RATE,  # per-query latencies, for percentiles
        realtime=REALTIME_PRIORITY if mode == RATE and opts.realtime else None,
    )
    output = workdir / f"latencies-{target.port}.txt" if mode == RATE else None
    # dnsd --workers N: its worker processes count too (dockerd's children are not the server)
    cpu = procfs.family_cpu_seconds if target.kind == "dnsd" else procfs.cpu_seconds
    pids = procfs.family(target.cpu_pid) if target.kind == "dnsd" else [target.cpu_pid]
    counter = syscalls.counting(pids) if opts.syscalls and mode == MAX else None
    cores = [opts.server_cpu, opts.client_cpu]
    rr = procfs.realtime(pids, REALTIME_PRIORITY) if load.realtime else None
    with counter or contextlib.nullcontext() as count, rr or contextlib.nullcontext():
        before, ticks = cpu(target.cpu_pid), procfs.cpu_ticks()
        # a capped run ends after its seconds plus dnsperf's 2 s timeout; a hung one is killed
        limit = seconds + (15 if mode == RATE else 60)
        result = dnsperf.run(dnsperf.command(load), timeout=limit, output=output)
        spent = cpu(target.cpu_pid) - before
        steal = procfs.steal_share(ticks, procfs.cpu_ticks(), cores)
    if output is not None:
        output.unlink(missing_ok=True)
    calls = count.calls if count is not None else None
    return RunResult(target.label, target.kind, scenario, mode, result, spent, calls, steal)


def profiled(
    target: Target, lines: list[str], scenario: str, opts: Options, workdir: Path
) -> list[profile.ProfileResult]:
    """One more full-rate run (not reported) while perf (every server) and py-spy (dnsd)
    sample the server."""
    out_dir = opts.results_dir / "profiles"
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.]+", "-", target.label).strip("-")
    raw, data = out_dir / f"{stem}-{scenario}.txt", out_dir / f"{stem}-{scenario}.perf.data"
    py = target.kind == "dnsd" and profile.available()
    samplers = [profile.start(target.cpu_pid, opts.seconds, raw)] if py else []
    if profile.perf_available():
        samplers.append(profile.start_perf(procfs.family(target.cpu_pid), opts.seconds, data))
    measure(target, lines, scenario, MAX, opts, workdir)
    for sampler in samplers:
        sampler.wait(timeout=opts.seconds + 60)
    found = []
    if py and raw.exists():
        found.append(
            profile.ProfileResult(target.label, scenario, tuple(profile.top_frames(raw)), str(raw))
        )
    if data.exists():
        frames = tuple(profile.perf_frames(data))
        found.append(profile.ProfileResult(target.label, scenario, frames, str(data), "perf"))
    return found


def progress(text: str, end: str = "\n") -> None:
    print(text, end=end, file=sys.stderr, flush=True)


SETTLE_S = 0.5
REALTIME_PRIORITY = 10  # SCHED_RR priority of server and dnsperf in the capped runs
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


def interleaved(running: list[Running], latency_runs: int = 1) -> list[tuple[Running, str, str]]:
    """All steps, scenario by scenario and server by server within each, so that a change in
    the machine's load during the benchmark affects every server alike; each capped step
    `latency_runs` times, every server once per round."""
    order = dict.fromkeys(step for r in running for step in r.group.steps)
    rounds = [[(s, m)] * (latency_runs if m == RATE else 1) for (s, m) in order]
    steps = [step for repeated in rounds for step in repeated]
    return [(r, s, m) for (s, m) in steps for r in running if (s, m) in r.group.steps]


def run_step(
    r: Running,
    scenario: str,
    mode: str,
    opts: Options,
    workdir: Path,
    report: Report,
    profiling: bool = True,
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
    if mode == RATE:  # let the previous full-rate run's backlog drain first
        time.sleep(SETTLE_S)
    if mode == MAX:  # answer every name once first: measure the steady state
        r.cold = measure(target, lines, scenario, WARMUP, opts, workdir)
    r.last = measure(target, lines, scenario, mode, opts, workdir)
    report.runs.append(r.last)
    if opts.profile and mode == MAX and target.kind in ("dnsd", "dnsmasq") and profiling:
        report.profiles += profiled(target, lines, scenario, opts, workdir)
    return (
        f"{r.last.dnsperf.qps:,.0f} q/s, {r.last.cpu_us_per_query or 0:.1f} µs/query, "
        f"avg {r.last.dnsperf.avg_latency_s * 1e3:.3f} ms"
    )


def run_all(
    running: list[Running], opts: Options, workdir: Path, report: Report, profiling: bool = True
) -> None:
    steps = interleaved(running, opts.latency_runs)
    for number, (r, scenario, mode) in enumerate(steps, 1):
        what = "max rate" if mode == MAX else f"{opts.rate:,} q/s"
        seconds = opts.seconds if mode == MAX else opts.latency_seconds
        progress(
            f"[{number}/{len(steps)}] {r.group.label} {scenario} ({what}): {seconds:g} s ... ",
            end="",
        )
        try:
            progress(run_step(r, scenario, mode, opts, workdir, report, profiling))
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


def run_meta(opts: Options, number: int) -> dict[str, object]:
    return {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "run": f"{number} of {opts.repeat}",
        "seconds": opts.seconds,
        "latency_runs": opts.latency_runs,
        "latency_seconds": opts.latency_seconds,
        "realtime": opts.realtime,
        "clients": opts.clients,
        "rate": opts.rate,
        "server_cpu": opts.server_cpu,
        "client_cpu": opts.client_cpu,
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        "host": f"{platform.node()}, {platform.processor() or platform.machine()}, "
        f"Linux {platform.release()}",
        "load_start": procfs.load_average(),
    }


def fresh_installs(
    opts: Options, workdir: Path, notes: list[str]
) -> list[tuple[str, tuple[str, ...]]]:
    """`--default-install`: dnsd from fresh venvs (see `installs`), as (label, command)."""
    if not opts.default_install or "dnsd" not in opts.servers:
        return []
    progress("building fresh venvs with `pip install .` (about a minute) ...")
    try:
        built = installs.build(workdir)
    except FAULTS as exc:
        notes.append(f"--default-install failed: {str(exc).splitlines()[0]}")
        return []
    for i in built:
        state = "built" if i.c_extension else "not built (one datagram per system call)"
        notes.append(f"{i.label}: no extras, no flags; C extension {state}.")
    return [(i.label, i.command) for i in built]


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _terminate)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    setup = Report(meta={})
    if opts.profile and not profile.available():
        setup.notes.append("--profile: py-spy is not installed (pip install py-spy).")
    if opts.profile and not profile.perf_available():
        setup.notes.append("--profile: `perf record` does not work here; no perf profiles.")
    if opts.syscalls and not syscalls.available():
        setup.notes.append("--syscalls: perf cannot count raw_syscalls:sys_enter here.")
        opts = dataclasses.replace(opts, syscalls=False)
    titles = {s.key: s.title for s in scenarios.SCENARIOS if s.key in opts.scenarios}
    rounds: list[Report] = []
    texts: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dnsd-bench-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        extra = fresh_installs(opts, workdir, setup.notes)
        upstream = None
        if "forwarded" in opts.scenarios:
            upstream = stack.enter_context(stub_upstream(workdir, "127.0.0.1", free_port()))
        running = start_all(plan(opts, setup, upstream, tuple(extra)), stack, workdir, setup)
        for number in range(1, opts.repeat + 1):
            if opts.repeat > 1:
                progress(f"== run {number} of {opts.repeat} ==")
            report = Report(meta=run_meta(opts, number), notes=list(setup.notes))
            ticks = procfs.cpu_ticks()
            run_all(running, opts, workdir, report, profiling=number == 1)
            report.meta["load_end"] = procfs.load_average()
            report.meta["steal"] = procfs.steal_share(ticks, procfs.cpu_ticks())
            texts.append(markdown(report, titles))
            print(texts[-1], flush=True)
            suffix = f"-run{number}" if opts.repeat > 1 else ""
            progress(f"JSON: {write_json(report, opts.results_dir, stamp + suffix)}")
            rounds.append(report)
    if opts.repeat > 1:
        texts.append(repeat.markdown(rounds, titles))
        print(texts[-1])
    out = opts.results_dir / f"dnsperf-{stamp}.md"
    out.write_text("\n".join(texts))
    progress(f"Markdown: {out}")
    return 0
