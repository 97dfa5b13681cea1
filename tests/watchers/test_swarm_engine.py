"""The Swarm watcher against a real single-node swarm on a private second engine.

One private `dockerd` (tests/swarm_engine.py) serves the whole module: an
attachable overlay pair, services in both endpoint modes, a global service, a
service whose slot 2 fails its healthcheck, one to scale and kill, one hidden
by label, and a `docker stack deploy` from a compose file. Every service,
container and the swarm itself are removed at the end, even on failure. The
shared engine is never put in swarm mode.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from dnsd.core.explain import explain_name
from registry import Store, UnhealthyPolicy
from tests.docker_support import eventually
from tests.serve_process import Served, stop_process, wait_until_answering
from tests.swarm_engine import URL, PrivateSwarm, available, private_swarm
from watchers.base import Supervisor
from watchers.swarm_watcher import SwarmWatcher

pytestmark = pytest.mark.docker

STACK = """
version: "3.8"
services:
  api:
    image: dnsd-test-busybox:latest
    command: ["sleep", "600"]
    networks: [back]
    deploy:
      replicas: 2
      labels:
        dnsd.port.api: "8000"
networks:
  back:
    driver: overlay
    attachable: true
"""

SLEEP = ("dnsd-test-busybox:latest", "sleep", "600")
SERVICES: dict[str, tuple[str, ...]] = {
    "web": (
        "--replicas", "3", "--network", "ov1", "--network", "ov2", "-p", "8080:80",
        "--label", "dnsd.port.http=80", "--label", "dnsd.name=frontend",
        "--health-cmd", "true", "--health-interval", "1s",
    ),
    "db": ("--replicas", "2", "--endpoint-mode", "dnsrr", "--network", "ov1"),
    "agent": ("--mode", "global", "--network", "ov1"),
    "mixed": (
        "--replicas", "3", "--network", "ov1", "--env", "SLOT={{.Task.Slot}}",
        "--health-cmd", 'test "$SLOT" != 2', "--health-interval", "1s",
        "--health-retries", "1",
    ),
    "scaler": ("--replicas", "3", "--network", "ov1", "--stop-grace-period", "60s"),
    "hidden": ("--replicas", "1", "--network", "ov1", "--label", "dnsd.enable=false"),
}  # fmt: skip


@pytest.fixture(scope="module")
def swarm(test_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateSwarm]:
    why = available()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"no private swarm: {why}")
        pytest.skip(f"no private swarm: {why}")
    with private_swarm() as engine:
        for network in ("ov1", "ov2"):
            engine.docker("network", "create", "-d", "overlay", "--attachable", network)
        for name, options in SERVICES.items():
            engine.docker(
                "service", "create", "-d", "--no-resolve-image", "--name", name, *options, *SLEEP
            )
        compose = tmp_path_factory.mktemp("stack") / "stack.yml"
        compose.write_text(STACK)
        engine.docker("stack", "deploy", "--resolve-image", "never", "-c", str(compose), "shop")
        yield engine


@asynccontextmanager
async def watching(policy_store: Store | None = None) -> AsyncIterator[Store]:
    store = policy_store or Store()
    supervisor = Supervisor(SwarmWatcher(url=URL, required=True, fast_poll=0.1), store.apply)
    task = asyncio.create_task(supervisor.run())
    try:
        await asyncio.wait_for(supervisor.synced.wait(), 30)
        yield store
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def running_tasks(engine: PrivateSwarm, service: str, network: str = "ov1") -> dict[int, str]:
    """slot (or 0 for global) -> address on `network` of every running task of `service`."""
    out = {}
    for task in engine.inspect("inspect", *engine.docker("service", "ps", "-q", service).split()):
        if task["Status"]["State"] != "running" or task["DesiredState"] != "running":
            continue
        for attachment in task.get("NetworksAttachments") or ():
            if attachment["Network"]["Spec"]["Name"] == network:
                out[int(task.get("Slot") or 0)] = attachment["Addresses"][0].split("/")[0]
    return out


def vips(engine: PrivateSwarm, service: str, *networks: str) -> dict[str, str]:
    """network -> the service's VIP on it, for `networks` (default ov1 and ov2)."""
    data = engine.inspect("service", "inspect", service)[0]
    wanted = networks or ("ov1", "ov2")
    names = {n["Id"]: n["Name"] for n in engine.inspect("network", "inspect", *wanted)}
    return {
        names[v["NetworkID"]]: v["Addr"].split("/")[0]
        for v in data["Endpoint"]["VirtualIPs"]
        if v["NetworkID"] in names
    }


