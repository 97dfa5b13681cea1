"""A private single-node Docker Swarm for tests and the Swarm benchmark.

Starts a second `dockerd` that uses only paths and names of its own (socket,
data-root, exec-root and pidfile under /run/dnsd-swarm and /var/lib/dnsd-swarm,
its own containerd namespace, a default bridge of its own `dnsd-swm0`,
`--iptables=false`; not `--bridge none`, which makes dockerd delete the host's
`docker0`, the shared engine's bridge). It pre-creates its `docker_gwbridge` as
a bridge named `dnsd-swarm` on a 10.x subnet no route uses, loads the test image
with `docker save | docker load`, and runs `docker swarm init --advertise-addr
127.0.0.1`. `stop()` removes every service, stack and container, leaves the
swarm and stops the engine, whatever state it is in. The shared engine is
never touched except to `docker save` the test image; it is never put in
swarm mode. Those names are the default `Place`; a test that needs an engine
of its own at the same time passes another (`Place("ovl", ...)`: its own
socket, data root, containerd namespaces, bridges and swarm ports).
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

IMAGE = "dnsd-test-busybox:latest"
RUN = Path("/run/dnsd-swarm")
DATA = Path("/var/lib/dnsd-swarm")
SOCKET = RUN / "docker.sock"
URL = f"unix://{SOCKET}"
BRIDGE = "dnsd-swarm"
DEFAULT_BRIDGE = "dnsd-swm0"  # the private engine's default bridge (not docker0, not none)
LOG = Path("/tmp/dnsd-swarm-dockerd.log")


@dataclass(frozen=True)
class Place:
    """Everything that names one private engine: two engines with different places can run at
    once (the default is the Swarm watcher's; other tests pass their own)."""

    name: str = "swarm"
    bridge: str = BRIDGE  # docker_gwbridge's Linux bridge (<= 15 characters)
    default_bridge: str = DEFAULT_BRIDGE
    swarm_port: int = 23770
    data_path_port: int = 47890

    @property
    def run(self) -> Path:
        return Path(f"/run/dnsd-{self.name}")

    @property
    def data(self) -> Path:
        return Path(f"/var/lib/dnsd-{self.name}")

    @property
    def url(self) -> str:
        return f"unix://{self.run / 'docker.sock'}"

    @property
    def log(self) -> Path:
        return Path(f"/tmp/dnsd-{self.name}-dockerd.log")


SWARM = Place()


class EngineError(RuntimeError):
    """The private engine could not be started or driven."""


def _used_networks() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=False).stdout
    nets = []
    for line in out.splitlines():
        first = line.split()[0] if line.split() else ""
        try:
            nets.append(ipaddress.ip_network(first, strict=False))
        except ValueError:
            continue
    return [n for n in nets if isinstance(n, ipaddress.IPv4Network)]


def pick_subnet(prefix: int, avoid: str = "") -> str:
    """A random 10.x subnet of `prefix` length that no route (and not `avoid`) overlaps."""
    used = _used_networks() + ([ipaddress.IPv4Network(avoid)] if avoid else [])
    for _ in range(200):
        second = random.randint(100, 250)
        base = ipaddress.ip_network(f"10.{second}.{random.randint(0, 255)}.0/24")
        net = base.supernet(new_prefix=prefix) if prefix < 24 else base
        if not any(net.overlaps(u) for u in used):
            return str(net)
    raise EngineError("no free 10.x subnet")


