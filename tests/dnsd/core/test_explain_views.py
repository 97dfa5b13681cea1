"""The explain view for one client: the same rule as DNS answers, and Docker's own answers."""

from __future__ import annotations

import pytest

from dnsd.client import explain_text
from dnsd.core.explain import client_view_of, explain_name, record_view
from registry import (
    Address,
    ClientView,
    Endpoint,
    NameClaim,
    Network,
    Networks,
    Origin,
    Resync,
    Scope,
    Snapshot,
    UnhealthyPolicy,
    Upsert,
)

POLICY = UnhealthyPolicy.SERVE_ALL
WEB = (("web", Origin.ALIAS), ("web", Origin.COMPOSE_SERVICE))


def ep(name: str, *ips: tuple[str, str], claims: tuple[tuple[str, Origin], ...] = ()) -> Endpoint:
    return Endpoint(
        "docker", f"{name}-0123456789", name,
        (NameClaim(name, Origin.CONTAINER_NAME), *(NameClaim(k, o) for k, o in claims)),
        tuple(Address(ip, net) for ip, net in ips),
    )  # fmt: skip


def build() -> Snapshot:
    snapshot = Snapshot().apply(
        Networks(
            "docker",
            (
                Network("front", ("10.1.0.0/16",), ("10.1.0.1",)),
                Network("back", ("10.2.0.0/16",), ("10.2.0.1",)),
                Network("bridge", ("172.17.0.0/16",), ("172.17.0.1",)),
            ),
        )
    )
    for endpoint in (
        ep("web-1", ("10.1.0.5", "front"), claims=WEB),
        ep("web-2", ("10.2.0.5", "back"), claims=WEB),
        ep("cli", ("10.1.0.9", "front")),
        ep("old", ("172.17.0.4", "bridge")),
    ):
        snapshot = snapshot.apply(Upsert(endpoint))
    return snapshot


SNAP = build()


def entries(view: dict[str, object]) -> list[dict[str, object]]:
    found = view["endpoints"]
    assert isinstance(found, list)
    return [e for e in found if isinstance(e, dict)]


@pytest.mark.parametrize(
    ("text", "networks"),
    [
        ("", None),
        ("cli", frozenset({"front"})),
        ("CLI", frozenset({"front"})),
        ("cli-0123", frozenset({"front"})),  # an id prefix
        ("10.2.0.44", frozenset({"back"})),  # an address not registered yet
        ("127.0.0.1", None),
    ],
)
def test_client_named_by_container_id_or_address(text: str, networks: object) -> None:
    view = client_view_of(SNAP, text)
    assert view is not None and view.networks == networks


def test_unknown_client_is_none() -> None:
    assert client_view_of(SNAP, "nobody") is None


def test_a_client_sees_what_dns_gives_it() -> None:
    view = record_view(SNAP, "web", "docker.", POLICY, view=ClientView(frozenset({"front"})))
    assert view is not None
    assert view["answer"] == ["10.1.0.5"]
    assert view["client"] == {"networks": ["front"], "project": ""}
    assert view["exists_for_client"] is True
    reasons = {e["container"]: (e["in_rotation"], e["reason"]) for e in entries(view)}
    assert reasons == {
        "web-1": (True, ""),
        "web-2": (False, "not reachable from this client (no shared network)"),
    }
    hidden = record_view(SNAP, "web", "docker.", POLICY, view=ClientView(frozenset({"bridge"})))
    assert hidden is not None and hidden["answer"] == [] and hidden["exists_for_client"] is False
    assert "NXDOMAIN" in explain_text(hidden)


def test_every_origin_is_listed_and_docker_answering_itself_is_flagged() -> None:
    view = explain_name(SNAP, "web", "docker.", POLICY)
    assert view is not None
    assert [e["origins"] for e in entries(view)] == [
        ["network-alias", "compose-service"],
        ["network-alias", "compose-service"],
    ]
    assert view["docker_answers_bare_name_on"] == ["back", "front"]
    text = explain_text(view)
    assert "warning: on back, front Docker's embedded DNS (127.0.0.11) answers 'web'" in text
    assert "ask 'web.docker.'" in text
    on_bridge = explain_name(SNAP, "old", "docker.", POLICY)
    assert on_bridge is not None and on_bridge["docker_answers_bare_name_on"] == []
    assert "warning" not in explain_text(on_bridge)


def remote(name: str, *addresses: Address) -> Endpoint:
    return Endpoint(
        "cluster:b", name, name, (NameClaim("api", Origin.COMPOSE_SERVICE),), addresses, node="b"
    )


REMOTE = Snapshot().apply(
    Resync(
        "cluster:b",
        (
            remote("api-1", Address("10.9.0.5", "ov", Scope.OVERLAY)),
            remote(
                "api-2",
                Address("10.9.0.6", "ov", Scope.OVERLAY),
                Address("192.0.2.7", "", Scope.HOST),
            ),
        ),
    )
)


@pytest.mark.parametrize(
    ("view", "answer", "reasons"),
    [
        # the host or anyone unknown: an overlay address is not routable from here, so the
        # overlay-only replica is listed as giving this client nothing, not as in rotation
        (
            ClientView(),
            ["192.0.2.7"],
            {
                "api-1": (
                    False,
                    "answered only to clients on its overlay network (ov);"
                    " this client is on none of them",
                ),
                "api-2": (True, ""),
            },
        ),
        (
            ClientView(frozenset({"ov"})),
            ["10.9.0.5", "10.9.0.6", "192.0.2.7"],
            {"api-1": (True, ""), "api-2": (True, "")},
        ),
    ],
)
def test_an_overlay_only_replica_is_not_shown_in_rotation_for_a_client_it_gives_nothing(
    view: ClientView, answer: list[str], reasons: dict[str, tuple[bool, str]]
) -> None:
    found = record_view(REMOTE, "api", "docker.", POLICY, view=view)
    assert found is not None and found["answer"] == answer
    assert {e["container"]: (e["in_rotation"], e["reason"]) for e in entries(found)} == reasons
