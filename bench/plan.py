"""The plan of a benchmark run: which servers are started, and what each is asked.

Decides only; starts nothing. A `Group` is one server started once and measured on
its steps (scenario, mode); `dnsd` groups depend on what `dnsd serve --help` offers.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.docker_target import docker_target
from bench.report import MAX, RATE, Report
from bench.targets import DnsdOptions, Target, dnsd_target, dnsmasq_target

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ("dnsd", "dnsmasq", "docker")
LOOKUP = "lookup"  # the scenario of the names-count runs


@dataclass(frozen=True)
class Options:
    seconds: float
    clients: int
    rate: int
    servers: tuple[str, ...]
    scenarios: tuple[str, ...]
    dnsd_command: tuple[str, ...]
    event_loops: tuple[str, ...]
    names: int
    server_cpu: int
    client_cpu: int
    results_dir: Path
    profile: bool = False
    syscalls: bool = False
    variants: tuple[str, ...] = ("",)  # extra dnsd arguments per dnsd group ("" = none)
    repeat: int = 1  # whole comparisons, one after another, same servers
    latency_runs: int = 3  # capped runs per server and scenario
    latency_seconds: float = 2.0
    realtime: bool = True  # SCHED_RR for server and dnsperf in the capped runs
    default_install: bool = False  # also dnsd from fresh `pip install .` venvs (see installs)


@dataclass(frozen=True)
class Group:
    """One server started once, then measured on its steps (scenario, mode)."""

    label: str
    start: Callable[[Path], contextlib.AbstractContextManager[Target]]
    steps: tuple[tuple[str, str], ...]
    names: int | None = None  # set for the lookup-cost / memory groups


def dnsd_help(opts: Options) -> str | None:
    """`dnsd serve --help` output, or None if dnsd cannot be started yet."""
    try:
        done = subprocess.run(
            [*opts.dnsd_command, "serve", "--help"],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 and "--records" in done.stdout else None


def event_loops(opts: Options, help_text: str, notes: list[str]) -> list[str | None]:
    if "--event-loop" not in help_text:
        notes.append("dnsd has no --event-loop flag; measured with its default loop only.")
        return [None]
    if opts.event_loops != ("auto",):
        return list(opts.event_loops)
    if importlib.util.find_spec("uvloop") is None:
        notes.append("uvloop is not installed; dnsd measured on asyncio only.")
        return ["asyncio"]
    return ["asyncio", "uvloop"]


def plan(
    opts: Options,
    report: Report,
    upstream: int | None,
    installs: tuple[tuple[str, tuple[str, ...]], ...] = (),
) -> list[Group]:
    """The groups to start; `installs` are extra dnsd rows as (label, command), each run with
    dnsd's defaults (no --event-loop, no other flags): what a plain install does."""
    steps = tuple((s, m) for s in opts.scenarios for m in (MAX, RATE))
    local = tuple(st for st in steps if st[0] != "forwarded" or upstream is not None)
    cpu = opts.server_cpu
    groups: list[Group] = []
    if "dnsmasq" in opts.servers:
        groups.append(Group("dnsmasq", lambda w: dnsmasq_target(w, cpu, upstream), local))
    if "docker" in opts.servers:
        groups.append(Group("Docker embedded DNS", lambda w: docker_target(w, cpu), steps))
    if "dnsd" in opts.servers:
        groups += dnsd_groups(opts, report, upstream, local)
        for label, command in installs:
            o = DnsdOptions(command, label, None, upstream_port=upstream)
            start = functools.partial(dnsd_target, cpu=opts.server_cpu, opts=o)
            groups.append(Group(label, start, local))
    return groups


def dnsd_groups(
    opts: Options, report: Report, upstream: int | None, steps: tuple[tuple[str, str], ...]
) -> list[Group]:
    help_text = dnsd_help(opts)
    if help_text is None:
        report.notes.append(f"`{' '.join(opts.dnsd_command)} serve --help` failed: dnsd skipped.")
        return []
    groups = []
    for loop in event_loops(opts, help_text, report.notes):
        for variant in opts.variants:
            label = ", ".join(x for x in (loop, variant) if x)
            label = f"dnsd ({label})" if label else "dnsd"
            extra = tuple(variant.split())
            o = DnsdOptions(
                opts.dnsd_command, label, loop, upstream_port=upstream, extra_args=extra
            )
            start = functools.partial(dnsd_target, cpu=opts.server_cpu, opts=o)
            groups.append(Group(label, start, steps))
    loop = "uvloop" if "uvloop" in opts.event_loops or opts.event_loops == ("auto",) else None
    loop = loop if "--event-loop" in help_text and importlib.util.find_spec("uvloop") else None
    for count in sorted({10, opts.names}):
        label = f"dnsd {count:,} names" + (f" ({loop})" if loop else "")
        o = DnsdOptions(opts.dnsd_command, label, loop, many_names=count)
        start = functools.partial(dnsd_target, cpu=opts.server_cpu, opts=o)
        groups.append(Group(label, start, ((LOOKUP, MAX),), names=count))
    return groups
