"""The cluster value format as tables: what a node publishes, what another node makes of it,
and every kind of bad value being refused with a reason."""

from __future__ import annotations

import json

import pytest

from registry import Address, Endpoint, Health, NameClaim, Origin, Port, Scope, Snapshot, Upsert
from registry.model import UNREACHABLE
from watchers.cluster.codec import (
    MAX_VALUE_BYTES,
    BadValue,
    decode,
    encode,
    endpoint_key,
    split_key,
    with_node,
)

ZONE = "docker."


def local(ports: tuple[Port, ...] = (), addresses: tuple[Address, ...] = ()) -> Endpoint:
    return Endpoint(
        source="docker",
        id="c0ffee",
        name="shop-web-1",
        claims=(
            NameClaim("shop-web-1", Origin.CONTAINER_NAME),
            NameClaim("web", Origin.COMPOSE_SERVICE),
            NameClaim("api.internal.", Origin.LABEL),
        ),
        addresses=addresses or (Address("172.18.0.5", "shop_default"),),
        ports=ports,
        health=Health.HEALTHY,
        project="shop",
    )


def roundtrip(ep: Endpoint, advertise: str = "192.0.2.10") -> Endpoint:
    return decode(encode(with_node(ep, "a"), advertise), "a", "docker/c0ffee")


def test_keys_are_versioned_per_zone_node_source_and_id() -> None:
    key = endpoint_key(ZONE, "a", "file:/etc/x.hosts", "line-1")
    assert key == "/dnsd/v1/docker/nodes/a/file%3A%2Fetc%2Fx.hosts/line-1"
    assert split_key(ZONE, key) == ("a", "file%3A%2Fetc%2Fx.hosts/line-1")
    assert split_key(ZONE, "/dnsd/v1/other/nodes/a/x/y") is None


def test_local_endpoints_also_answer_under_their_node() -> None:
    ep = with_node(local(), "a")
    keys = {(c.key, c.origin) for c in ep.claims}
    assert ("web.a", Origin.NODE) in keys and ("shop-web-1.a", Origin.NODE) in keys
    assert ("api.internal..a", Origin.NODE) not in keys  # absolute names stay as they are
    assert ep.node == "a"


def test_remote_published_port_is_answered_with_the_node_address_and_host_port() -> None:
    ep = roundtrip(local(ports=(Port(80, "tcp", "http", 8080, "0.0.0.0"),)))
    assert ep.source == "cluster:a" and ep.node == "a"
    assert ep.addresses == (Address("192.0.2.10", "", Scope.HOST),)
    assert ep.ports == (Port(8080, "tcp", "http", 8080, "0.0.0.0"),)
    snap = Snapshot().apply(Upsert(ep))
    assert snap.resolve("web").addresses == ("192.0.2.10",)
    assert snap.resolve("web.a").addresses == ("192.0.2.10",)
    assert [r.port for r in snap.resolve_srv("_http._tcp.web")] == [8080]
    assert not snap.has_name("api.internal.")  # absolute names are not published
    assert snap.endpoint_at("192.0.2.10") is None  # a node address identifies no container


@pytest.mark.parametrize(
    ("host_ip", "published"),
    [("0.0.0.0", True), ("", True), ("::", True), ("192.0.2.10", True), ("127.0.0.1", False)],
)
def test_only_bindings_other_hosts_can_reach_count(host_ip: str, published: bool) -> None:
    ep = roundtrip(local(ports=(Port(80, "tcp", "", 8080, host_ip),)))
    assert bool(ep.ports) is published
    assert [p.service_label for p in ep.ports] == (["_80"] if published else [])


def test_remote_without_overlay_or_published_port_is_listed_but_not_answered() -> None:
    ep = roundtrip(local())
    assert ep.addresses == () and not ep.reachable
    assert ep.out_of_rotation_reason() == UNREACHABLE
    snap = Snapshot().apply(Upsert(ep))
    resolution = snap.resolve("web")
    assert resolution.exists and resolution.addresses == ()


def test_overlay_addresses_only_for_clients_on_that_network() -> None:
    overlay = (Address("10.0.9.5", "ov", Scope.OVERLAY), Address("172.18.0.5", "br"))
    remote = roundtrip(local(addresses=overlay))
    assert remote.addresses == (Address("10.0.9.5", "ov", Scope.OVERLAY),)
    client = Endpoint("docker", "cli", "cli", (NameClaim("cli", Origin.CONTAINER_NAME),),
                      (Address("10.0.9.7", "ov", Scope.OVERLAY),))  # fmt: skip
    snap = Snapshot().apply(Upsert(remote)).apply(Upsert(client))
    assert snap.resolve("web", "10.0.9.7").addresses == ("10.0.9.5",)
    assert snap.resolve("web", "172.17.0.9").addresses == ()
    assert snap.resolve("web").addresses == ()


def value(**changes: object) -> bytes:
    body: dict[str, object] = json.loads(encode(local(), "192.0.2.10"))
    body.update(changes)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("raw", "node", "reason"),
    [
        (b"{not json", "a", "not JSON"),
        (b"[]", "a", "not a format-1"),
        (value(v=2), "a", "not a format-1"),
        (b" " * (MAX_VALUE_BYTES + 1), "a", "over the limit"),
        (value(name="evil.example."), "a", "outside the zone"),
        (value(names=[{"name": "x.evil.", "origin": "label"}]), "a", "outside the zone"),
        (value(names=[{"name": "bad name", "origin": "label"}]), "a", "not a DNS name"),
        (value(names=[{"name": "x", "origin": "node"}]), "a", "derived"),
        (value(names=[{"name": f"n{i}", "origin": "label"} for i in range(65)]), "a", "at most 64"),
        (
            value(addresses=[{"ip": "300.1.1.1", "network": "n", "scope": "local"}]),
            "a",
            "300.1.1.1",
        ),
        (value(addresses=[{"ip": "10.0.0.1", "network": "n", "scope": "galaxy"}]), "a", "scope"),
        (value(ports=[{"port": 70000, "host_port": 1}]), "a", "0-65535"),
        (value(ports=[{"port": 80, "proto": "icmp"}]), "a", "protocol"),
        (value(host="not-an-ip"), "a", "not-an-ip"),
        (value(health="sick"), "a", "sick"),
        (value(paused="yes"), "a", "paused"),
        (value(), "Bad.Node", "node name"),
    ],
)
def test_bad_values_are_refused_with_a_reason(raw: bytes, node: str, reason: str) -> None:
    with pytest.raises(BadValue, match=reason):
        decode(raw, node, "docker/x")
