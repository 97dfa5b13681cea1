"""Benchmark: how long after a Swarm change does dnsd's registry agree? (not a test)

    sudo .venv/bin/python -m bench.swarm_propagation [--runs 5]

Starts the private single-node swarm of the tests (tests/swarm_engine.py: its
own dockerd under /run/dnsd-swarm, never the shared engine in swarm mode), runs
an in-process Swarm watcher into a Store, and for each of RUNS rounds measures
when `tasks.bench` first shows the new state after:
  scale 3 -> 6   (from the moment the last new task's container started)
  scale 6 -> 3   (from `docker service scale` returning: the removed tasks
                  leave rotation while their containers still run)
  task killed    (from `docker kill` returning)
  node drained   (from `docker node update --availability drain` returning)
  node active    (from `--availability active` returning, until 3 are back)
Prints a table (median and max in ms). Tears everything down, even on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from datetime import datetime

from registry import Snapshot, Store
from tests.swarm_engine import URL, PrivateSwarm, available, private_swarm
from watchers.base import Supervisor
from watchers.swarm_watcher import SwarmWatcher

SERVICE = "bench"
UP = "scale 3 -> 6 (after the last new container started)"
DOWN = "scale 6 -> 3 (after the command returned)"
KILL = "task killed (after docker kill returned)"
DRAIN = "node drained (after the command returned)"
ACTIVE = "node active again, 3 tasks back (after the last new container started)"
DEADLINE = 60.0


class Watch:
    """The registry view, with the wall-clock time a condition first held."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.waiting: tuple[Callable[[Snapshot], bool], list[float]] | None = None
        store.subscribe(self._note)

    def _note(self, snapshot: Snapshot, _event: object) -> None:
        if self.waiting and not self.waiting[1] and self.waiting[0](snapshot):
            self.waiting[1].append(time.time())

    def tasks(self, snapshot: Snapshot | None = None) -> tuple[str, ...]:
        return (snapshot or self.store.snapshot).resolve(f"tasks.{SERVICE}").addresses

    async def until(self, check: Callable[[Snapshot], bool], action: Callable[[], object]) -> float:
        """Run `action` (in a thread), return the wall-clock time `check` first held after it."""
        seen: list[float] = []
        self.waiting = (check, seen)
        await asyncio.to_thread(action)
        if check(self.store.snapshot) and not seen:
            seen.append(time.time())
        end = time.monotonic() + DEADLINE
        while not seen and time.monotonic() < end:
            await asyncio.sleep(0.001)
        self.waiting = None
        if not seen:
            raise RuntimeError("no agreement within the deadline")
        return seen[0]


def _started_at(engine: PrivateSwarm) -> float:
    """The latest StartedAt of the service's running containers (wall clock)."""
    ids = engine.docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={SERVICE}")
    if not ids:
        raise RuntimeError("the service has no running container")
    latest = 0.0
    for data in engine.inspect("inspect", *ids.split()):
        text = data["State"]["StartedAt"].rstrip("Z")[:26]
        latest = max(latest, datetime.fromisoformat(text + "+00:00").timestamp())
    return latest


async def after_command(
    engine: PrivateSwarm, watch: Watch, check: Callable[[Snapshot], bool], *command: str
) -> float:
    """Seconds from `docker COMMAND` returning until `check` held (0 if it held before)."""
    returned: list[float] = []

    def run() -> None:
        engine.docker(*command)
        returned.append(time.time())

    seen = await watch.until(check, run)
    return max(0.0, seen - returned[0])


async def one_round(engine: PrivateSwarm, watch: Watch, out: dict[str, list[float]]) -> None:
    def count(n: int) -> Callable[[Snapshot], bool]:
        return lambda snap: len(watch.tasks(snap)) == n

    scale = ("service", "scale", "-d")
    seen = await watch.until(count(6), lambda: engine.docker(*scale, f"{SERVICE}=6"))
    out[UP].append(seen - _started_at(engine))
    out[DOWN].append(await after_command(engine, watch, count(3), *scale, f"{SERVICE}=3"))
    await asyncio.sleep(1)
    victim = watch.tasks()[0]
    gone = await after_command(
        engine,
        watch,
        lambda snap: victim not in watch.tasks(snap),
        "kill",
        _container_with(engine, victim),
    )
    out[KILL].append(gone)
    await asyncio.sleep(2)
    node = engine.docker("info", "--format", "{{.Swarm.NodeID}}")
    drain = ("node", "update", "--availability")
    out[DRAIN].append(await after_command(engine, watch, count(0), *drain, "drain", node))
    seen = await watch.until(count(3), lambda: engine.docker(*drain, "active", node))
    out[ACTIVE].append(seen - _started_at(engine))
    exited = engine.docker("ps", "-aq", "--filter", "status=exited").split()
    if exited:
        engine.docker("rm", "-f", *exited, check=False)


def _container_with(engine: PrivateSwarm, ip: str) -> str:
    ids = engine.docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={SERVICE}")
    for data in engine.inspect("inspect", *ids.split()):
        if any(n.get("IPAddress") == ip for n in data["NetworkSettings"]["Networks"].values()):
            return str(data["Id"])
    raise RuntimeError(f"no container has {ip}")


async def measure(engine: PrivateSwarm, runs: int) -> dict[str, list[float]]:
    engine.docker("network", "create", "-d", "overlay", "bench")
    engine.docker(
        "service", "create", "-d", "--no-resolve-image", "--name", SERVICE, "--replicas", "3",
        "--network", "bench", "--stop-grace-period", "2s",
        "dnsd-test-busybox:latest", "sleep", "3600",
    )  # fmt: skip
    store = Store()
    supervisor = Supervisor(SwarmWatcher(url=URL, required=True), store.apply)
    task = asyncio.create_task(supervisor.run())
    out: dict[str, list[float]] = {}
    try:
        await asyncio.wait_for(supervisor.synced.wait(), 30)
        watch = Watch(store)
        await watch.until(lambda snap: len(watch.tasks(snap)) == 3, lambda: None)
        out = {label: [] for label in (UP, DOWN, KILL, DRAIN, ACTIVE)}
        for _ in range(runs):
            await one_round(engine, watch, out)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return out


def table(results: dict[str, list[float]], runs: int) -> str:
    lines = [f"| change ({runs} runs) | median ms | max ms |", "|---|---:|---:|"]
    for label, values in results.items():
        ms = [v * 1000 for v in values]
        lines.append(f"| {label} | {statistics.median(ms):.0f} | {max(ms):.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, choices=range(1, 51), metavar="1..50")
    args = parser.parse_args()
    why = available()
    if why:
        raise SystemExit(f"swarm_propagation: {why}")
    with private_swarm() as engine:
        results = asyncio.run(measure(engine, args.runs))
    print(table(results, args.runs))


if __name__ == "__main__":
    main()
