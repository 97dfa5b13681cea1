"""Client-only addresses as tables: a container known by its docker_gwbridge address asks like
the container itself (its networks, its Compose project), and that address is never answered.

A Swarm container attached to an overlay that sends DNS to the host leaves through
docker_gwbridge: its queries come from an address its inspect does not list. Here `client` is on
the overlay `ov` only, `web` too, `remote` is another node's container on `ov`, `outsider` is on
the local network `back` only, and `api` is a Compose service in two projects.
"""

from __future__ import annotations

import pytest

from registry import (
    Address,
    ClientView,
    Endpoint,
    NameClaim,
    Network,
    Networks,
    Origin,
    Port,
    Recognised,
    Remove,
    Scope,
    Snapshot,
    Upsert,
)
from registry.keys import identity_ips

GW = "docker_gwbridge"
NETWORKS = (
    Network(GW, ("172.18.0.0/16",), ("172.18.0.1",)),
    Network("ov", ("10.0.9.0/24",), ("10.0.9.1",)),
    Network("back", ("10.2.0.0/16",), ("10.2.0.1",)),
)
HTTP = (Port(80, "tcp", "http"),)


def ep(
    name: str,
    ip: str,
    network: str,
    gw: str = "",
    *,
    project: str = "",
    source: str = "docker",
    service: str = "",
) -> Endpoint:
    scope = Scope.OVERLAY if network == "ov" else Scope.LOCAL
    claims = [NameClaim(name, Origin.CONTAINER_NAME)]
    claims += [NameClaim(service, Origin.COMPOSE_SERVICE)] if service else []
    return Endpoint(
        source=source,
        id=f"id-{name}",
        name=name,
        claims=tuple(claims),
        addresses=(Address(ip, network, scope),),
        ports=HTTP,
        project=project,
        networks=(network,),
        client_addresses=(Address(gw, GW),) if gw else (),
        node="b" if source.startswith("cluster:") else "",
    )


CLIENT = ep("client", "10.0.9.7", "ov", "172.18.0.7", project="shop")
ENDPOINTS = (
    CLIENT,
    ep("web", "10.0.9.5", "ov", "172.18.0.5"),
    ep("remote", "10.0.9.20", "ov", source="cluster:b"),
    ep("outsider", "10.2.0.5", "back"),
    ep("api-shop", "10.0.9.30", "ov", "172.18.0.30", project="shop", service="api"),
    ep("api-blog", "10.0.9.31", "ov", "172.18.0.31", project="blog", service="api"),
)
GW_IPS = {"172.18.0.7", "172.18.0.5", "172.18.0.30", "172.18.0.31"}


def build(endpoints: tuple[Endpoint, ...] = ENDPOINTS) -> Snapshot:
    snapshot = Snapshot().apply(Networks("docker", NETWORKS))
    for endpoint in endpoints:
        snapshot = snapshot.apply(Upsert(endpoint))
    return snapshot


SNAP = build()
BULK = Snapshot({e.ref: e for e in ENDPOINTS}).apply(Networks("docker", NETWORKS))


@pytest.mark.parametrize("snapshot", [SNAP, BULK], ids=["one-by-one", "bulk"])
@pytest.mark.parametrize(
    ("client_ip", "view"),
    [
        ("172.18.0.7", ClientView(frozenset({"ov"}), "shop")),  # by its gwbridge address
        ("10.0.9.7", ClientView(frozenset({"ov"}), "shop")),  # by its own: the same view
        ("172.18.0.99", ClientView(frozenset({GW}))),  # nobody's yet: docker_gwbridge's subnet
        ("172.18.0.1", ClientView()),  # the host on docker_gwbridge: the full view
    ],
)
def test_who_a_client_is(snapshot: Snapshot, client_ip: str, view: ClientView) -> None:
    assert snapshot.view_of(client_ip) == view


@pytest.mark.parametrize(
    ("client_ip", "name", "addresses", "exists"),
    [
        ("172.18.0.7", "web", ("10.0.9.5",), True),  # the overlay address, never 172.18.0.5
        ("172.18.0.7", "remote", ("10.0.9.20",), True),  # another host's, on the shared overlay
        ("172.18.0.7", "outsider", (), False),  # isolated: no shared network
        ("172.18.0.7", "api", ("10.0.9.30",), True),  # its own Compose project first
        ("172.18.0.31", "api", ("10.0.9.31",), True),
        ("172.18.0.99", "web", (), False),  # unknown gwbridge address: nothing scoped
        ("172.18.0.1", "remote", (), True),  # the host cannot route to an overlay: no data
        ("172.18.0.1", "outsider", ("10.2.0.5",), True),
    ],
)
def test_what_a_client_is_given(
    client_ip: str, name: str, addresses: tuple[str, ...], exists: bool
) -> None:
    found = SNAP.resolve(name, client_ip)
    assert (found.addresses, found.exists) == (addresses, exists)


@pytest.mark.parametrize("client_ip", [None, "172.18.0.7", "10.0.9.7", "172.18.0.1", "10.2.0.9"])
def test_client_addresses_are_never_answered(client_ip: str | None) -> None:
    given: set[str] = set()
    for key in SNAP.names():
        given.update(SNAP.resolve(key, client_ip).addresses)
        for record in SNAP.resolve_srv(f"_http._tcp.{key}", client_ip):
            given.update(SNAP.addresses_of(record.endpoint, client_ip))
    assert given and not given & GW_IPS
    for ip in GW_IPS:  # PTR: nobody owns them
        assert SNAP.endpoint_at(ip) is None


@pytest.mark.parametrize(
    ("client_ip", "how", "container", "networks"),
    [
        ("172.18.0.7", Recognised.CLIENT_ADDRESS, "client", (GW,)),
        ("10.0.9.7", Recognised.ADDRESS, "client", ("ov",)),
        ("172.18.0.99", Recognised.SUBNET, None, (GW,)),
    ],
)
def test_how_a_client_was_recognised(
    client_ip: str, how: Recognised, container: str | None, networks: tuple[str, ...]
) -> None:
    found = SNAP.recognise(client_ip)
    assert found is not None
    assert (found.how, found.endpoint and found.endpoint.name, found.networks) == (
        how,
        container,
        networks,
    )


def test_nobody_in_particular_is_not_recognised() -> None:
    assert SNAP.recognise("172.18.0.1") is None  # the gateway: the host
    assert SNAP.recognise("192.0.2.9") is None


def test_the_address_follows_the_endpoint() -> None:
    moved = ep("client", "10.0.9.7", "ov", "172.18.0.8", project="shop")
    after = SNAP.apply(Upsert(moved))
    assert after.view_of("172.18.0.8") == ClientView(frozenset({"ov"}), "shop")
    assert after.view_of("172.18.0.7") == ClientView(frozenset({GW}))  # nobody's any more
    gone = after.apply(Remove("docker", "id-client"))
    assert gone.client_at("172.18.0.8") is None
    assert SNAP.client_at("172.18.0.7") == CLIENT  # the older snapshot is untouched


def test_identity_addresses_are_own_and_client_ones() -> None:
    assert identity_ips(CLIENT) == ("10.0.9.7", "172.18.0.7")
