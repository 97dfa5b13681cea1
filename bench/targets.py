"""The servers under test on loopback (dnsd, dnsmasq) and the stub upstream, as `Target`s.

Each is a context manager: it writes its input files into the given work directory,
starts the server pinned to the server core, waits until it answers, yields how to
reach and measure it, and stops it. Docker's embedded DNS lives in `docker_target`.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import dnsperf, scenarios
from bench.processes import free_port, running, wait_answering
from bench.scenarios import Spelling

DNSMASQ = "/usr/sbin/dnsmasq"


@dataclass(frozen=True)
class Target:
    """A running server: where dnsperf sends, whose CPU counts, how it spells local names."""

    label: str
    kind: str  # "dnsd", "dnsmasq" or "docker"
    server: str
    port: int
    cpu_pid: int
    spelling: Spelling
    forwarding: bool
    netns_pid: int | None = None


def dnsmasq_argv(listen: str, port: int, hosts: Path, upstream_port: int | None) -> list[str]:
    """dnsmasq authoritative for the zone (NXDOMAIN for unknown names), forwarding the rest."""
    argv = [
        DNSMASQ,
        "--no-daemon",
        "--port",
        str(port),
        "--listen-address",
        listen,
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--addn-hosts",
        str(hosts),
        f"--local=/{scenarios.ZONE}/",
        "--local-ttl=3600",
        "--user=root",
        "--log-facility=-",
    ]
    if upstream_port is not None:
        argv.append(f"--server=127.0.0.1#{upstream_port}")
    return argv


@contextlib.contextmanager
def stub_upstream(workdir: Path, listen: str, port: int) -> Iterator[int]:
    """dnsmasq answering the forwarded names (TTL 3600) and NXDOMAIN in the zone; yields port."""
    hosts = scenarios.write(workdir, f"upstream-{listen}.hosts", scenarios.upstream_hosts())
    log = workdir / f"upstream-{listen}.log"
    with running(dnsmasq_argv(listen, port, hosts, None), log, cpu=None) as proc:
        probe = scenarios.write(workdir, "probe-upstream.txt", [f"{scenarios.FORWARDED[0]} A"])
        wait_answering(dnsperf.Load(listen, port, probe, 1), 1, proc=proc, log=log)
        yield port


@contextlib.contextmanager
def dnsmasq_target(workdir: Path, cpu: int, upstream_port: int | None) -> Iterator[Target]:
    hosts = scenarios.write(workdir, "dnsmasq.hosts", scenarios.local_hosts(Spelling.ZONE))
    port = free_port()
    log = workdir / "dnsmasq.log"
    with running(dnsmasq_argv("127.0.0.1", port, hosts, upstream_port), log, cpu) as proc:
        yield _ready(
            Target(
                "dnsmasq",
                "dnsmasq",
                "127.0.0.1",
                port,
                proc.pid,
                Spelling.ZONE,
                upstream_port is not None,
            ),
            workdir,
            proc,
            log,
        )


@dataclass(frozen=True)
class DnsdOptions:
    """How to start one dnsd: its command, event loop choice, names and upstream."""

    command: tuple[str, ...]
    label: str = "dnsd"
    event_loop: str | None = None  # passed as --event-loop when set
    many_names: int = 0
    upstream_port: int | None = None
    extra_args: tuple[str, ...] = ()


def dnsd_argv(opts: DnsdOptions, records: Path, port: int) -> list[str]:
    argv = [
        *opts.command,
        "serve",
        "--no-docker",
        "--records",
        str(records),
        "--dns-listen",
        f"127.0.0.1:{port}",
        "--http-listen",
        "off",
        *opts.extra_args,
    ]
    if opts.event_loop:
        argv += ["--event-loop", opts.event_loop]
    if opts.upstream_port is not None:
        argv += ["--upstream", f"127.0.0.1:{opts.upstream_port}"]
    return argv


@contextlib.contextmanager
def dnsd_target(workdir: Path, cpu: int, opts: DnsdOptions) -> Iterator[Target]:
    stem = opts.label.replace(" ", "-").replace("(", "").replace(")", "")
    lines = scenarios.local_hosts(Spelling.ZONE, many=opts.many_names)
    records = scenarios.write(workdir, f"{stem}.records", lines)
    port = free_port()
    log = workdir / f"{stem}.log"
    with running(dnsd_argv(opts, records, port), log, cpu) as proc:
        target = Target(
            opts.label,
            "dnsd",
            "127.0.0.1",
            port,
            proc.pid,
            Spelling.ZONE,
            opts.upstream_port is not None,
        )
        yield _ready(target, workdir, proc, log)


def _ready(target: Target, workdir: Path, proc: subprocess.Popen[bytes], log: Path) -> Target:
    probe = scenarios.write(
        workdir, f"probe-{target.port}.txt", scenarios.query_lines("single", target.spelling)
    )
    wait_answering(dnsperf.Load(target.server, target.port, probe, 1), 1, proc=proc, log=log)
    return target
