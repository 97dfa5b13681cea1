"""Registry: a withdrawn endpoint stays out whatever the policy; an srv_only claim adds SRV only."""

from __future__ import annotations

import pytest

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


def task(id: str, ip: str, health: Health = Health.NONE, withdrawn: str = "") -> Endpoint:
    return Endpoint(
        "swarm",
        id,
        f"web.{id}",
        (NameClaim("tasks.web", Origin.SWARM_TASKS),),
        (Address(ip, "ov1"),),
        health=health,
        withdrawn=withdrawn,
    )


def snap(*endpoints: Endpoint) -> Snapshot:
    return Snapshot().apply(Resync("swarm", endpoints))


@pytest.mark.parametrize(
    ("endpoints", "policy", "expected"),
    [
        (
            (task("1", "10.0.0.1"), task("2", "10.0.0.2", withdrawn="ending")),
            "serve-all",
            {"10.0.0.1"},
        ),
        ((task("1", "10.0.0.1", withdrawn="ending"),), "serve-all", set()),  # never fails open
        (
            (task("1", "10.0.0.1", Health.UNHEALTHY), task("2", "10.0.0.2", withdrawn="ending")),
            "serve-all",
            {"10.0.0.1"},  # fail-open serves the unhealthy one, not the withdrawn one
        ),
        (
            (task("1", "10.0.0.1", Health.UNHEALTHY), task("2", "10.0.0.2", withdrawn="ending")),
            "empty",
            set(),
        ),
    ],
)
def test_withdrawn_is_out_whatever_the_policy(
    endpoints: tuple[Endpoint, ...], policy: str, expected: set[str]
) -> None:
    resolved = snap(*endpoints).resolve("tasks.web", None, UnhealthyPolicy(policy))
    assert set(resolved.addresses) == expected


def test_withdrawn_reason_and_suspended() -> None:
    out = task("1", "10.0.0.1", withdrawn="task shutting down (desired state remove)")
    assert (
        out.suspended
        and out.out_of_rotation_reason() == "task shutting down (desired state remove)"
    )
    assert not task("1", "10.0.0.1").suspended


def published(node_ip: str, *, also_plain: bool = False) -> Endpoint:
    claims = [NameClaim("web", Origin.SWARM_PUBLISHED, srv_only=True)]
    if also_plain:
        claims.append(NameClaim("web", Origin.LABEL))
    return Endpoint(
        "swarm",
        f"published:{node_ip}",
        "vm.nodes",
        tuple(claims),
        (Address(node_ip),),
        (Port(8080),),
    )


def test_an_srv_only_claim_adds_srv_records_but_no_addresses() -> None:
    vip = Endpoint(
        "swarm",
        "service:w",
        "web",
        (NameClaim("web", Origin.SWARM_SERVICE),),
        (Address("10.0.0.9", "ov1"),),
    )
    s = snap(vip, published("192.0.2.7"))
    assert s.resolve("web").addresses == ("10.0.0.9",)
    assert [(r.target, r.port) for r in s.resolve_srv("_8080._tcp.web")] == [("vm.nodes", 8080)]
    only = snap(published("192.0.2.7"))
    assert not only.resolve("web").exists and only.has_name("_8080._tcp.web")


def test_a_plain_claim_of_the_same_name_wins_over_srv_only() -> None:
    s = snap(published("192.0.2.7", also_plain=True))
    assert s.resolve("web").addresses == ("192.0.2.7",)