def answer(store: Store, key: str, policy: UnhealthyPolicy = UnhealthyPolicy.SERVE_ALL) -> set[str]:
    return set(store.snapshot.resolve(key, None, policy).addresses)


async def converged(
    engine: PrivateSwarm, service: str, replicas: int, network: str = "ov1"
) -> dict[int, str]:
    found: dict[int, str] = {}

    def check() -> bool:
        found.clear()
        found.update(running_tasks(engine, service, network))
        return len(found) == replicas

    await eventually(check, f"{service} runs {replicas} tasks", timeout=60, interval=0.5)
    return found


async def test_every_name_form_and_srv(swarm: PrivateSwarm) -> None:
    web = await converged(swarm, "web", 3)
    db = await converged(swarm, "db", 2)
    async with watching() as store:
        web_vips = vips(swarm, "web")
        await eventually(lambda: answer(store, "tasks.web") >= set(web.values()), "tasks.web")
        assert answer(store, "web") == set(web_vips.values())  # the VIP on ov1 and ov2
        assert answer(store, "frontend") == set(web_vips.values())
        for slot, ip in web.items():
            assert ip in answer(store, f"web.{slot}")
        await eventually(lambda: answer(store, "db") == set(db.values()), "db: dnsrr tasks")
        assert answer(store, "tasks.db") == set(db.values())
        agent = await converged(swarm, "agent", 1)
        node = swarm.docker("info", "--format", "{{.Swarm.NodeID}}").lower()
        await eventually(lambda: answer(store, f"agent.{node}") == {agent[0]}, "global task")
        host = swarm.docker("info", "--format", "{{.Name}}").lower()
        assert answer(store, f"{host}.nodes") == answer(store, f"{node}.nodes") == {"127.0.0.1"}
        assert not store.snapshot.has_name("hidden")  # dnsd.enable=false
        srv = store.snapshot.resolve_srv("_http._tcp.web")
        assert [(r.target, r.port) for r in srv] == [("web", 80)]
        published = store.snapshot.resolve_srv("_8080._tcp.web")
        assert [r.port for r in published] == [8080]
        assert published[0].target.endswith(".nodes")
        assert [a.ip for a in published[0].endpoint.addresses] == ["127.0.0.1"]


async def test_stack_names(swarm: PrivateSwarm) -> None:
    tasks = set((await converged(swarm, "shop_api", 2, "shop_back")).values())
    async with watching() as store:
        vip = vips(swarm, "shop_api", "shop_back")["shop_back"]
        await eventually(lambda: answer(store, "tasks.api") == tasks, "tasks.api")
        assert answer(store, "tasks.shop_api") == tasks
        for key in ("api", "api.shop", "shop_api"):
            assert answer(store, key) == {vip}, key
        srv = store.snapshot.resolve_srv("_api._tcp.api.shop")
        assert [(r.target, r.port) for r in srv] == [("shop_api", 8000)]


async def test_a_task_failing_its_healthcheck_stays_out(swarm: PrivateSwarm) -> None:
    async with watching() as store:

        def healthy_slots_only() -> bool:
            running = running_tasks(swarm, "mixed")
            wanted = {running[s] for s in (1, 3) if s in running}
            return len(wanted) == 2 and answer(store, "tasks.mixed") == wanted

        await eventually(healthy_slots_only, "tasks.mixed = slots 1 and 3", timeout=60)
        view = explain_name(store.snapshot, "tasks.mixed", "docker.", UnhealthyPolicy.SERVE_ALL)
        assert view is not None
        slots = {ep["container"]: ep for ep in _endpoints(view)}
        assert slots["mixed.1"]["in_rotation"] and slots["mixed.3"]["in_rotation"]
        if "mixed.2" in slots:  # between restarts slot 2 may have no task at all
            assert not slots["mixed.2"]["in_rotation"]
            assert slots["mixed.2"]["reason"]
        assert "node" in slots["mixed.1"]["details"] and "state" in slots["mixed.1"]["details"]


def _endpoints(view: dict[str, Any]) -> list[dict[str, Any]]:
    endpoints = view["endpoints"]
    assert isinstance(endpoints, list)
    return endpoints


