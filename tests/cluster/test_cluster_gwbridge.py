"""Cross-host: an overlay client asking its host's dnsd over docker_gwbridge gets another host's
container on that overlay, through real etcd.

Two private swarm engines stand for two hosts (tests/swarm_engine.py; names `gwbridge-a` and
`gwbridge-b`: their own sockets, data roots, bridges and swarm ports), each with an attachable
overlay `ov`. Host A runs `web2` on `ov` and dnsd "a" (watching engine A, publishing through the
module's real three-member etcd cluster). Host B runs `client` on `ov` and dnsd "b", watching
engine B, listening on B's docker_gwbridge gateway. `client` asks b with busybox nslookup; its
query leaves through docker_gwbridge, so b sees its docker_gwbridge address and must recognise it
as `client` (from engine B's docker_gwbridge inspect) to give it web2's overlay address, which b
knows only from a's publication. The host (on no overlay) is not given it. Not real: the two
swarms are separate, joined by the overlay's name only (one machine cannot hold two members of
one swarm here), so the address is checked, not routed to. No timing assertions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.conftest import LEASE_TTL, NodeFactory, answer, wait_for
from tests.cluster.etcd_cluster import EtcdCluster
from tests.serve_process import dnsd_serve, free_port, http_json
from tests.swarm_engine import IMAGE, Place, PrivateSwarm, nslookup_a, swarm_or_skip

pytestmark = pytest.mark.docker

HOST_A = Place("gwbridge-a", bridge="dnsd-gwa-gw", default_bridge="dnsd-gwa0", swarm_port=23781,
               data_path_port=47901)  # fmt: skip
HOST_B = Place("gwbridge-b", bridge="dnsd-gwc-gw", default_bridge="dnsd-gwc0", swarm_port=23782,
               data_path_port=47902)  # fmt: skip
SLEEP = (IMAGE, "sleep", "600")


@pytest.fixture(scope="module")
def engine_a(test_image: str) -> Iterator[PrivateSwarm]:
    yield from swarm_or_skip(HOST_A)


@pytest.fixture(scope="module")
def engine_b(test_image: str) -> Iterator[PrivateSwarm]:
    yield from swarm_or_skip(HOST_B)


def test_an_overlay_client_on_docker_gwbridge_gets_another_hosts_overlay_address(
    engine_a: PrivateSwarm,
    engine_b: PrivateSwarm,
    etcd: EtcdCluster,
    node: NodeFactory,
    zone: str,
    tmp_path: Path,
) -> None:
    for engine in (engine_a, engine_b):
        engine.docker("network", "create", "-d", "overlay", "--attachable", "ov")
    engine_a.docker("run", "-d", "--name", "web2", "--network", "ov", *SLEEP)
    engine_b.docker("run", "-d", "--name", "client", "--network", "ov", *SLEEP)
    web2 = engine_a.container_ips("web2")[1]["ov"]
    client_gw = engine_b.container_ips("client")[1]["docker_gwbridge"]
    gateway = engine_b.gateway
    port = free_port(gateway)
    flags = [
        "--domain", zone, "--node", "b", "--advertise-ip", "127.0.0.1",
        "--cluster-etcd", etcd.endpoints, "--cluster-lease-ttl", str(LEASE_TTL),
        "--docker", "--docker-url", HOST_B.url, "--swarm", "off", "--upstream", "127.0.0.1:9",
    ]  # fmt: skip
    with (
        node("a", "--docker", "--docker-url", HOST_A.url, "--swarm", "off") as a,
        dnsd_serve(flags, tmp_path, host=gateway, http=True, port=port) as b,
    ):

        def knows_web2() -> bool:
            view = http_json(b, f"/v1/records/web2?client={client_gw}") or {}
            return view.get("answer") == [web2]

        wait_for(knows_web2, "b gives client a's web2", a, b)
        who = http_json(b, f"/v1/records/web2?client={client_gw}")["client"]["recognised_as"]
        assert (who["how"], who["container"]) == ("client-address", "client"), who

        assert nslookup_a(engine_b, "client", f"web2.{zone}.", f"{gateway}:{port}") == [web2]
        assert answer(b, f"web2.{zone}.") in (None, [])  # the host: no overlay to route by
