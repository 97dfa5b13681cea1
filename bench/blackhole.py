"""Upstream outage benchmark (issue 9 items 3, 12, 16): distinct forwarded names flood dnsd while
its only upstream is black-holed; measure local-answer latency, descriptors and forward deadlines.

    python -m bench.blackhole [--seconds 10] [--rate 1700] [--nofile 1024] [--event-loop uvloop]

Starts `dnsd serve --no-docker` (under `prlimit --nofile=N:N`) with a silent UDP socket on
loopback as its upstream, sends RATE unique names per second for SECONDS, asks a local name
every 20 ms and GET /health every 200 ms meanwhile, and samples the process's descriptors. After
the flood it waits for the deadline to pass and counts descriptors again (a leak stays). Prints
one JSON object. Traffic goes only to loopback. Not a test: figures go to the README.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import dns.message
import dns.query
from dnslib import DNSRecord

from bench.processes import free_port, running, stop
from bench.procfs import cpu_seconds, rss_kib

DEADLINE = 3.0


def descriptors(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def flood(target: tuple[str, int], rate: int, seconds: float, out: dict[str, object]) -> None:
    """Send `rate` unique names a second; record when each SERVFAIL came relative to its send."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sent: dict[int, float] = {}
    delays: list[float] = []

    def receive() -> None:
        sock.settimeout(DEADLINE + 2.0)
        while True:
            try:
                data = sock.recv(4096)
            except OSError:
                return
            started = sent.get(int.from_bytes(data[:2], "big"))
            if started is not None and data[3] & 0x0F == 2:
                delays.append(time.monotonic() - started)

    reader = threading.Thread(target=receive, daemon=True)
    reader.start()
    start, n = time.monotonic(), 0
    while (elapsed := time.monotonic() - start) < seconds:
        while n < elapsed * rate:
            qid = n % 65536
            packet = DNSRecord.question(f"n{n}-{os.getpid()}.outage.example", "A")
            packet.header.id = qid
            sent[qid] = time.monotonic()
            sock.sendto(bytes(packet.pack()), target)
            n += 1
        time.sleep(0.002)
    reader.join()
    sock.close()
    late = [d - DEADLINE for d in delays if d >= 0.5]
    out.update(sent=n, servfail=len(delays), immediate=len(delays) - len(late),
               at_deadline=len(late), max_late_s=round(max(late, default=0.0), 3))  # fmt: skip


def wait_answering(target: tuple[str, int]) -> None:
    query = dns.message.make_query("docker.", "SOA")
    for _ in range(100):
        try:
            dns.query.udp(query, target[0], port=target[1], timeout=0.2)
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError("dnsd did not answer")


def probe_local(target: tuple[str, int], stop_at: float, latencies: list[float]) -> None:
    query = dns.message.make_query("docker.", "SOA")
    while time.monotonic() < stop_at:
        started = time.monotonic()
        try:
            dns.query.udp(query, target[0], port=target[1], timeout=5)
            latencies.append(time.monotonic() - started)
        except Exception:
            latencies.append(5.0)
        time.sleep(0.02)


def probe_health(url: str, stop_at: float, failures: list[str]) -> None:
    while time.monotonic() < stop_at:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                response.read()
        except Exception as exc:
            failures.append(type(exc).__name__)
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.blackhole")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=1700)
    parser.add_argument("--nofile", type=int, default=1024)
    parser.add_argument("--event-loop", default="uvloop")
    args = parser.parse_args(argv)
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    port, http = free_port(), free_port()
    target = ("127.0.0.1", port)
    command = ["prlimit", f"--nofile={args.nofile}:{args.nofile}", "--", sys.executable, "-m",
               "dnsd", "serve", "--no-docker", "--dns-listen", f"127.0.0.1:{port}",
               "--http-listen", f"127.0.0.1:{http}", "--event-loop", args.event_loop,
               "--upstream", f"127.0.0.1:{silent.getsockname()[1]}"]  # fmt: skip
    log = Path(tempfile.mkdtemp(prefix="dnsd-blackhole-")) / "dnsd.log"
    with running(command, log, cpu=None) as proc:
        pid = proc.pid  # prlimit execs dnsd
        wait_answering(target)
        cpu_before = cpu_seconds(pid)
        before = descriptors(pid)
        result: dict[str, object] = {"event_loop": args.event_loop, "nofile": args.nofile,
                                     "rate": args.rate, "seconds": args.seconds}  # fmt: skip
        local: list[float] = []
        health: list[str] = []
        stop_at = time.monotonic() + args.seconds
        health_url = f"http://127.0.0.1:{http}/health"
        workers = [
            threading.Thread(target=flood, args=(target, args.rate, args.seconds, result)),
            threading.Thread(target=probe_local, args=(target, stop_at, local)),
            threading.Thread(target=probe_health, args=(health_url, stop_at, health)),
        ]  # fmt: skip
        for worker in workers:
            worker.start()
        peak_fds, peak_rss = before, rss_kib(pid)
        while workers[0].is_alive():
            peak_fds, peak_rss = max(peak_fds, descriptors(pid)), max(peak_rss, rss_kib(pid))
            time.sleep(0.1)
        for worker in workers:
            worker.join()
        time.sleep(DEADLINE + 1.0)
        local.sort()
        result.update(
            fds_before=before, fds_peak=peak_fds, fds_after=descriptors(pid),
            rss_peak_mib=round(peak_rss / 1024, 1), local_queries=len(local),
            cpu_s=round(cpu_seconds(pid) - cpu_before, 2),
            local_p50_ms=round(statistics.median(local) * 1000, 2),
            local_p99_ms=round(local[int(len(local) * 0.99) - 1] * 1000, 2),
            local_max_ms=round(local[-1] * 1000, 2), health_failures=len(health),
            too_many_open_files="Too many open files" in log.read_text(errors="replace"),
        )  # fmt: skip
        stop(proc)
    silent.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
