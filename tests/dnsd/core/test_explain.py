"""The explain view: names, endpoints, origins, rotation and why, filters. Pure, no sockets."""

from __future__ import annotations

import pytest

from dnsd.core.explain import (
    FAIL_OPEN,
    Filters,
    containers_view,
    explain_name,
    lookup_keys,
    records_view,
)
from registry import (
    Address,
    Endpoint,
    Health,
    NameClaim,
    Origin,
    Port,
    Resync,
    Snapshot,
    UnhealthyPolicy,
)

ZONE = "docker."
SERVE_ALL = UnhealthyPolicy.SERVE_ALL


def container(
    cid: str,
    name: str,
    ip: str,
    *,
    claims: tuple[tuple[str, Origin], ...] = (),
    network: str = "shop_default",
    health: Health = Health.NONE,
    paused: bool = False,
) -> Endpoint:
    return Endpoint(
        source="docker",
        id=cid,
        name=name,
        claims=(NameClaim(name, Origin.CONTAINER_NAME), *(NameClaim(k, o) for k, o in claims)),
        addresses=(Address(ip, network),),
        ports=(Port(80, "tcp", "http"),),
        health=health,
        paused=paused,
        networks=(network,),
    )


def snapshot(*endpoints: Endpoint) -> Snapshot:
    return Snapshot().apply(Resync("docker", endpoints))


def web(cid: str, ip: str, health: Health = Health.NONE, paused: bool = False) -> Endpoint:
    return container(
        cid,
        f"shop-web-{cid[-1]}",
        ip,
        claims=(("web", Origin.COMPOSE_SERVICE),),
        health=health,
        paused=paused,
    )


def rotation_of(view: dict[str, object]) -> dict[str, tuple[bool, str]]:
    endpoints = view["endpoints"]
    assert isinstance(endpoints, list)
    return {e["container"]: (e["in_rotation"], e["reason"]) for e in endpoints}


@pytest.mark.parametrize(
    ("healths", "policy", "expected", "fail_open", "answer"),
    [
        (
            (Health.HEALTHY, Health.UNHEALTHY),
            SERVE_ALL,
            {"shop-web-1": (True, ""), "shop-web-2": (False, "health is unhealthy")},
            False,
            ["10.0.0.1"],
        ),
        (
            (Health.STARTING, Health.UNHEALTHY),
            SERVE_ALL,
            {
                "shop-web-1": (True, f"{FAIL_OPEN} (health is starting)"),
                "shop-web-2": (True, f"{FAIL_OPEN} (health is unhealthy)"),
            },
            True,
            ["10.0.0.1", "10.0.0.2"],
        ),
        (
            (Health.STARTING, Health.UNHEALTHY),
            UnhealthyPolicy.EMPTY,
            {
                "shop-web-1": (False, "health is starting"),
                "shop-web-2": (False, "health is unhealthy"),
            },
            False,
            [],
        ),
        (
            (Health.NONE, Health.NONE),
            SERVE_ALL,
            {"shop-web-1": (True, ""), "shop-web-2": (True, "")},
            False,
            ["10.0.0.1", "10.0.0.2"],
        ),
    ],
)
def test_rotation_and_why(
    healths: tuple[Health, Health],
    policy: UnhealthyPolicy,
    expected: dict[str, tuple[bool, str]],
    fail_open: bool,
    answer: list[str],
) -> None:
    snap = snapshot(web("c1", "10.0.0.1", healths[0]), web("c2", "10.0.0.2", healths[1]))
    view = explain_name(snap, "web", ZONE, policy)
    assert view is not None
    assert rotation_of(view) == expected
    assert view["fail_open"] is fail_open
    assert view["answer"] == answer


def test_paused_stays_out_even_when_failing_open() -> None:
    snap = snapshot(web("c1", "10.0.0.1", Health.UNHEALTHY), web("c2", "10.0.0.2", paused=True))
    view = explain_name(snap, "web", ZONE, SERVE_ALL)
    assert view is not None
    assert rotation_of(view) == {
        "shop-web-1": (True, f"{FAIL_OPEN} (health is unhealthy)"),
        "shop-web-2": (False, "paused"),
    }


