"""Registry behaviour as tables: names, events, rotation inputs, health, client views."""

from __future__ import annotations

import pytest

from registry import (
    Address,
    Endpoint,
    Health,
    NameClaim,
    Origin,
    Port,
    Remove,
    Resync,
    Snapshot,
    Store,
    UnhealthyPolicy,
    Upsert,
    name_key,
)


def ep(
    id: str,
    names: tuple[str, ...],
    ips: tuple[tuple[str, str], ...],
    *,
    source: str = "docker",
    health: Health = Health.NONE,
    paused: bool = False,
    project: str = "",
    ports: tuple[Port, ...] = (),
    origin: Origin = Origin.CONTAINER_NAME,
) -> Endpoint:
    return Endpoint(
        source=source,
        id=id,
        name=names[0],
        claims=tuple(NameClaim(n, origin) for n in names),
        addresses=tuple(Address(ip, net) for ip, net in ips),
        health=health,
        paused=paused,
        project=project,
        ports=ports,
    )


def snap(*endpoints: Endpoint) -> Snapshot:
    s = Snapshot()
    for e in endpoints:
        s = s.apply(Upsert(e))
    return s


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Web", "web"),
        ("web.Shop", "web.shop"),
        ("API.internal.", "api.internal."),
        ("_http._tcp.web", "_http._tcp.web"),
    ],
)
def test_name_key_normalises(raw: str, key: str) -> None:
    assert name_key(raw) == key


@pytest.mark.parametrize("bad", ["", ".", "a..b", "-a", "a b", "x" * 64])
def test_name_key_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        name_key(bad)


def test_several_endpoints_share_a_name() -> None:
    s = snap(ep("a", ("web",), (("10.0.0.2", "n"),)), ep("b", ("web",), (("10.0.0.3", "n"),)))
    assert set(s.resolve("web").addresses) == {"10.0.0.2", "10.0.0.3"}


def test_unknown_name_does_not_exist() -> None:
    assert not snap().resolve("nope").exists


def test_remove_and_versions() -> None:
    s1 = snap(ep("a", ("web",), (("10.0.0.2", "n"),)))
    s2 = s1.apply(Remove("docker", "a"))
    assert s2.version == s1.version + 1
    assert not s2.resolve("web").exists
    assert s2.apply(Remove("docker", "a")) is s2  # removing nothing changes nothing


def test_resync_replaces_only_its_own_source() -> None:
    s = snap(
        ep("a", ("web",), (("10.0.0.2", "n"),)),
        ep("line-1", ("static",), (("10.9.0.1", "s"),), source="file:x"),
    )
    s = s.apply(Resync("docker", (ep("b", ("api",), (("10.0.0.4", "n"),)),)))
    assert not s.resolve("web").exists
    assert s.resolve("api").addresses == ("10.0.0.4",)
    assert s.resolve("static").addresses == ("10.9.0.1",)


def test_resync_rejects_foreign_endpoints() -> None:
    with pytest.raises(ValueError):
        Snapshot().apply(Resync("docker", (ep("x", ("a",), (), source="api"),)))


@pytest.mark.parametrize(
    ("healths", "policy", "expected"),
    [
        ((Health.HEALTHY, Health.UNHEALTHY), UnhealthyPolicy.SERVE_ALL, {"10.0.0.1"}),
        ((Health.HEALTHY, Health.STARTING), UnhealthyPolicy.EMPTY, {"10.0.0.1"}),
        ((Health.UNHEALTHY, Health.STARTING), UnhealthyPolicy.SERVE_ALL, {"10.0.0.1", "10.0.0.2"}),
        ((Health.UNHEALTHY, Health.STARTING), UnhealthyPolicy.EMPTY, set()),
        ((Health.NONE, Health.UNHEALTHY), UnhealthyPolicy.EMPTY, {"10.0.0.1"}),
    ],
)
def test_health_decides_rotation(
    healths: tuple[Health, Health], policy: UnhealthyPolicy, expected: set[str]
) -> None:
    s = snap(
        ep("a", ("web",), (("10.0.0.1", "n"),), health=healths[0]),
        ep("b", ("web",), (("10.0.0.2", "n"),), health=healths[1]),
    )
    result = s.resolve("web", policy=policy)
    assert result.exists
    assert set(result.addresses) == expected


def test_paused_endpoints_leave_rotation_even_when_failing_open() -> None:
    s = snap(
        ep("a", ("web",), (("10.0.0.1", "n"),), paused=True),
        ep("b", ("web",), (("10.0.0.2", "n"),), health=Health.UNHEALTHY),
    )
    assert s.resolve("web").addresses == ("10.0.0.2",)


def test_client_on_a_shared_network_sees_only_that_network() -> None:
    target = ep("t", ("db",), (("10.1.0.5", "front"), ("10.2.0.5", "back")))
    client = ep("c", ("app",), (("10.2.0.9", "back"),))
    s = snap(target, client)
    assert s.resolve("db", client_ip="10.2.0.9").addresses == ("10.2.0.5",)
    assert set(s.resolve("db").addresses) == {"10.1.0.5", "10.2.0.5"}
    assert set(s.resolve("db", client_ip="127.0.0.1").addresses) == {"10.1.0.5", "10.2.0.5"}


def test_bare_service_name_prefers_the_clients_project() -> None:
    shop = ep("s", ("web",), (("10.0.0.1", "n"),), project="shop", origin=Origin.COMPOSE_SERVICE)
    blog = ep("b", ("web",), (("10.0.0.2", "n"),), project="blog", origin=Origin.COMPOSE_SERVICE)
    client = ep("c", ("cli",), (("10.0.0.9", "n"),), project="blog")
    s = snap(shop, blog, client)
    assert s.resolve("web", client_ip="10.0.0.9").addresses == ("10.0.0.2",)
    assert set(s.resolve("web").addresses) == {"10.0.0.1", "10.0.0.2"}


def test_srv_and_reverse() -> None:
    web = ep(
        "a",
        ("web-1", "web"),
        (("10.0.0.2", "n"), ("fd00::2", "n")),
        ports=(Port(80, "tcp", "http"), Port(53, "udp")),
    )
    s = snap(web)
    (record,) = s.resolve_srv("_http._tcp.web")
    assert (record.target, record.port) == ("web-1", 80)
    assert s.resolve_srv("_53._udp.web-1")[0].port == 53
    assert s.has_name("_http._tcp.web")
    endpoint = s.endpoint_at("fd00:0::2")
    assert endpoint is not None and endpoint.name == "web-1"


def test_store_notifies_subscribers() -> None:
    store = Store()
    seen: list[int] = []
    unsubscribe = store.subscribe(lambda snapshot, event: seen.append(snapshot.version))
    store.apply(Upsert(ep("a", ("web",), (("10.0.0.2", "n"),))))
    store.apply(Remove("docker", "missing"))  # no change, no notification
    unsubscribe()
    store.apply(Remove("docker", "a"))
    assert seen == [1]
    assert store.snapshot.version == 2
