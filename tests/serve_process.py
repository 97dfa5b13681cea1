"""Start the real `dnsd serve` process for tests, on loopback ports chosen free, and stop it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode

from dnsd.parsers import format_host_port


def ipv6_loopback() -> bool:
    """True when this machine can bind ::1 (IPv6 tests skip without it)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on `host` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(family, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


def stop_process(process: subprocess.Popen[Any], timeout: float) -> None:
    """SIGTERM, then kill if it has not exited within `timeout` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Served:
    process: subprocess.Popen[str]
    host: str
    port: int
    http_port: int | None
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def query(self, name: str, qtype: str = "A", tcp: bool = False) -> dns.message.Message:
        q = dns.message.make_query(name, qtype)
        if tcp:
            return dns.query.tcp(q, self.host, port=self.port, timeout=3)
        return dns.query.udp(q, self.host, port=self.port, timeout=3)


def wait_until_answering(served: Served, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if served.process.poll() is not None:
            raise RuntimeError(f"dnsd exited with {served.process.returncode}:\n{served.log()}")
        try:
            served.query("1.0.0.127.in-addr.arpa.", "PTR")  # always local (RFC 6303)
            return
        except (OSError, dns.exception.Timeout):
            time.sleep(0.1)
    raise RuntimeError(f"dnsd did not answer within {deadline}s:\n{served.log()}")


def http_json(served: Served, path: str, host: str = "127.0.0.1") -> Any:
    """GET `path` from dnsd's HTTP API: the JSON body (of an error status too), or None when
    nothing answers."""
    url = f"http://{host}:{served.http_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        return json.load(error)
    except OSError:
        return None


def wait_until_ready(served: Served, deadline: float = 20.0) -> None:
    """Wait for `/ready` to say 200 (every source has had its first sync); needs `http=True`."""
    url = f"http://127.0.0.1:{served.http_port}/ready"
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:  # 503 (HTTPError is an OSError) or not listening yet
            pass
        time.sleep(0.1)
    raise RuntimeError(f"dnsd was not ready within {deadline}s:\n{served.log()}")


@contextmanager
def dnsd_serve(
    args: Sequence[str],
    tmp_path: Path,
    host: str = "127.0.0.1",
    http: bool = False,
    env: dict[str, str] | None = None,
    port: int | None = None,
    wrapper: Sequence[str] = (),
) -> Iterator[Served]:
    """Run `dnsd serve ARGS --dns-listen HOST:PORT` until the block ends (SIGTERM, then kill).

    Without `--upstream` in ARGS the upstream is a free loopback port (nothing answers), so
    dnsd never falls back to /etc/resolv.conf: no test query leaves the machine.
    PORT picks the DNS port (default: a free one); WRAPPER is put before the command
    (e.g. `setpriv ...`).
    """
    port = free_port(host) if port is None else port
    http_port = free_port() if http else None
    listen = format_host_port(host, port)
    argv = [
        *wrapper,  # e.g. prlimit --nofile=S:H --, or setpriv ...
        sys.executable,
        "-m",
        "dnsd",
        "serve",
        "--dns-listen",
        listen,
        "--http-listen",
        f"127.0.0.1:{http_port}" if http_port else "off",
        *args,
    ]
    if "--upstream" not in args:
        argv += ["--upstream", f"127.0.0.1:{free_port()}"]
    log_path = tmp_path / f"dnsd-{port}.log"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DNSD_")}
    environ.update(env or {})
    with log_path.open("w") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, text=True, env=environ
        )
    served = Served(process, host, port, http_port, log_path)
    try:
        wait_until_answering(served)
        yield served
    finally:
        stop_process(process, 5)
