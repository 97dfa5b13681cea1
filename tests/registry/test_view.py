"""The isolation rule as tables: who a client is, and what it may be given (A, SRV, PTR)."""

from __future__ import annotations

import pytest

from registry import (
    Address,
    ClientView,
    Endpoint,
    Health,
    NameClaim,
    Network,
    Networks,
    Origin,
    Port,
    Snapshot,
    Upsert,
)

NETWORKS = (
    Network("front", ("10.1.0.0/16",), ("10.1.0.1",)),
    Network("back", ("10.2.0.0/16", "fd00:2::/64"), ("10.2.0.1", "fd00:2::1")),
    Network("bridge", ("172.17.0.0/16",), ("172.17.0.1",)),
)


def ep(
    name: str,
    *ips: tuple[str, str],
    project: str = "",
    claims: tuple[tuple[str, Origin], ...] = (),
    health: Health = Health.NONE,
    ports: tuple[Port, ...] = (),
) -> Endpoint:
    return Endpoint(
        source="docker",
        id=f"id-{name}",
        name=name,
        claims=(NameClaim(name, Origin.CONTAINER_NAME), *(NameClaim(k, o) for k, o in claims)),
        addresses=tuple(Address(ip, net) for ip, net in ips),
        project=project,
        health=health,
        ports=ports,
    )


ENDPOINTS = (
    ep("a1", ("10.1.0.5", "front"), ports=(Port(80, "tcp", "http"),)),
    ep("b1", ("10.2.0.5", "back"), ("fd00:2::5", "back"), ports=(Port(80, "tcp", "http"),)),
    ep("ab", ("10.1.0.6", "front"), ("10.2.0.6", "back")),
    ep("legacy", ("10.9.9.9", "")),  # a static record: no network
    ep("hostnet", ("172.17.0.1", "host")),  # host networking answers the host's address
    ep("client-front", ("10.1.0.9", "front"), project="shop"),
    ep("client-bridge", ("172.17.0.9", "bridge")),
)


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    s = Snapshot().apply(Networks("docker", NETWORKS))
    for endpoint in ENDPOINTS:
        s = s.apply(Upsert(endpoint))
    return s


@pytest.mark.parametrize(
    ("client_ip", "networks"),
    [
        ("10.1.0.9", frozenset({"front"})),  # a known container
        ("10.2.0.77", frozenset({"back"})),  # not registered yet, inside back's subnet
        ("fd00:2::77", frozenset({"back"})),
        ("::ffff:10.2.0.77", frozenset({"back"})),  # IPv4-mapped
        ("172.17.0.9", frozenset({"bridge"})),  # the default bridge is a network like any
        ("10.1.0.1", None),  # front's gateway: the host itself
        ("172.17.0.1", None),  # the host (also a host-network container's address)
        ("127.0.0.1", None),
        ("192.168.5.5", None),  # another machine
        ("not-an-ip", None),
    ],
)
def test_client_view(snapshot: Snapshot, client_ip: str, networks: frozenset[str] | None) -> None:
    assert snapshot.view_of(client_ip).networks == networks


def test_a_known_compose_client_carries_its_project(snapshot: Snapshot) -> None:
    assert snapshot.view_of("10.1.0.9") == ClientView(frozenset({"front"}), "shop")
    assert snapshot.view_of(None) == ClientView()


FULL = {"a1", "b1", "ab", "legacy", "hostnet"}
EVERY = {
    "a1": ("10.1.0.5",),
    "b1": ("10.2.0.5", "fd00:2::5"),
    "ab": ("10.1.0.6", "10.2.0.6"),
    "legacy": ("10.9.9.9",),
    "hostnet": ("172.17.0.1",),
}


@pytest.mark.parametrize(
    ("client_ip", "name", "addresses"),
    [
        # known container on front
        ("10.1.0.9", "a1", ("10.1.0.5",)),
        ("10.1.0.9", "b1", None),
        ("10.1.0.9", "ab", ("10.1.0.6",)),
        ("10.1.0.9", "legacy", ("10.9.9.9",)),
        ("10.1.0.9", "hostnet", ("172.17.0.1",)),
        # first instant on back: scoped by the subnet
        ("10.2.0.77", "a1", None),
        ("10.2.0.77", "b1", ("10.2.0.5", "fd00:2::5")),
        ("10.2.0.77", "ab", ("10.2.0.6",)),
        # the default bridge shares nothing with front/back
        ("172.17.0.9", "a1", None),
        ("172.17.0.9", "ab", None),
        ("172.17.0.9", "legacy", ("10.9.9.9",)),
        # unknown clients outside every network, and gateways: the full view
        *[(ip, name, EVERY[name]) for ip in ("127.0.0.1", "10.2.0.1", "8.8.8.8") for name in FULL],
    ],
)
def test_visible_addresses(
    snapshot: Snapshot, client_ip: str, name: str, addresses: tuple[str, ...] | None
) -> None:
    found = snapshot.resolve(name, client_ip)
    if addresses is None:
        assert (found.exists, found.hidden, found.addresses) == (False, True, ())
    else:
        assert (found.exists, found.hidden, found.addresses) == (True, False, addresses)


