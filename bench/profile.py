"""Optional profiles of a server under load, summarised as top frames by self time.

py-spy (if installed) samples a dnsd process's Python stacks; `perf record` (if it works here)
samples any server, dnsd and dnsmasq alike, kernel and user space, so the two servers' time
can be read side by side. Starts the sampler against PIDs for a fixed time and reads its
output; measures nothing else and changes nothing in the target.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

RATE_HZ = 250


@dataclass(frozen=True)
class Frame:
    name: str
    self_share: float  # fraction of all samples with this frame on top


@dataclass(frozen=True)
class ProfileResult:
    label: str
    scenario: str
    frames: tuple[Frame, ...]
    raw: str  # path of the sampler's output
    tool: str = "py-spy"


def py_spy() -> str | None:
    """py-spy on PATH or next to this Python (a venv's bin, not on root's PATH under sudo)."""
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def available() -> bool:
    return py_spy() is not None


def start(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Begin sampling `pid` for `seconds`; collapsed stacks go to `out`."""
    argv = [
        py_spy() or "py-spy",
        "record",
        "--pid",
        str(pid),
        "-d",
        f"{max(1, round(seconds))}",
        "-r",
        str(RATE_HZ),
        "--format",
        "raw",
        "--native",
        "-o",
        str(out),
    ]
    with out.with_suffix(".log").open("wb") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)


def top_frames(raw: Path, count: int = 10) -> list[Frame]:
    """The frames most often on top of the stack, idle thread-pool waits left out."""
    on_top: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        frames = stack.split(";")
        if any("concurrent/futures/thread.py" in f for f in frames):
            continue  # an idle executor thread waiting for work
        on_top[frames[-1]] += int(samples)
    total = sum(on_top.values()) or 1
    return [Frame(name, n / total) for name, n in on_top.most_common(count)]


PERF_HZ = 999


def perf_available() -> bool:
    if shutil.which("perf") is None:
        return False
    done = subprocess.run(
        ["perf", "record", "-F", "99", "-o", "/dev/null", "true"],
        capture_output=True,
        timeout=30,
    )
    return done.returncode == 0


def start_perf(pids: list[int], seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """`perf record` on every thread of `pids` for `seconds` (kernel and user samples)."""
    argv = ["perf", "record", "-F", str(PERF_HZ), "-p", ",".join(map(str, pids)), "-o", str(out)]
    argv += ["--", "sleep", f"{max(1, round(seconds))}"]
    with out.with_suffix(".log").open("wb") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)


_PERF_LINE = re.compile(r"^\s*([0-9.]+)%\s+(\S.*?)\s*$")


def parse_perf_report(text: str, count: int = 10) -> list[Frame]:
    """`perf report --stdio --sort sym` lines ("  35.10%  [k] __sys_sendmmsg") -> the top
    `count` frames, after two summary frames: "kernel (all [k])" and "user (all [.])"."""
    frames = []
    for line in text.splitlines():
        found = _PERF_LINE.match(line)
        if found and not line.lstrip().startswith("#"):
            frames.append(Frame(found.group(2), float(found.group(1)) / 100))
    kernel = sum(f.self_share for f in frames if f.name.startswith("[k]"))
    user = sum(f.self_share for f in frames if not f.name.startswith("[k]"))
    top = sorted(frames, key=lambda f: -f.self_share)[:count]
    return [Frame("kernel (all [k])", kernel), Frame("user (all [.])", user), *top]


def perf_frames(data: Path, count: int = 10) -> list[Frame]:
    done = subprocess.run(
        ["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "sym", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return parse_perf_report(done.stdout, count)