async def test_scale_up_down_and_kill(swarm: PrivateSwarm) -> None:
    await converged(swarm, "scaler", 3)
    async with watching() as store:
        swarm.docker("service", "scale", "-d", "scaler=6")
        six = await converged(swarm, "scaler", 6)
        await eventually(lambda: answer(store, "tasks.scaler") == set(six.values()), "3 -> 6")
        swarm.docker("service", "scale", "-d", "scaler=3")
        await eventually(lambda: len(answer(store, "tasks.scaler")) == 3, "6 -> 3")
        # busybox sleep ignores SIGTERM and the grace period is 60 s: the removed
        # tasks' containers still run, yet they are already out of rotation.
        still = swarm.docker("ps", "-q", "--filter", "label=com.docker.swarm.service.name=scaler")
        assert len(still.split()) == 6
        three = answer(store, "tasks.scaler")
        victim = next(iter(three))
        container = _container_with(swarm, "scaler", victim)
        swarm.docker("kill", container)
        await eventually(lambda: victim not in answer(store, "tasks.scaler"), "killed task out")
        await eventually(
            lambda: len(answer(store, "tasks.scaler")) == 3, "replacement in", timeout=60
        )


def _container_with(engine: PrivateSwarm, service: str, ip: str) -> str:
    ids = engine.docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}")
    for data in engine.inspect("inspect", *ids.split()):
        if any(n.get("IPAddress") == ip for n in data["NetworkSettings"]["Networks"].values()):
            return str(data["Id"])
    raise AssertionError(f"no container of {service} has {ip}")


def nslookup(engine: PrivateSwarm, client: str, name: str, server: str) -> set[str]:
    """busybox nslookup inside `client`: the A addresses after the `Name:` line."""
    out = engine.docker("exec", client, "nslookup", "-type=a", name, server, check=False)
    lines = out.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Name:")), len(lines))
    return {line.split()[-1] for line in lines[start:] if line.startswith("Address")}


async def test_a_client_on_the_overlay_resolves_through_dnsd(
    swarm: PrivateSwarm, tmp_path: Path
) -> None:
    """dnsd runs in the network namespace of a container on ov1 (as a dnsd container on the
    overlay would); a client container on ov1 asks it with busybox nslookup."""
    web = await converged(swarm, "web", 3)
    vip = vips(swarm, "web")
    swarm.docker("run", "-d", "--name", "dnsd-net", "--network", "ov1", *SLEEP)
    swarm.docker("run", "-d", "--name", "client", "--network", "ov1", *SLEEP)
    pid, ips = swarm.container_ips("dnsd-net")
    overlay, bridge = ips["ov1"], ips["docker_gwbridge"]
    log = tmp_path / "dnsd.log"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DNSD_")}
    argv = [
        "nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-m", "dnsd", "serve",
        "--docker-url", URL, "--swarm", "on", "--dns-listen", f"{overlay}:53",
        "--dns-listen", f"{bridge}:53", "--http-listen", f"{bridge}:8053",
        "--upstream", "127.0.0.1:9",
    ]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=environ, text=True
        )
    try:
        served = Served(process, bridge, 53, 8053, log)
        wait_until_answering(served)
        await eventually(lambda: _get(bridge, "/ready")[0] == 200, "dnsd ready", timeout=30)
        await eventually(
            lambda: nslookup(swarm, "client", "tasks.web.docker", overlay) == set(web.values()),
            "the client on ov1 gets the tasks' ov1 addresses only",
        )
        assert nslookup(swarm, "client", "web.docker", overlay) == {vip["ov1"]}
        assert nslookup(swarm, "client", "web", overlay) == {vip["ov1"]}  # bare name
        from_host = {rr.address for rr in served.query("web.docker.").answer[0]}
        assert from_host == set(vip.values())  # an unknown client: every network
        status, body = _get(bridge, "/v1/records/tasks.web")
        assert status == 200
        assert {ep["source"] for ep in body["endpoints"]} == {"swarm"}  # not the containers too
        assert all(ep["details"]["state"].startswith("running") for ep in body["endpoints"])
        assert {ep["details"]["service"] for ep in body["endpoints"]} == {"web"}
        status, containers = _get(bridge, "/v1/containers")
        listed = containers["containers"]
        docker_names = {ep["container"] for ep in listed if ep["source"] == "docker"}
        assert docker_names == {"dnsd-net", "client"}  # task containers are the swarm's
    finally:
        stop_process(process, 5)
        swarm.docker("rm", "-f", "dnsd-net", "client", check=False)


def _get(host: str, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://{host}:8053{path}", timeout=3) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except OSError:
        return 0, None
