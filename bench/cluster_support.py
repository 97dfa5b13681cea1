"""What the cluster benchmarks share: a dnsd node process, a UDP lookup, a poll loop, a
summary row, and a throwaway three-member etcd cluster. Starts only what callers ask for.

A node runs from compiled bytecode, as an installed dnsd does (`pip install` compiles it):
the project's packages are compiled once before the first node starts. Without that, under
PYTHONDONTWRITEBYTECODE (set here) every node would compile each module from source first.
"""

from __future__ import annotations

import compileall
import functools
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnslib import QTYPE, RCODE, DNSRecord

from tests.cluster.etcd_cluster import EtcdCluster
from tests.serve_process import free_port, stop_process

ZONE = "bench"
DEADLINE = 10.0
ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dnsd", "registry", "watchers")


@dataclass
class Node:
    process: subprocess.Popen[bytes]
    dns_port: int
    http_port: int

    def health(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.http_port}/health"
        with urllib.request.urlopen(url, timeout=5) as response:
            return dict(json.load(response))


@functools.cache
def compile_packages(root: Path = ROOT) -> None:
    """Write the bytecode a node loads from `root` (once per tree and benchmark run; up to
    date ones are kept)."""
    compiled = all(compileall.compile_dir(root / p, quiet=1) for p in PACKAGES)
    state = "compiled bytecode" if compiled else "partly from source (compileall failed)"
    print(f"dnsd nodes run from {state}: {', '.join(PACKAGES)}", flush=True)


@contextmanager
def dnsd(name: str, etcd: str, *args: str) -> Iterator[Node]:
    compile_packages()
    dns_port, http_port = free_port(), free_port()
    argv = [sys.executable, "-m", "dnsd", "serve", "--dns-listen", f"127.0.0.1:{dns_port}",
            "--http-listen", f"127.0.0.1:{http_port}", "--upstream", f"127.0.0.1:{free_port()}",
            "--domain", ZONE, "--node", name, "--advertise-ip", "127.0.0.1", "--cluster-etcd", etcd,
            "--log-level", "warning", *args]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield Node(process, dns_port, http_port)
    finally:
        stop_process(process, 5)


def addresses(port: int, name: str) -> list[str] | None:
    """A records of `name` from dnsd on `port`; None for NXDOMAIN or no reply."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        sock.sendto(DNSRecord.question(f"{name}.{ZONE}.", "A").pack(), ("127.0.0.1", port))
        try:
            reply = DNSRecord.parse(sock.recv(4096))
        except OSError:
            return None
    if reply.header.rcode != RCODE.NOERROR:
        return None
    return [str(r.rdata) for r in reply.rr if r.rtype == QTYPE.A]


def until(check: Callable[[], bool], deadline: float = DEADLINE, every: float = 0.0005) -> float:
    start = time.perf_counter()
    while not check():
        if time.perf_counter() - start > deadline:
            return deadline
        time.sleep(every)
    return time.perf_counter() - start


def summary(label: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return f"| {label} | {len(ms)} | {statistics.median(ms):.1f} | {ms[-1]:.1f} |"


@contextmanager
def etcd_cluster() -> Iterator[EtcdCluster]:
    with tempfile.TemporaryDirectory(prefix="dnsd-bench-etcd-") as root:
        cluster = EtcdCluster(Path(root))
        try:
            cluster.start()
            cluster.wait_healthy()
            yield cluster
        finally:
            cluster.stop()
