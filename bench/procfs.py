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


def cpu_ticks() -> dict[str, list[int]]:
    """/proc/stat's time counters per line ("cpu", "cpu0", ...): user nice system idle iowait
    irq softirq steal ..., in clock ticks since boot."""
    found = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu"):
            name, *values = line.split()
            found[name] = [int(v) for v in values]
    return found


STEAL = 7  # index of the steal counter in a /proc/stat cpu line


def steal_share(
    before: dict[str, list[int]], after: dict[str, list[int]], cpus: list[int] | None = None
) -> float | None:
    """Share of the elapsed CPU time on `cpus` (all CPUs if None) that the hypervisor ran
    something else (steal), between two `cpu_ticks()` readings; None if nothing elapsed."""
    names = ["cpu"] if cpus is None else [f"cpu{c}" for c in cpus]
    stolen = total = 0
    for name in names:
        if name not in before or name not in after:
            continue
        # guest time (fields 8, 9) is already counted in user/nice
        deltas = [a - b for a, b in zip(after[name][:8], before[name][:8], strict=True)]
        stolen += deltas[STEAL]
        total += sum(deltas)
    return stolen / total if total > 0 else None


@contextlib.contextmanager
def realtime(pids: list[int], priority: int = 10) -> Iterator[None]:
    """Run every thread of `pids` under SCHED_RR at `priority` for the `with` block, then
    give each thread back its policy (threads born meanwhile get SCHED_OTHER).

    For the capped latency runs: a woken server then runs at once instead of waiting behind
    whatever else is runnable on its core. Round-robin, not FIFO: a thread that spins cannot
    keep another of the same priority off the core for more than a time slice (a FIFO
    dnsperf did hang that way), and the kernel's real-time throttling (95% of each second by
    default) still bounds what real-time threads take from everything else.
    """
    saved: dict[int, tuple[int, int]] = {}
    rr = os.sched_param(priority)
    try:
        for pid in pids:
            for tid in thread_ids(pid):
                with contextlib.suppress(ProcessLookupError):
                    saved[tid] = (os.sched_getscheduler(tid), os.sched_getparam(tid).sched_priority)
                    os.sched_setscheduler(tid, os.SCHED_RR, rr)
        yield
    finally:
        for pid in pids:
            for tid in thread_ids(pid):
                policy, prio = saved.get(tid, (os.SCHED_OTHER, 0))
                with contextlib.suppress(ProcessLookupError):
                    os.sched_setscheduler(tid, policy, os.sched_param(prio))
