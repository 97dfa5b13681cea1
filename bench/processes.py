"""Child processes of the benchmark: start pinned, wait until they answer DNS, always stop.

Every process is started by a context manager that stops it on exit, and asks the
kernel to SIGTERM it if the benchmark itself dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from bench import dnsperf

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free for both UDP and TCP on `host` right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free UDP+TCP port on loopback")


@contextlib.contextmanager
def running(argv: list[str], log: Path, cpu: int | None) -> Iterator[subprocess.Popen[bytes]]:
    """Start argv (pinned to `cpu` if given), output to `log`; SIGTERM, then SIGKILL, on exit."""
    full = ["taskset", "-c", str(cpu), *argv] if cpu is not None else argv
    with log.open("wb") as out:
        proc = subprocess.Popen(
            full,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def wait_answering(
    load: dnsperf.Load,
    expected: int,
    deadline_s: float = 20.0,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Block until `expected` probe queries get NOERROR answers, or fail loudly."""
    argv = dnsperf.probe_command(load)
    end = time.monotonic() + deadline_s
    last = "no attempt"
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log else ""
            raise RuntimeError(f"{proc.args!s} exited {proc.returncode}:\n{tail}")
        try:
            result = dnsperf.run(argv, timeout=10)
            if result.rcodes.get("NOERROR", 0) >= expected:
                return
            last = f"answers {dict(result.rcodes)}, expected {expected} NOERROR"
        except dnsperf.DnsperfError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise RuntimeError(f"server at {load.server}:{load.port} not answering: {last}")
