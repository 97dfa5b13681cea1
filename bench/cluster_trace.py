"""Where cross-host propagation time goes: a timestamped trace of each stage (bench only).

Observers outside the dnsd processes, all on the host's wall clock (`time.time()`): the
engine's own event stream (`docker events`: the engine's `timeNano` and when the event
reached a subscriber; for a start, how long an inspect sent at that moment takes, as a's
watcher sends one: the engine answers it only when its own start work is done), an etcd
watch on node a's prefix (when the write was committed and delivered to a watcher), and
each dnsd's change history (`/v1/events`: when its registry changed, to the millisecond).
The benchmark adds when the CLI started and returned and when b first answered.
`breakdown` turns one run's marks into stage durations; `report` prints the per-stage
medians and the worst runs. Not a test; starts only the two observer processes it stops.
"""

from __future__ import annotations

import base64
import json
import statistics
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import docker

from bench.cluster_support import DEADLINE
from tests.cluster.etcd_cluster import ETCDCTL

# what a does about the change: a start is inspected then published; a stop is out at `kill`
TRIGGER = {"up": ("start",), "down": ("kill", "die")}
STAGES = (
    ("cli->engine", "cli", "engine"),  # the CLI call until the engine's event time
    ("engine->seen", "engine", "seen"),  # event time until a subscriber of /events had it
    ("seen->inspected", "seen", "inspected"),  # an inspect sent then (as a's) until answered
    ("engine->a", "engine", "a"),  # event time until a's registry changed
    ("a->etcd", "a", "etcd"),  # a's registry change until the write reached an etcd watcher
    ("etcd->b", "etcd", "b"),  # ... until b's registry changed
    ("b->answer", "b", "answer"),  # ... until b's UDP answer changed (poll every 0.5 ms)
    ("cli-return->answer", "returned", "answer"),  # what the benchmark's table reports
    ("engine->answer", "engine", "answer"),  # from the moment the container started/stopped
)


@dataclass
class Marks:
    """Wall-clock moments of one change (seconds since the epoch; missing when not seen)."""

    name: str
    kind: str  # "up" or "down"
    at: dict[str, float] = field(default_factory=dict)

    def span(self, start: str, end: str) -> float | None:
        if start not in self.at or end not in self.at:
            return None
        return self.at[end] - self.at[start]


class Observers:
    """`docker events` and `etcdctl watch` in child processes, read by two daemon threads."""

    def __init__(self, etcd_endpoints: str, node_prefix: str) -> None:
        self.events: dict[tuple[str, str], tuple[float, float, str]] = {}  # (name, action) ->
        self.inspected: dict[str, float] = {}  # container name -> our inspect after `start`
        self._engine = docker.APIClient(version="auto")
        self.keys: dict[tuple[str, str], float] = {}  # (container id, PUT/DELETE) -> seen
        self._lock = threading.Lock()
        events = ["docker", "events", "--format", "{{json .}}", "--filter", "type=container"]
        etcd = [ETCDCTL, "--endpoints", etcd_endpoints, "watch", "--prefix", node_prefix]
        self._procs = [
            subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             env={"ETCDCTL_API": "3"} if argv[0] == ETCDCTL else None)
            for argv in (events, [*etcd, "-w", "json"])
        ]  # fmt: skip
        for proc, read in zip(self._procs, (self._docker, self._etcd), strict=True):
            threading.Thread(target=read, args=(proc,), daemon=True).start()

    def close(self) -> None:
        self._engine.close()
        for proc in self._procs:
            proc.terminate()
            proc.wait(timeout=10)

    def _docker(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen = time.time()
            item: dict[str, Any] = json.loads(line)
            attrs = (item.get("Actor") or {}).get("Attributes") or {}
            key = (str(attrs.get("name", "")), str(item.get("Action", "")).split(":")[0])
            with self._lock:
                self.events.setdefault(key, (item["timeNano"] / 1e9, seen, str(item.get("id"))))
            if key[1] == "start" and key[0].startswith("dnsdbench-"):
                self._engine.inspect_container(item["id"])  # what a does for a start
                self.inspected.setdefault(key[0], time.time())

    def _etcd(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen = time.time()
            for event in json.loads(line).get("Events") or ():
                key = base64.b64decode(event["kv"]["key"]).decode()
                cid = urllib.parse.unquote(key.rsplit("/", 1)[-1])
                kind = "DELETE" if event.get("type") in (1, "DELETE") else "PUT"
                with self._lock:
                    self.keys.setdefault((cid, kind), seen)

    def mark(self, marks: Marks, a_http: int, b_http: int) -> None:
        """Fill in the engine, etcd and registry moments of one finished change."""
        with self._lock:
            events = {a: v for (n, a), v in self.events.items() if n == marks.name}
            keys = dict(self.keys)
        first = [events[a] for a in TRIGGER[marks.kind] if a in events]
        if first:
            engine, seen, cid = min(first)
            marks.at.update(engine=engine, seen=seen)
            put = keys.get((cid, "PUT" if marks.kind == "up" else "DELETE"))
            if put is not None:
                marks.at["etcd"] = put
        if marks.kind == "up" and marks.name in self.inspected:
            marks.at["inspected"] = self.inspected[marks.name]
        kind = "added" if marks.kind == "up" else "removed"
        for node, port in (("a", a_http), ("b", b_http)):
            moment = change_time(port, marks.name, kind, marks.at["cli"])
            if moment is not None:
                marks.at[node] = moment


def change_time(http_port: int, name: str, kind: str, after: float) -> float | None:
    """When that dnsd's registry first made `kind` happen to `name` (its /v1/events)."""
    query = urllib.parse.urlencode({"name": name, "since": f"{after - 1:.3f}"})
    url = f"http://127.0.0.1:{http_port}/v1/events?{query}"
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    times = [float(c["time"]) for c in body["events"] if c["change"] == kind]
    return min(times) if times else None


def breakdown(marks: Marks) -> dict[str, float | None]:
    return {label: marks.span(start, end) for label, start, end in STAGES}


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:.1f}"


def report(runs: list[Marks], worst: int = 5) -> str:
    """Per-stage medians and maxima, then the worst runs of each direction stage by stage."""
    rows = ["| change | stage | median ms | max ms |", "|---|---|---:|---:|"]
    for kind in ("up", "down"):
        spans = [breakdown(m) for m in runs if m.kind == kind]
        for label, _, _ in STAGES:
            values = [v for b in spans if (v := b[label]) is not None]
            if values:
                rows.append(
                    f"| {kind} | {label} | {_ms(statistics.median(values))} | {_ms(max(values))} |"
                )
    head = " | ".join(label for label, _, _ in STAGES)
    rows += ["", f"worst {worst} runs by engine->answer, ms (negative cli-return->answer: b"
             " answered before the CLI returned):", "", f"| change | {head} |"]  # fmt: skip
    rows.append("|---|" + "---:|" * len(STAGES))
    for kind in ("up", "down"):
        mine = [m for m in runs if m.kind == kind]
        mine.sort(key=lambda m: m.span("engine", "answer") or DEADLINE, reverse=True)
        for m in mine[:worst]:
            cells = " | ".join(_ms(v) for v in breakdown(m).values())
            rows.append(f"| {kind} | {cells} |")
    return "\n".join(rows)
