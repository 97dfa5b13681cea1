"""Docker's embedded DNS as a `Target`: a network, containers, and dockerd pinned to a core.

Creates a user-defined bridge network `dnsdbench-<random>`, one container with the
alias `target`, ten sharing the alias `rr`, and a client container in whose network
namespace dnsperf runs against 127.0.0.11. Names Docker does not know are forwarded
by dockerd to the containers' `--dns` server, which is a stub upstream this module
runs on the new network's gateway address, so no query leaves the machine. Removes
everything it created; restores dockerd's CPU affinity.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

from bench import dnsperf, procfs, scenarios
from bench.processes import wait_answering
from bench.scenarios import Spelling
from bench.targets import Target, stub_upstream

IMAGE = "dnsd-test-busybox:latest"
LABEL = "dnsd-bench=1"
LIFETIME_S = 3600  # containers exit on their own even if cleanup never runs


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def dockerd_pid() -> int:
    pidfile = Path("/var/run/docker.pid")
    if pidfile.exists():
        return int(pidfile.read_text().strip())
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (entry / "comm").read_text().strip() == "dockerd":
            return int(entry.name)
    raise RuntimeError("dockerd is not running (see scripts/start-dockerd)")


def ensure_image() -> None:
    root = Path(__file__).resolve().parent.parent
    subprocess.run([str(root / "scripts" / "build-test-image"), IMAGE], check=True, timeout=300)


@contextlib.contextmanager
def network(name: str) -> Iterator[str]:
    """Create the bridge network; yield its gateway address; remove it."""
    docker("network", "create", "--label", LABEL, name)
    try:
        config = json.loads(docker("network", "inspect", name, "--format", "{{json .IPAM.Config}}"))
        yield str(config[0]["Gateway"])
    finally:
        subprocess.run(["docker", "network", "rm", name], capture_output=True, timeout=120)


@contextlib.contextmanager
def containers(net: str, prefix: str, gateway: str) -> Iterator[int]:
    """Start the target, the ten round-robin members and the client; yield the client's PID."""
    names: list[str] = []
    try:
        for name, alias in (
            [(f"{prefix}-target", scenarios.SINGLE)]
            + [
                (f"{prefix}-rr{i}", scenarios.ROUND_ROBIN)
                for i in range(scenarios.ROUND_ROBIN_SIZE)
            ]
            + [(f"{prefix}-client", None)]
        ):
            names.append(name)
            run_container(name, net, alias, gateway)
        yield int(docker("inspect", "--format", "{{.State.Pid}}", f"{prefix}-client"))
    finally:
        if names:
            subprocess.run(["docker", "rm", "-f", *names], capture_output=True, timeout=120)


def run_container(name: str, net: str, alias: str | None, gateway: str) -> None:
    argv = [
        "run",
        "-d",
        "--rm",
        "--name",
        name,
        "--label",
        LABEL,
        "--network",
        net,
        "--dns",
        gateway,
    ]
    if alias:
        argv += ["--network-alias", alias]
    docker(*argv, IMAGE, "sleep", str(LIFETIME_S))


@contextlib.contextmanager
def docker_target(workdir: Path, cpu: int) -> Iterator[Target]:
    ensure_image()
    prefix = f"dnsdbench-{secrets.token_hex(4)}"
    with contextlib.ExitStack() as stack:
        gateway = stack.enter_context(network(prefix))
        stack.enter_context(stub_upstream(workdir, gateway, 53))
        client_pid = stack.enter_context(containers(prefix, prefix, gateway))
        pid = dockerd_pid()
        stack.enter_context(procfs.pinned(pid, {cpu}))
        target = Target(
            "Docker embedded DNS",
            "docker",
            "127.0.0.11",
            53,
            pid,
            Spelling.BARE,
            forwarding=True,
            netns_pid=client_pid,
        )
        probe = scenarios.write(
            workdir, "probe-docker.txt", scenarios.query_lines("roundrobin", Spelling.BARE)
        )
        wait_answering(dnsperf.Load("127.0.0.11", 53, probe, 1, netns_pid=client_pid), 1)
        yield target