@pytest.mark.parametrize(
    ("client_ip", "srv", "targets"),
    [
        ("10.1.0.9", "_http._tcp.a1", ["a1"]),
        ("10.1.0.9", "_http._tcp.b1", None),
        ("10.2.0.77", "_http._tcp.b1", ["b1"]),
        ("172.17.0.9", "_http._tcp.a1", None),
        ("127.0.0.1", "_http._tcp.b1", ["b1"]),
    ],
)
def test_srv_follows_the_rule(
    snapshot: Snapshot, client_ip: str, srv: str, targets: list[str] | None
) -> None:
    records = snapshot.resolve_srv(srv, client_ip)
    assert [r.target for r in records] == (targets or [])
    assert snapshot.resolve(srv, client_ip).hidden is (targets is None)


@pytest.mark.parametrize(
    ("client_ip", "address", "owner"),
    [
        ("10.1.0.9", "10.1.0.6", "ab"),
        ("10.1.0.9", "10.2.0.6", None),  # ab's address on back: not for a front client
        ("10.1.0.9", "10.2.0.5", None),
        ("10.2.0.77", "10.2.0.6", "ab"),
        ("10.1.0.9", "10.9.9.9", "legacy"),
        ("127.0.0.1", "10.2.0.6", "ab"),
    ],
)
def test_ptr_follows_the_rule(
    snapshot: Snapshot, client_ip: str, address: str, owner: str | None
) -> None:
    found = snapshot.endpoint_at(address, snapshot.view_of(client_ip))
    assert (found.name if found else None) == owner


def test_visibility_comes_before_health() -> None:
    """A client is given its reachable replica even when only an unreachable one is healthy."""
    s = Snapshot().apply(Networks("docker", NETWORKS))
    sick = ep("x", ("10.1.0.20", "front"), claims=(("svc", Origin.ALIAS),), health=Health.STARTING)
    well = ep("y", ("10.2.0.20", "back"), claims=(("svc", Origin.ALIAS),), health=Health.HEALTHY)
    for endpoint in (sick, well, ep("c", ("10.1.0.9", "front"))):
        s = s.apply(Upsert(endpoint))
    assert s.resolve("svc", "10.1.0.9").addresses == ("10.1.0.20",)  # fail-open among visible
    assert s.resolve("svc", "127.0.0.1").addresses == ("10.2.0.20",)


def test_own_project_first_when_the_service_name_is_also_an_alias() -> None:
    """Compose adds the service name as a network alias too: every origin counts."""
    both = (("web", Origin.ALIAS), ("web", Origin.COMPOSE_SERVICE))
    s = Snapshot().apply(Networks("docker", NETWORKS))
    for endpoint in (
        ep("shop-web-1", ("10.1.0.21", "front"), project="shop", claims=both),
        ep("other-web-1", ("10.1.0.22", "front"), project="other", claims=both),
        ep("shop-cli", ("10.1.0.23", "front"), project="shop"),
    ):
        s = s.apply(Upsert(endpoint))
    assert s.resolve("web", "10.1.0.23").addresses == ("10.1.0.21",)
    assert set(s.resolve("web", "10.1.0.99").addresses) == {"10.1.0.21", "10.1.0.22"}


def test_networks_are_data_in_the_snapshot() -> None:
    s = Snapshot().apply(Networks("docker", NETWORKS))
    assert s.networks() == NETWORKS
    assert s.subnets() == {"10.1.0.0/16", "10.2.0.0/16", "fd00:2::/64", "172.17.0.0/16"}
    again = s.apply(Networks("docker", NETWORKS))
    assert again is s  # an unchanged listing is not a change
    after = s.apply(Upsert(ENDPOINTS[0]))
    assert after.subnets() is s.subnets()  # endpoint events keep the same subnet set
    gone = after.apply(Networks("docker", ()))
    assert gone.subnets() == frozenset()
    assert gone.view_of("10.1.0.50").networks is None
