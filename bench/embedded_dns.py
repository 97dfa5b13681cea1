"""What a client container gets from Docker's resolver 127.0.0.11 vs from dnsd.

`python -m bench.embedded_dns` (root). On a new user-defined network with `dnsd serve` on
its gateway:53, three replicas share the network alias (and Compose service) `web`; one
fails its health check. A socket inside a client container's network namespace (whose
`--dns` is dnsd) asks 127.0.0.11, as the container's own resolver does, for `web` and for
`web.docker` 30 times each, and prints a table: TTL, which replicas come back, how often
each leads the answer. Not a test; removes everything it made.
"""

from __future__ import annotations

import argparse
import collections
import socket
import subprocess
import time
import uuid

from dnslib import QTYPE, DNSRecord

from bench.propagation import CMD, IMAGE, docker
from bench.propagation_container import EMBEDDED_DNS, client_network, socket_in_netns

QUERIES = 30


def ask(sock: socket.socket, name: str) -> tuple[int, list[str]]:
    """(TTL, addresses in answer order) for an A query sent to 127.0.0.11."""
    query = DNSRecord.question(name, "A")
    sock.sendto(query.pack(), EMBEDDED_DNS)
    reply = DNSRecord.parse(sock.recv(4096))
    records = [r for r in reply.rr if r.rtype == QTYPE.A]
    return (records[0].ttl if records else 0), [str(r.rdata) for r in records]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=QUERIES)
    args = parser.parse_args(argv)
    with client_network() as (net, _gateway, pid), socket_in_netns(pid) as sock:
        sock.settimeout(2)
        tag = uuid.uuid4().hex[:6]
        names = []
        try:
            health = {"ok": "true", "bad": "false"}
            for label, check in (("a", "ok"), ("b", "ok"), ("c", "bad")):
                name = f"dnsdbench-{tag}-web-{label}"
                names.append(name)
                docker("run", "-d", "--name", name, "--network", net, "--network-alias", "web",
                       "--label", "com.docker.compose.service=web", "--health-cmd", health[check],
                       "--health-interval", "1s", "--health-retries", "1", IMAGE, *CMD)  # fmt: skip
            time.sleep(4)  # health checks settle
            ips = {
                docker_ip(n, net): ("unhealthy" if n.endswith("-c") else "healthy") for n in names
            }
            print(table(sock, ips, args.queries))
        finally:
            if names:
                docker("rm", "-f", *names)
    return 0


def docker_ip(name: str, net: str) -> str:
    fmt = f'{{{{(index .NetworkSettings.Networks "{net}").IPAddress}}}}'
    return subprocess.run(
        ["docker", "inspect", "-f", fmt, name], capture_output=True, text=True, check=True
    ).stdout.strip()


def table(sock: socket.socket, ips: dict[str, str], queries: int) -> str:
    rows = [
        f"3 replicas of `web` (1 unhealthy), asked {queries} times through 127.0.0.11",
        "",
        "| name asked | answered by | TTL | replicas returned | unhealthy one returned "
        "| distinct first addresses |",
        "|---|---|---:|---:|---|---:|",
    ]
    for name, who in (("web.", "Docker's embedded DNS"), ("web.docker.", "dnsd (forwarded)")):
        ttls: set[int] = set()
        seen: set[str] = set()
        firsts: collections.Counter[str] = collections.Counter()
        for _ in range(queries):
            ttl, addresses = ask(sock, name)
            ttls.add(ttl)
            seen.update(addresses)
            if addresses:
                firsts[addresses[0]] += 1
        unhealthy = any(ips.get(ip) == "unhealthy" for ip in seen)
        ttl_text = "/".join(str(t) for t in sorted(ttls))
        rows.append(
            f"| `{name.rstrip('.')}` | {who} | {ttl_text} | {len(seen)} of 3 "
            f"| {'yes' if unhealthy else 'no'} | {len(firsts)} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    raise SystemExit(main())
