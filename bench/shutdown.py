"""How long `dnsd serve` takes to exit on SIGTERM after a run with forwarded traffic.

`python -m bench.shutdown [--seconds 120]` starts a loopback dnsmasq as the upstream (it answers
`*.example.org`, and NXDOMAIN for the rest), `dnsd serve` on loopback ports forwarding to it, sends
distinct names over UDP (every tenth over TCP, and an HTTP /metrics scrape every 200 queries)
for the given time so the caches fill, then SIGTERM, and prints the time until the process has
exited. Not a test; traffic stays on loopback; stops what it starts.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request

import dns.exception
import dns.message
import dns.query

from bench.propagation import free_port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    upstream_port, port, http = free_port(), free_port(), free_port()
    upstream = subprocess.Popen(
        ["dnsmasq", "-k", "--no-resolv", "--no-hosts", "-p", str(upstream_port),
         "--listen-address=127.0.0.1", "--bind-interfaces", "--address=/example.org/192.0.2.1",
         "--address=/#/", "--log-facility=/dev/null", "--pid-file=", "--user=root"],
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSD_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "dnsd", "serve", "--dns-listen", f"127.0.0.1:{port}",
         "--http-listen", f"127.0.0.1:{http}", "--upstream", f"127.0.0.1:{upstream_port}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(2)
        if upstream.poll() is not None or server.poll() is not None:
            raise SystemExit("dnsmasq or dnsd did not start (a port was taken); run it again")
        sent = traffic(port, http, args.seconds)
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        status = server.wait(timeout=30)
        print(f"{sent} queries in {args.seconds:.0f} s; SIGTERM -> exit {status} in "
              f"{time.monotonic() - started:.3f} s")  # fmt: skip
    finally:
        for process in (server, upstream):
            if process.poll() is None:
                process.kill()
            process.wait()
    return 0


def traffic(port: int, http: int, seconds: float) -> int:
    end = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < end:
        zone = "example.org" if random.random() < 0.5 else "example.com"
        query = dns.message.make_query(f"h{random.randrange(10**6)}.{zone}", "A")
        try:
            ask = dns.query.tcp if sent % 10 == 0 else dns.query.udp
            ask(query, "127.0.0.1", port=port, timeout=2)
            if sent % 200 == 0:
                urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=2).read()
        except (OSError, dns.exception.DNSException):
            pass
        sent += 1
    return sent


if __name__ == "__main__":
    raise SystemExit(main())
