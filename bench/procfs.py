"""What /proc says about a server: CPU time, resident memory, and CPU affinity.

Reads /proc and sets affinity; it starts and stops no processes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15 (proc(5)).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def family(pid: int) -> list[int]:
    """`pid` and every process descended from it (dnsd --workers: the worker processes)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for tid in thread_ids(current):
            with contextlib.suppress(FileNotFoundError):
                text = Path(f"/proc/{current}/task/{tid}/children").read_text()
                todo += [int(child) for child in text.split()]
    return found


def family_cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and its descendants alive now (see `family`)."""
    total = 0.0
    for member in family(pid):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += cpu_seconds(member)
    return total


def rss_kib(pid: int) -> int:
    """VmRSS of the process in KiB (0 if the kernel does not report it)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: was the machine busy with something else?"""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def thread_ids(pid: int) -> list[int]:
    """The process's threads; none if it has exited."""
    try:
        return [int(name) for name in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        return []


@contextlib.contextmanager
def pinned(pid: int, cpus: set[int]) -> Iterator[None]:
    """Pin every thread of a running process to `cpus`; restore each thread's mask after.

    Threads born during the pin inherit it; they get the process's original mask back.
    """
    default = os.sched_getaffinity(pid) if thread_ids(pid) else cpus
    saved: dict[int, set[int]] = {}
    for tid in thread_ids(pid):
        with contextlib.suppress(ProcessLookupError):
            saved[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, cpus)
    try:
        yield
    finally:
        for tid in thread_ids(pid):
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(tid, saved.get(tid, default))