@dataclass
class PrivateSwarm:
    """The private engine; `docker(...)` runs the CLI against it."""

    process: subprocess.Popen[bytes] | None = None
    place: Place = SWARM
    gw_subnet: str = ""
    pool: str = ""
    services: list[str] = field(default_factory=list)

    def docker(self, *args: str, check: bool = True, timeout: float = 90) -> str:
        done = subprocess.run(
            ["docker", "-H", self.place.url, *args], capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode != 0:
            raise EngineError(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def inspect(self, *args: str) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = json.loads(self.docker(*args))
        return data

    @property
    def gateway(self) -> str:
        """The host's address on docker_gwbridge (reachable from every task)."""
        return str(next(ipaddress.ip_network(self.gw_subnet).hosts()))

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        place = self.place
        _stop_leftover(place)
        place.run.mkdir(parents=True, exist_ok=True)
        place.data.mkdir(parents=True, exist_ok=True)
        _own_bridge(place.default_bridge)
        self.process = subprocess.Popen(
            [
                "dockerd",
                "-H",
                place.url,
                "--data-root",
                str(place.data),
                "--exec-root",
                str(place.run / "exec"),
                "--pidfile",
                str(place.run / "docker.pid"),
                "--bridge",
                place.default_bridge,
                "--iptables=false",
                "--ip-masq=false",
                "--containerd-namespace",
                f"dnsd-{place.name}",
                "--containerd-plugins-namespace",
                f"dnsd-{place.name}-plugins",
                "--log-level",
                "warn",
            ],
            stdout=place.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_up()
        self._load_image()
        self._init_swarm()

    def _wait_up(self) -> None:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if self.process is not None and self.process.poll() is not None:
                log = self.place.log.read_text()[-2000:]
                raise EngineError(f"private dockerd exited: {log}")
            probe = ["docker", "-H", self.place.url, "info", "--format", "{{.ID}}"]
            if subprocess.run(probe, capture_output=True, timeout=10).returncode == 0:
                return
            time.sleep(0.3)
        raise EngineError("private dockerd did not come up within 60 s")

    def _load_image(self) -> None:
        save = subprocess.Popen(["docker", "save", IMAGE], stdout=subprocess.PIPE)
        load = subprocess.Popen(
            ["docker", "-H", self.place.url, "load"], stdin=save.stdout, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        assert save.stdout is not None
        save.stdout.close()  # load alone holds the pipe: save sees EPIPE if load fails
        _, err = load.communicate(timeout=120)
        save.wait(timeout=60)
        if load.returncode != 0 or save.returncode != 0:
            raise EngineError(f"cannot load {IMAGE}: {err.decode(errors='replace')}")

    def _init_swarm(self) -> None:
        if self.docker("info", "--format", "{{.Swarm.LocalNodeState}}") == "active":
            self.docker("swarm", "leave", "--force")  # left over from a killed run
        leftover = self.docker("ps", "-aq").split()
        if leftover:
            self.docker("rm", "-f", *leftover)
        self.gw_subnet = self._gwbridge()
        self.pool = pick_subnet(16, avoid=self.gw_subnet)
        self.docker(
            "swarm", "init", "--advertise-addr", "127.0.0.1",
            "--listen-addr", f"127.0.0.1:{self.place.swarm_port}",
            "--data-path-port", str(self.place.data_path_port),
            "--default-addr-pool", self.pool, "--default-addr-pool-mask-length", "24",
            "--task-history-limit", "2",
        )  # fmt: skip

    def container_ips(self, name: str) -> tuple[int, dict[str, str]]:
        """A container's pid and its address per network, docker_gwbridge included."""
        data = self.inspect("inspect", name)[0]
        ips = {net: s["IPAddress"] for net, s in data["NetworkSettings"]["Networks"].items()}
        bridge = self.inspect("network", "inspect", "docker_gwbridge")[0]
        for cid, entry in (bridge.get("Containers") or {}).items():
            if cid == data["Id"]:
                ips["docker_gwbridge"] = entry["IPv4Address"].split("/")[0]
        return int(data["State"]["Pid"]), ips

    def _gwbridge(self) -> str:
        """docker_gwbridge as our own bridge (`dnsd-swarm`): reuse it if it is there."""
        found = json.loads(
            self.docker("network", "inspect", "docker_gwbridge", check=False) or "[]"
        )
        if found:
            return str(found[0]["IPAM"]["Config"][0]["Subnet"])
        subnet = pick_subnet(24)
        self.docker(
            "network", "create", "--subnet", subnet,
            "--opt", f"com.docker.network.bridge.name={self.place.bridge}",
            "--opt", "com.docker.network.bridge.enable_ip_masquerade=false",
            "--opt", "com.docker.network.bridge.enable_icc=true",
            "docker_gwbridge",
        )  # fmt: skip
        return subnet

    def stop(self) -> None:
        """Remove services, stacks and containers, leave the swarm, stop dockerd."""
        try:
            if self.process is not None and self.process.poll() is None:
                self._clear()
        finally:
            _terminate(self.process)
            self.process = None
            _stop_leftover(self.place)
            for bridge in (self.place.bridge, self.place.default_bridge):
                subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)

    def _clear(self) -> None:
        services = self.docker("service", "ls", "-q", check=False).split()
        if services:
            self.docker("service", "rm", *services, check=False)
        containers = self.docker("ps", "-aq", check=False).split()
        if containers:
            self.docker("rm", "-f", *containers, check=False)
        self.docker("swarm", "leave", "--force", check=False)
        self.docker("network", "rm", "docker_gwbridge", check=False)


def _own_bridge(name: str) -> None:
    """The private engine's default bridge, made before it starts (see the module doc)."""
    if subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0:
        return
    gateway = next(ipaddress.ip_network(pick_subnet(24)).hosts())
    for argv in (
        ["ip", "link", "add", name, "type", "bridge"],
        ["ip", "addr", "add", f"{gateway}/24", "dev", name],
        ["ip", "link", "set", name, "up"],
    ):
        subprocess.run(argv, check=True, capture_output=True)


def _terminate(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _stop_leftover(place: Place) -> None:
    """Stop a private dockerd left by an earlier crashed run (by its own pidfile only)."""
    pidfile = place.run / "docker.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        if "dockerd" not in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
            return
        if str(place.data) not in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
            return
        os.kill(pid, signal.SIGTERM)
    except (OSError, ProcessLookupError):
        return
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.2)


def available() -> str:
    """'' when a private swarm can be started here, else why not."""
    if os.geteuid() != 0:
        return "a private dockerd needs root"
    if shutil.which("dockerd") is None:
        return "dockerd is not installed"
    done = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False)
    if done.returncode != 0:
        return f"the shared engine has no {IMAGE} (scripts/build-test-image)"
    return ""


@contextmanager
def private_swarm(place: Place = SWARM) -> Iterator[PrivateSwarm]:
    swarm = PrivateSwarm(place=place)
    try:
        swarm.start()
        yield swarm
    finally:
        swarm.stop()


def swarm_or_skip(place: Place = SWARM) -> Iterator[PrivateSwarm]:
    """For a module fixture: a private swarm engine at `place` (every container and network it
    made is removed at the end); fails under CI and skips elsewhere when none can start here."""
    why = available()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"no private swarm engine: {why}")
        pytest.skip(f"no private swarm engine: {why}")
    with private_swarm(place) as swarm:
        yield swarm


def nslookup_a(engine: PrivateSwarm, client: str, name: str, server: str) -> list[str]:
    """busybox nslookup inside `client` (a real DNS query from its own addresses): the A
    addresses after the `Name:` line, sorted ([] for an answer without any). Fails when the
    server did not answer at all."""
    done = subprocess.run(
        ["docker", "-H", engine.place.url, "exec", client, "nslookup", "-type=a", name, server],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert "timed out" not in out and "no servers" not in out, out  # dnsd must have answered
    lines = out.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Name:")), len(lines))
    return sorted(line.split()[-1] for line in lines[start:] if line.startswith("Address"))
