"""Overlay clients asking the host's dnsd over docker_gwbridge, on a real engine in swarm mode.

A private single-node swarm engine (tests/swarm_engine.py: its own socket, data root, bridges
and swarm ports under the name `gwbridge`) has an attachable overlay network `ov` and a local
bridge network `other`. `web` is on `ov` only, `lonely` on `other` only. A real `dnsd serve`
on the host watches that engine and listens on the host's docker_gwbridge address (the
gateway), where containers on an overlay send DNS that is meant for the host: their queries
leave through docker_gwbridge, so dnsd sees their docker_gwbridge address, which their own
inspect does not list. Containers started after dnsd (`client` on `ov`) and one connected to
`ov` later (`mover`, first on `other` only) ask with busybox nslookup: they must get web's
overlay address (a local overlay address, only for clients on that overlay) and must not get
`lonely`, which shares no network with them. The explain view says how they were recognised.
The same for a Swarm service task on `ov` (`asker`) when dnsd leaves task containers to its
Swarm watcher.
Real: the engine, overlay, containers, dnsd process and every DNS query. No timing assertions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from tests.serve_process import Served, dnsd_serve, free_port, http_json
from tests.swarm_engine import IMAGE, Place, PrivateSwarm, nslookup_a, swarm_or_skip

pytestmark = pytest.mark.docker

GWB = Place("gwbridge", bridge="dnsd-gwb-gw", default_bridge="dnsd-gwb0", swarm_port=23779,
            data_path_port=47899)  # fmt: skip
SLEEP = (IMAGE, "sleep", "600")
ZONE = "docker."


@pytest.fixture(scope="module")
def engine(test_image: str) -> Iterator[PrivateSwarm]:
    yield from swarm_or_skip(GWB)


def wait_for(check: Callable[[], object], what: str, served: Served, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            pytest.fail(f"not within {timeout}s: {what}\n{served.log()[-4000:]}")
        time.sleep(0.05)


def recognised(served: Served, ip: str) -> dict[str, Any]:
    """How dnsd recognises the client at `ip` (the explain view of `web` for that client);
    {} until it is recognised as a container by its docker_gwbridge address."""
    view = http_json(served, f"/v1/records/web?client={ip}") or {}
    who = dict((view.get("client") or {}).get("recognised_as") or {})
    return who if who.get("how") == "client-address" else {}


@pytest.fixture(scope="module")
def web_ip(engine: PrivateSwarm) -> Iterator[str]:
    """`ov` (overlay) with `web` on it, `other` (local bridge) with `lonely`: web's address.
    The engine's data root outlives it, so its local network is removed (before, too)."""
    engine.docker("network", "rm", "other", check=False)  # left by a killed run
    try:
        engine.docker("network", "create", "-d", "overlay", "--attachable", "ov")
        engine.docker("network", "create", "other")
        engine.docker("run", "-d", "--name", "web", "--network", "ov", *SLEEP)
        engine.docker("run", "-d", "--name", "lonely", "--network", "other", *SLEEP)
        yield engine.container_ips("web")[1]["ov"]
    finally:
        engine.docker("service", "rm", "asker", check=False)
        for name in ("web", "lonely", "client", "mover"):
            engine.docker("rm", "-f", name, check=False)
        engine.docker("network", "rm", "other", "ov", check=False)


def serve(
    engine: PrivateSwarm, tmp_path: Path, swarm: str
) -> tuple[AbstractContextManager[Served], str]:
    """dnsd on the host's docker_gwbridge address, watching the engine; and its `ip:port`."""
    gateway = engine.gateway
    port = free_port(gateway)
    flags = ["--docker", "--docker-url", GWB.url, "--swarm", swarm, "--domain", "docker",
             "--upstream", "127.0.0.1:9"]  # fmt: skip
    return dnsd_serve(flags, tmp_path, host=gateway, http=True, port=port), f"{gateway}:{port}"


def test_overlay_clients_on_docker_gwbridge_get_their_own_view(
    engine: PrivateSwarm, web_ip: str, tmp_path: Path
) -> None:
    gateway = engine.gateway  # the host's docker_gwbridge address
    running, server = serve(engine, tmp_path, "off")
    with running as served:
        engine.docker("run", "-d", "--name", "client", "--network", "ov", *SLEEP)
        client_gw = engine.container_ips("client")[1]["docker_gwbridge"]
        wait_for(lambda: recognised(served, client_gw), "client recognised", served)
        assert recognised(served, client_gw)["container"] == "client"

        # the client on ov, asking from its docker_gwbridge address: ov's addresses only
        assert nslookup_a(engine, "client", f"web.{ZONE}", server) == [web_ip]
        assert nslookup_a(engine, "client", f"lonely.{ZONE}", server) == []
        assert nslookup_a(engine, "client", f"client.{ZONE}", server) == [
            engine.container_ips("client")[1]["ov"]
        ]  # its own overlay address, never its docker_gwbridge one

        # a container connected to ov later is recognised by its new docker_gwbridge address
        engine.docker("run", "-d", "--name", "mover", "--network", "other", *SLEEP)
        assert nslookup_a(engine, "mover", f"lonely.{ZONE}", server) != []  # on other: yes
        engine.docker("network", "connect", "ov", "mover")
        engine.docker("network", "disconnect", "other", "mover")  # now ov only: docker_gwbridge
        has_gw = lambda: "docker_gwbridge" in engine.container_ips("mover")[1]  # noqa: E731
        wait_for(has_gw, "mover on docker_gwbridge", served)
        mover_gw = engine.container_ips("mover")[1]["docker_gwbridge"]
        wait_for(lambda: recognised(served, mover_gw), "mover recognised", served)
        assert recognised(served, mover_gw)["container"] == "mover"
        assert nslookup_a(engine, "mover", f"web.{ZONE}", server) == [web_ip]
        assert nslookup_a(engine, "mover", f"lonely.{ZONE}", server) == []

        # the host itself on docker_gwbridge is nobody in particular: no overlay address
        assert http_json(served, f"/v1/records/web?client={gateway}")["answer"] == []
        # a docker_gwbridge address is never a PTR owner
        ptr = served.query(".".join(reversed(client_gw.split("."))) + ".in-addr.arpa.", "PTR")
        assert not ptr.answer


def test_a_swarm_task_on_docker_gwbridge_gets_its_own_view(
    engine: PrivateSwarm, web_ip: str, tmp_path: Path
) -> None:
    running, server = serve(engine, tmp_path, "on")  # task containers: the Swarm watcher's
    with running as served:
        engine.docker("service", "create", "--detach", "--name", "asker", "--network", "ov",
                      *SLEEP)  # fmt: skip

        def task_container() -> str:
            return engine.docker(
                "ps", "-q", "--filter", "label=com.docker.swarm.service.name=asker"
            )

        wait_for(task_container, "the asker task running", served)
        container = task_container().split()[0]
        task_gw = engine.container_ips(container)[1]["docker_gwbridge"]
        wait_for(lambda: recognised(served, task_gw), "the task recognised", served)
        assert recognised(served, task_gw)["source"] == "swarm"
        assert nslookup_a(engine, container, f"web.{ZONE}", server) == [web_ip]
        assert nslookup_a(engine, container, f"lonely.{ZONE}", server) == []