def test_endpoint_details_and_origin_of_the_name() -> None:
    snap = snapshot(web("c1", "10.0.0.1", Health.HEALTHY))
    view = explain_name(snap, "web", ZONE, SERVE_ALL)
    assert view is not None
    assert view["fqdn"] == "web.docker."
    endpoints = view["endpoints"]
    assert isinstance(endpoints, list) and len(endpoints) == 1
    endpoint = endpoints[0]
    assert endpoint == {
        "source": "docker",
        "id": "c1",
        "container": "shop-web-1",
        "addresses": [{"ip": "10.0.0.1", "network": "shop_default"}],
        "ports": [{"port": 80, "proto": "tcp", "name": "http"}],
        "health": "healthy",
        "paused": False,
        "project": "",
        "origins": ["compose-service"],
        "in_rotation": True,
        "reason": "",
    }
    by_container_name = explain_name(snap, "shop-web-1", ZONE, SERVE_ALL)
    assert by_container_name is not None
    assert by_container_name["endpoints"][0]["origins"] == ["container-name"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("web", "web"),
        ("WEB", "web"),
        ("web.docker", "web"),
        ("web.docker.", "web"),
        ("Web.Docker.", "web"),
        ("api.internal.", "api.internal."),
        ("api.internal", "api.internal."),
        ("API.internal.docker.", None),
        ("nope", None),
        ("docker.", None),
        ("bad..name", None),
    ],
)
def test_explain_accepts_the_ways_users_type_a_name(typed: str, found: str | None) -> None:
    static = Endpoint(
        "api", "api.internal.", "api.internal.",
        (NameClaim("api.internal.", Origin.STATIC),), (Address("10.9.9.9"),),
    )  # fmt: skip
    snap = snapshot(web("c1", "10.0.0.1")).apply(Resync("api", (static,)))
    view = explain_name(snap, typed, ZONE, SERVE_ALL)
    assert (view["name"] if view else None) == found


def test_lookup_keys_follow_the_records_file_rule_then_the_literal_key() -> None:
    assert lookup_keys("web.shop.docker.", ZONE) == ["web.shop", "web.shop.docker."]
    assert lookup_keys("web.shop", ZONE) == ["web.shop.", "web.shop"]
    assert lookup_keys("bad..name", ZONE) == []


def two_networks() -> Snapshot:
    return snapshot(
        web("aaaa1", "10.0.0.1"),
        container("bbbb2", "db", "10.1.0.2", network="backend"),
    )


@pytest.mark.parametrize(
    ("filters", "names"),
    [
        (Filters(), ["db", "shop-web-1", "web"]),
        (Filters(name="web"), ["web"]),
        (Filters(name="web.docker."), ["web"]),
        (Filters(name="*web*"), ["shop-web-1", "web"]),
        (Filters(name="*.docker."), ["db", "shop-web-1", "web"]),
        (Filters(container="aaaa"), ["shop-web-1", "web"]),
        (Filters(container="db"), ["db"]),
        (Filters(container="zzz"), []),
        (Filters(network="backend"), ["db"]),
        (Filters(network="shop_default", name="web"), ["web"]),
    ],
)
def test_record_filters(filters: Filters, names: list[str]) -> None:
    views = records_view(two_networks(), ZONE, SERVE_ALL, filters)
    assert [v["name"] for v in views] == names


def test_containers_view_lists_every_name_with_its_origin() -> None:
    views = containers_view(two_networks(), Filters(network="shop_default"))
    assert [(v["container"], v["names"], v["networks"]) for v in views] == [
        (
            "shop-web-1",
            [
                {"name": "shop-web-1", "origin": "container-name"},
                {"name": "web", "origin": "compose-service"},
            ],
            ["shop_default"],
        )
    ]
