"""Optional py-spy profile of a dnsd process under load, summarised as top frames by self time.

Starts py-spy (if installed) against a PID for a fixed time and reads its raw
(collapsed-stack) output; measures nothing else and changes nothing in the target.
"""

from __future__ import annotations

import shutil
import subprocess
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
    raw: str  # path of py-spy's collapsed stacks


def available() -> bool:
    return shutil.which("py-spy") is not None


def start(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Begin sampling `pid` for `seconds`; collapsed stacks go to `out`."""
    argv = [
        "py-spy",
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
