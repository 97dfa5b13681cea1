"""Benchmark: multi-host mode against a real three-member etcd cluster on loopback (not a test).

  python -m bench.cluster propagation [--runs 50]      # container start on A -> answered by B
  python -m bench.cluster scale --nodes 5 --endpoints 2000 [--churn 50]
  python -m bench.cluster scale --nodes 20 --endpoints 5000 --churn 0
  python -m bench.cluster registry --endpoints 100000  # in-process cost of one change

`propagation` runs dnsd "a" on the local Docker engine and dnsd "b" without Docker; each
round starts a container with a published port on a network the benchmark creates and
polls b over UDP until it answers, then stops it and polls until NXDOMAIN. `scale` writes
simulated nodes straight into etcd, starts dnsd "b" and reports load time, resident
memory, the propagation of single changes at that size, and b's CPU and watch lag while
one node churns. Everything it starts it stops; traffic stays on loopback.
"""

from __future__ import annotations

import argparse
import subprocess
import uuid

from bench.cluster_scale import registry, scale
from bench.cluster_support import Node, addresses, dnsd, etcd_cluster, summary, until
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
            before = a.health()["cluster"]
            up, down = rounds(runs, network, b)
            after = a.health()["cluster"]
    finally:
        subprocess.run(["docker", "network", "rm", network], capture_output=True)
    writes = int(after["etcd_writes"]) - int(before["etcd_writes"])
    txns = int(after["etcd_transactions"]) - int(before["etcd_transactions"])
    print("| change | runs | median ms | worst ms |\n|---|---:|---:|---:|")
    print(summary("container start on a -> answered by b", up))
    print(summary("container stop on a -> NXDOMAIN at b", down))
    print(
        f"\netcd writes per container change: {writes / (2 * runs):.2f} keys"
        f" in {txns / (2 * runs):.2f} transactions"
    )


def _connected(*nodes: Node) -> bool:
    try:
        return all(n.health()["cluster"]["state"] == "connected" for n in nodes)
    except OSError:
        return False


def rounds(runs: int, network: str, b: Node) -> tuple[list[float], list[float]]:
    up: list[float] = []
    down: list[float] = []
    for _ in range(runs):
        name = f"dnsdbench-{uuid.uuid4().hex[:8]}"
        docker = [
            "docker",
            "run",
            "-d",
            "--name",
            name,
            "--network",
            network,
            "-p",
            "127.0.0.1::80",
        ]
        subprocess.run([*docker, IMAGE, *CMD], check=True, capture_output=True)
        up.append(until(lambda n=name: addresses(b.dns_port, n) == ["127.0.0.1"]))  # type: ignore[misc]
        subprocess.run(["docker", "stop", name], check=True, capture_output=True)
        down.append(until(lambda n=name: addresses(b.dns_port, n) is None))  # type: ignore[misc]
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    return up, down


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cluster", description=__doc__.split("\n")[0]
    )
    parser.add_argument("what", choices=["propagation", "scale", "registry"])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--endpoints", type=int, default=2000)
    parser.add_argument("--churn", type=float, default=50.0, help="changes per second (0: none)")
    args = parser.parse_args(argv)
    print(f"load average before: {load_average()}")
    if args.what == "propagation":
        propagation(args.runs)
    elif args.what == "scale":
        scale(args.nodes, args.endpoints, args.churn)
    else:
        registry(args.endpoints)
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
