"""The reachability rule across hosts, against real etcd and a real engine in swarm mode.

A private single-node swarm engine (tests/swarm_engine.py, its own socket, data root, bridges
and swarm ports under the name `ovl`) has two attachable overlay networks, `ov` and `ov2`, and
real containers: `web` on `ov` publishing port 80 on 127.0.0.1, `quiet` on `ov` publishing
nothing, `client` on `ov`, `outsider` on `ov2`, later `lonely` on the default bridge only.
Node "a" is a dnsd on the host watching that engine; it publishes through the module's real
three-member etcd cluster. Node "b" is a dnsd without Docker that runs in the network
namespace of a container `bhost` attached to both overlays (as a dnsd container on the
overlays of another host would): it listens on its `ov`, `ov2` and docker_gwbridge addresses
and reaches etcd through a relay on the host's docker_gwbridge address.

Real: etcd, both dnsd processes, the engine, overlays and containers, and every DNS query:
`client` and `outsider` ask b with busybox nslookup over the overlay they are on, so b sees
their overlay source addresses, which it knows only from a's publication (no engine of its
own); the host asks b over docker_gwbridge (a client on no overlay). Not real: b and a run on
one machine, so "another host" is a network namespace; a's advertised address is 127.0.0.1
(what the host can use), and b reaches etcd through one member only (the relay). The
explain view (`/v1/records/<name>?client=<ip>`) is checked too, for the reasons it gives.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from registry.model import UNREACHABLE
from tests.cluster.conftest import LEASE_TTL, NodeFactory, answer, wait_for
from tests.cluster.etcd_cluster import EtcdCluster, Relay
from tests.serve_process import Served, http_json, stop_process
from tests.swarm_engine import IMAGE, Place, PrivateSwarm, nslookup_a, swarm_or_skip

pytestmark = pytest.mark.docker

OVL = Place("ovl", bridge="dnsd-ovl-gw", default_bridge="dnsd-ovl0", swarm_port=23771,
            data_path_port=47891)  # fmt: skip
SLEEP = (IMAGE, "sleep", "600")
HTTP = 8053


@pytest.fixture(scope="module")
def engine(test_image: str) -> Iterator[PrivateSwarm]:
    yield from swarm_or_skip(OVL)


def get(served: Served, path: str) -> Any:
    """`path` from b's HTTP API, which listens on b's own address in its namespace."""
    return http_json(served, path, host=served.host)


@contextmanager
def node_b(
    engine: PrivateSwarm, etcd: EtcdCluster, zone: str, tmp_path: Path
) -> Iterator[tuple[Served, dict[str, str]]]:
    """dnsd "b" in `bhost`'s network namespace; yields it (reached over docker_gwbridge)
    and bhost's addresses by network."""
    engine.docker("run", "-d", "--name", "bhost", "--network", "ov", *SLEEP)
    engine.docker("network", "connect", "ov2", "bhost")
    pid, ips = engine.container_ips("bhost")
    relay = Relay(etcd.members[0].client_port, host=engine.gateway)
    listen = [
        a for net in ("ov", "ov2", "docker_gwbridge") for a in ("--dns-listen", f"{ips[net]}:53")
    ]
    argv = [
        "nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-m", "dnsd", "serve", *listen,
        "--http-listen", f"{ips['docker_gwbridge']}:{HTTP}", "--upstream", "127.0.0.1:9",
        "--domain", zone, "--node", "b", "--no-docker", "--cluster-etcd", relay.url,
        "--etcd-insecure", "--advertise-ip", ips["docker_gwbridge"],
        "--cluster-lease-ttl", str(LEASE_TTL),
    ]  # fmt: skip
    log = tmp_path / "dnsd-b.log"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DNSD_")}
    with log.open("w") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=environ, text=True
        )
    try:
        yield Served(process, ips["docker_gwbridge"], 53, HTTP, log), ips
    finally:
        stop_process(process, 5)
        relay.close()


def published(b: Served, name: str) -> dict[str, str]:
    """What b holds of a's container `name`: its addresses by network (a's publication)."""
    for endpoint in (get(b, "/v1/containers") or {}).get("containers", ()):
        if endpoint["container"] == name and endpoint.get("node") == "a":
            return {a["network"]: a["ip"] for a in endpoint["addresses"]}
    return {}


def overlay_ip(engine: PrivateSwarm, container: str, network: str) -> str:
    data = engine.inspect("inspect", container)[0]
    return str(data["NetworkSettings"]["Networks"][network]["IPAddress"])


def test_overlay_clients_get_overlay_addresses_other_clients_the_advertised_one(
    engine: PrivateSwarm, etcd: EtcdCluster, node: NodeFactory, zone: str, tmp_path: Path
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
        engine.docker("run", "-d", "--name", name, *args, *SLEEP)
    ip = {name: overlay_ip(engine, name, args[1]) for name, args in run.items()}
    host_port = engine.docker("port", "web", "80/tcp").splitlines()[0].rsplit(":", 1)[1]

    with (
        node("a", "--docker", "--docker-url", OVL.url, "--swarm", "off") as a,
        node_b(engine, etcd, zone, tmp_path) as (b, bhost),
    ):
        wait_for(lambda: all(published(b, n) for n in run), "b knows a's containers", a, b)
        # a published each overlay address; b learned them (the clients' included)
        assert {n: published(b, n).get(args[1]) for n, args in run.items()} == ip
        web, quiet = f"web.{zone}.", f"quiet.{zone}."

        # `client` on ov asks b over ov: the overlay addresses (and the advertised address
        # of the container that publishes a port)
        assert nslookup_a(engine, "client", web, bhost["ov"]) == sorted([ip["web"], "127.0.0.1"])
        assert nslookup_a(engine, "client", quiet, bhost["ov"]) == [ip["quiet"]]

        # `outsider` on ov2 asks b over ov2: never ov's addresses
        assert nslookup_a(engine, "outsider", web, bhost["ov2"]) == ["127.0.0.1"]
        assert nslookup_a(engine, "outsider", quiet, bhost["ov2"]) == []

        # the host (on no overlay) asks b: the advertised address, the host port in SRV;
        # quiet is NOERROR with no data
        assert answer(b, web) == ["127.0.0.1"]
        assert answer(b, f"_80._tcp.{web}", "SRV") == [f"0 10 {host_port} {web}"]
        assert answer(b, quiet) == []

        # the explain view says why, for the same clients
        seen = get(b, f"/v1/records/web?client={ip['outsider']}")
        visible = {x["ip"]: x["visible"] for x in seen["endpoints"][0]["addresses"]}
        assert visible == {ip["web"]: False, "127.0.0.1": True}
        seen = get(b, f"/v1/records/quiet?client={ip['outsider']}")
        assert seen["answer"] == [] and seen["exists_for_client"] is False
        assert seen["endpoints"][0]["reason"].startswith("not reachable from this client")
        assert get(b, f"/v1/records/quiet?client={ip['client']}")["answer"] == [ip["quiet"]]

        # no overlay address and no published port: not reachable from other hosts
        engine.docker("run", "-d", "--name", "lonely", *SLEEP)
        wait_for(lambda: (get(b, "/v1/records/lonely") or {}).get("endpoints"), "lonely", a, b)
        [lonely] = get(b, "/v1/records/lonely")["endpoints"]
        assert lonely["reason"] == UNREACHABLE
        assert answer(b, f"lonely.{zone}.") == []
        assert nslookup_a(engine, "client", f"lonely.{zone}.", bhost["ov"]) == []
