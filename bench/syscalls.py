"""System calls made by a server during a run, counted by `perf stat` on a kernel tracepoint.

`counting(pids)` attaches `perf stat -e raw_syscalls:sys_enter -p PIDS` (every thread of those
processes) for the duration of a `with` block and reads the count afterwards. A tracepoint counter
costs the server far less than strace's ptrace stop per call, so the run stays comparable.
Measures only; starts and stops nothing but its own perf process.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

EVENT = "raw_syscalls:sys_enter"


@dataclass
class Count:
    """Filled in when the `with` block ends; None if perf could not count."""

    calls: int | None = None


def available() -> bool:
    """True if perf exists and can count the syscall tracepoint here (root, tracefs)."""
    if shutil.which("perf") is None:
        return False
    done = subprocess.run(
        ["perf", "stat", "-x,", "-e", EVENT, "true"], capture_output=True, text=True, timeout=30
    )
    return done.returncode == 0 and parse(done.stderr) is not None


def parse(text: str) -> int | None:
    """The count from `perf stat -x,` output ("12345,,raw_syscalls:sys_enter,...")."""
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2] == EVENT and fields[0].isdigit():
            return int(fields[0])
    return None


@contextlib.contextmanager
def counting(pids: list[int]) -> Iterator[Count]:
    count = Count()
    perf = subprocess.Popen(
        ["perf", "stat", "-x,", "-e", EVENT, "-p", ",".join(map(str, pids))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield count
    finally:
        perf.send_signal(signal.SIGINT)
        try:
            _, err = perf.communicate(timeout=10)
            count.calls = parse(err)
        except subprocess.TimeoutExpired:
            perf.kill()
            perf.communicate()
