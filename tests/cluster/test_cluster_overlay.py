"""The reachability rule across hosts, against real etcd and a real engine in swarm mode.

Node "a" is a dnsd watching a private single-node swarm engine (tests/swarm_engine.py, its own
socket, data root, bridges and swarm ports under the name `ovl`); node "b" is a dnsd without
Docker; both use the module's real three-member etcd cluster. On the engine: two attachable
overlay networks, `ov` and `ov2`, and real containers: `web` on `ov` publishing port 80 on
127.0.0.1, `quiet` on `ov` publishing nothing, `client` on `ov`, `outsider` on `ov2`, and later
`lonely` on the engine's default bridge only. a publishes them through etcd; b learns them
from its watch.

What is real: etcd, both dnsd processes, the engine, the overlays and the containers; the
addresses asserted are the engine's own (`docker inspect`) and a's publication as b shows it
(`/v1/containers`); the DNS queries from the host's loopback to b (a client on no overlay).
What is not: a DNS query whose source is an overlay address. b runs on the host, which is
on no overlay, so no packet from `client`'s overlay address can reach it on one machine;
for that client (and for `outsider`) the test asks b's HTTP API for the name as that client
gets it (`/v1/records/<name>?client=<ip>`). Its `answer` comes from the same resolution DNS
answers use (`Snapshot.resolve` with the client's view), not from a copy of the rule.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from registry.model import UNREACHABLE
from tests.cluster.conftest import NodeFactory, answer, http_get, wait_for
from tests.serve_process import Served
from tests.swarm_engine import IMAGE, Place, PrivateSwarm, available, private_swarm

pytestmark = pytest.mark.docker

OVL = Place("ovl", bridge="dnsd-ovl-gw", default_bridge="dnsd-ovl0", swarm_port=23771,
            data_path_port=47891)  # fmt: skip


@pytest.fixture(scope="module")
def engine(test_image: str) -> Iterator[PrivateSwarm]:
    why = available()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"no private swarm engine: {why}")
        pytest.skip(f"no private swarm engine: {why}")
    with private_swarm(OVL) as swarm:  # removes every container and network it made
        yield swarm


def overlay_ip(engine: PrivateSwarm, container: str, network: str) -> str:
    data = engine.inspect("inspect", container)[0]
    return str(data["NetworkSettings"]["Networks"][network]["IPAddress"])


def published(b: Served, name: str) -> dict[str, str]:
    """What b holds of a's container `name`: its addresses by network (a's publication)."""
    for endpoint in http_get(b, "/v1/containers")["containers"]:
        if endpoint["container"] == name and endpoint.get("node") == "a":
            return {a["network"]: a["ip"] for a in endpoint["addresses"]}
    return {}


def as_client(b: Served, name: str, client_ip: str) -> dict[str, Any]:
    return dict(http_get(b, f"/v1/records/{name}?client={client_ip}"))


def test_overlay_clients_get_overlay_addresses_other_clients_the_advertised_one(
    engine: PrivateSwarm, node: NodeFactory, zone: str
) -> None:
    for network in ("ov", "ov2"):
        engine.docker("network", "create", "-d", "overlay", "--attachable", network)
    run = {
        "web": ("--network", "ov", "-p", "127.0.0.1::80"),
        "quiet": ("--network", "ov"),
        "client": ("--network", "ov"),
        "outsider": ("--network", "ov2"),
    }
    for name, args in run.items():
        engine.docker("run", "-d", "--name", name, *args, IMAGE, "sleep", "600")
    ip = {name: overlay_ip(engine, name, args[1]) for name, args in run.items()}
    host_port = engine.docker("port", "web", "80/tcp").splitlines()[0].rsplit(":", 1)[1]

    with node("a", "--docker", "--docker-url", OVL.url, "--swarm", "off") as a, node("b") as b:
        wait_for(lambda: all(published(b, n) for n in run), "b knows a's four containers", a, b)
        # a published each overlay address; b learned them (the client's address included)
        assert {n: published(b, n).get(args[1]) for n, args in run.items()} == ip

        # a real DNS client on no overlay (the host, over loopback): the advertised address
        # for the container with a published port, with the host port in SRV; nothing for
        # the one reachable only on its overlay
        assert answer(b, f"web.{zone}.") == ["127.0.0.1"]
        assert answer(b, f"_80._tcp.web.{zone}.", "SRV") == [f"0 10 {host_port} web.{zone}."]
        assert answer(b, f"quiet.{zone}.") == []
        assert http_get(b, "/v1/records/quiet")["answer"] == []

        # a client on `ov` (by its overlay address, as a's publication gave it): the overlay
        # addresses, plus the advertised one for the container with a published port
        web = as_client(b, "web", ip["client"])
        assert web["client"]["networks"] == ["ov"]
        assert sorted(web["answer"]) == sorted([ip["web"], "127.0.0.1"])
        quiet = as_client(b, "quiet", ip["client"])
        assert quiet["answer"] == [ip["quiet"]] and quiet["exists_for_client"] is True

        # a client on another overlay (`ov2`): never `ov`'s addresses
        web = as_client(b, "web", ip["outsider"])
        assert web["client"]["networks"] == ["ov2"]
        assert web["answer"] == ["127.0.0.1"]
        visible = {x["ip"]: x["visible"] for x in web["endpoints"][0]["addresses"]}
        assert visible == {ip["web"]: False, "127.0.0.1": True}
        quiet = as_client(b, "quiet", ip["outsider"])
        assert quiet["answer"] == [] and quiet["exists_for_client"] is False
        assert quiet["endpoints"][0]["reason"].startswith("not reachable from this client")

        # with no overlay address and no published port: not reachable from other hosts
        engine.docker("run", "-d", "--name", "lonely", IMAGE, "sleep", "600")
        wait_for(lambda: http_get(b, "/v1/records/lonely").get("endpoints"), "lonely at b", b)
        [lonely] = http_get(b, "/v1/records/lonely")["endpoints"]
        assert lonely["reason"] == UNREACHABLE and answer(b, f"lonely.{zone}.") == []

        # a's own answers are unchanged: a local client on `ov` gets web's overlay address
        assert ip["web"] in as_client(a, "web", ip["client"])["answer"]
