"""Benchmark: multi-host mode against a real three-member etcd cluster on loopback (not a test).

  python -m bench.cluster propagation [--runs 50]      # container start on A -> answered by B
  python -m bench.cluster scale --nodes 5 --endpoints 2000 [--churn 50]
  python -m bench.cluster scale --nodes 20 --endpoints 5000 --churn 0
  python -m bench.cluster scale --churn 0 --against DIR --repeat 5  # before/after, alternated
  python -m bench.cluster registry --endpoints 100000  # in-process cost of one change
  python -m bench.cluster etcd [--runs 50]             # etcd's own commit, a member's share

`propagation` runs dnsd "a" on the local Docker engine and dnsd "b" without Docker; each
round starts a container with a published port on a network the benchmark creates and
polls b over UDP until it answers, then stops it and polls until NXDOMAIN. `scale` writes
simulated nodes straight into etcd, starts dnsd "b" and reports load time, resident
memory, the propagation of single changes at that size, and b's CPU and watch lag while
one node churns. With `--against DIR` (another checkout, e.g. `git archive` of an older
commit) `scale` runs `--repeat` times against DIR's dnsd and this tree's in turn (the dnsd
started is the tree the benchmark runs in; both compiled first). Everything it starts it
stops; traffic stays on loopback.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bench.cluster_etcd import etcd_costs
from bench.cluster_scale import registry, scale
from bench.cluster_support import (
    DEADLINE,
    ROOT,
    Node,
    addresses,
    compile_packages,
    dnsd,
    etcd_cluster,
    summary,
    until,
)
from bench.cluster_trace import Marks, Observers, report
from bench.procfs import load_average

IMAGE = "dnsd-test-busybox:latest"
CMD = ("sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait")


# -- propagation ---------------------------------------------------------------------


def propagation(runs: int) -> None:
    network = f"dnsdbench-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "network", "create", network], check=True, capture_output=True)
    try:
        with etcd_cluster() as etcd, dnsd("a", etcd.endpoints, "--docker") as a, \
                dnsd("b", etcd.endpoints, "--no-docker") as b:  # fmt: skip
            until(lambda: addresses(b.dns_port, "probe") is None and _connected(a, b), 30)
            observers = Observers(etcd.endpoints, "/dnsd/v1/bench/nodes/a/")
            try:
                before = a.health()["cluster"]
                marks = rounds(runs, network, a, b, observers)
                after = a.health()["cluster"]
            finally:
                observers.close()
    finally:
        subprocess.run(["docker", "network", "rm", network], capture_output=True)
    writes = int(after["etcd_writes"]) - int(before["etcd_writes"])
    txns = int(after["etcd_transactions"]) - int(before["etcd_transactions"])
    print("| change | runs | median ms | worst ms |\n|---|---:|---:|---:|")
    for kind, label in (
        ("up", "start on a -> answered by b"),
        ("down", "stop on a -> NXDOMAIN at b"),
    ):
        for start, what in (("returned", "CLI returned"), ("engine", "engine event")):
            spans = [m.span(start, "answer") for m in marks if m.kind == kind]
            seen = [max(0.0, s) if s is not None else DEADLINE for s in spans]
            print(summary(f"container {label} (from {what})", seen))
    print(
        f"\netcd writes per container change: {writes / (2 * runs):.2f} keys"
        f" in {txns / (2 * runs):.2f} transactions\n"
    )
    print(report(marks))


def _connected(*nodes: Node) -> bool:
    try:
        return all(n.health()["cluster"]["state"] == "connected" for n in nodes)
    except OSError:
        return False


def rounds(runs: int, network: str, a: Node, b: Node, observers: Observers) -> list[Marks]:
    """Start and stop `runs` containers on a; each change's marks (CLI, answer, stages)."""
    out: list[Marks] = []
    for _ in range(runs):
        out += one_round(f"dnsdbench-{uuid.uuid4().hex[:8]}", network, b)
        for marks in out[-2:]:
            observers.mark(marks, a.http_port, b.http_port)
    return out


def one_round(name: str, network: str, b: Node) -> list[Marks]:
    run = ["docker", "run", "-d", "--name", name, "--network", network, "-p", "127.0.0.1::80"]
    up = _change(
        name, "up", [*run, IMAGE, *CMD], lambda: addresses(b.dns_port, name) == ["127.0.0.1"]
    )
    down = _change(
        name, "down", ["docker", "stop", name], lambda: addresses(b.dns_port, name) is None
    )
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    return [up, down]


def _change(name: str, kind: str, argv: list[str], done: Callable[[], bool]) -> Marks:
    """Run the CLI while polling b, so an answer that changes before the CLI returns is
    timed too (from the engine's event); the table's CLI figure counts it as 0 ms."""
    marks = Marks(name, kind)
    marks.at["cli"] = time.time()
    cli = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while not done():
        if time.time() - marks.at["cli"] > DEADLINE:
            break
        if cli.poll() is not None and "returned" not in marks.at:
            marks.at["returned"] = time.time()
        time.sleep(0.0005)
    else:
        marks.at["answer"] = time.time()
    _, err = cli.communicate(timeout=60)
    marks.at.setdefault("returned", time.time())
    if cli.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} failed: {err.decode(errors='replace')}")
    return marks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cluster", description=__doc__.split("\n")[0]
    )
    parser.add_argument("what", choices=["propagation", "scale", "registry", "etcd"])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--endpoints", type=int, default=2000)
    parser.add_argument("--churn", type=float, default=50.0, help="changes per second (0: none)")
    parser.add_argument("--against", type=Path, help="scale: another checkout to alternate with")
    parser.add_argument("--repeat", type=int, default=1, help="scale: runs of each tree")
    args = parser.parse_args(argv)
    print(f"load average before: {load_average()}")
    if args.what == "propagation":
        propagation(args.runs)
    elif args.what == "etcd":
        with etcd_cluster() as etcd:
            etcd_costs(etcd.endpoints, args.runs)
    elif args.what == "scale":
        trees = [args.against.resolve(), ROOT] if args.against else [ROOT]
        for tree in trees:
            compile_packages(tree)
        for run in range(1, args.repeat + 1):
            for tree in trees:
                now = time.strftime("%H:%M:%S", time.gmtime())
                print(f"== run {run}: dnsd from {tree} at {now} UTC")
                os.chdir(tree)  # the dnsd started is the tree it runs in
                scale(args.nodes, args.endpoints, args.churn)
        os.chdir(ROOT)
    else:
        registry(args.endpoints)
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
