"""Docker inspect/event JSON captured from a real engine -> endpoints and reactions (no engine)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry import Address, Endpoint, Health, Network, Origin, Port
from watchers.docker_events import (
    EventAction,
    Reaction,
    action_for_event,
    is_stopping_signal,
    signal_number,
    stop_signal_of,
)
from watchers.docker_networks import bridge_gateway, networks_from_listing, subnets_of
from watchers.docker_translate import endpoint_from_inspect, parse_port

FIXTURES = Path(__file__).parent / "fixtures"
HOST_IP = "192.0.2.1"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def endpoint(name: str, host_ip: str | None = HOST_IP) -> Endpoint | None:
    return endpoint_from_inspect(fixture(name), "docker", host_ip)


def present(name: str) -> Endpoint:
    ep = endpoint(name)
    assert ep is not None
    return ep


def claims(name: str) -> dict[str, Origin]:
    """Each name with its first origin (the strongest reason; `claims_of` keeps them all)."""
    first: dict[str, Origin] = {}
    for claim in present(name).claims:
        first.setdefault(claim.key, claim.origin)
    return first


def test_plain_container_is_named_after_itself_only() -> None:
    ep = present("plain")
    assert ep.name == "dnsdtest-fx-plain"
    assert claims("plain") == {"dnsdtest-fx-plain": Origin.CONTAINER_NAME}
    assert ep.addresses == (Address("172.17.0.2", "bridge"),)
    assert ep.networks == ("bridge",)
    assert (ep.health, ep.paused, ep.ports, ep.project) == (Health.NONE, False, (), "")


def test_compose_container_claims_every_name_with_its_origin() -> None:
    assert claims("compose_web") == {
        "dnsdtest-fx-web": Origin.CONTAINER_NAME,
        "myweb": Origin.HOSTNAME,
        "webalias": Origin.ALIAS,
        "web.shop": Origin.COMPOSE_PROJECT_SERVICE,
        "web": Origin.COMPOSE_SERVICE,
        "api.internal.": Origin.LABEL,
        "extra": Origin.LABEL,
    }
    ep = present("compose_web")
    assert [(c.key, c.origin) for c in ep.claims if c.key == "myweb"] == [
        ("myweb", Origin.HOSTNAME),
        ("myweb", Origin.ALIAS),
    ]  # every origin of a name is kept, each once
    assert len(set(ep.claims)) == len(ep.claims)
    assert ep.project == "shop"
    assert ep.addresses == (Address("172.18.0.2", "dnsdtest-fx-net"),)


def test_ports_from_labels_then_unlabelled_exposed_ports() -> None:
    assert present("compose_web").ports == (
        Port(53, "udp", "dns"),
        Port(80, "tcp", "http"),
        Port(8080, "tcp", ""),
    )


def test_container_on_two_networks_answers_on_both_and_keeps_aliases() -> None:
    ep = present("multi_network")
    assert ep.addresses == (
        Address("172.17.0.5", "bridge"),
        Address("172.18.0.3", "dnsdtest-fx-net"),
    )
    assert claims("multi_network") == {
        "dnsdtest-fx-multi": Origin.CONTAINER_NAME,
        "multialias": Origin.ALIAS,
    }


def test_host_network_answers_the_host_address_and_not_the_host_name() -> None:
    ep = present("host_network")
    assert ep.addresses == (Address(HOST_IP, "host"),)
    assert claims("host_network") == {"dnsdtest-fx-host": Origin.CONTAINER_NAME}
    assert endpoint("host_network", host_ip=None) is None


@pytest.mark.parametrize(
    "name",
    ["none_network", "hidden", "created"],
    ids=["network-none", "dnsd.enable=false", "not-running"],
)
def test_containers_that_get_no_records(name: str) -> None:
    assert endpoint(name) is None


@pytest.mark.parametrize(
    ("name", "health"),
    [
        ("healthy", Health.HEALTHY),
        ("starting", Health.STARTING),
        ("unhealthy", Health.UNHEALTHY),
        ("plain", Health.NONE),
    ],
)
def test_health_comes_from_the_healthcheck(name: str, health: Health) -> None:
    assert present(name).health is health


def test_paused_container_stays_registered_but_marked_paused() -> None:
    ep = present("paused")
    assert ep.paused
    assert ep.out_of_rotation_reason() == "paused"


def test_unusable_label_names_are_skipped_not_fatal() -> None:
    data = fixture("plain")
    data["Config"]["Labels"] = {"dnsd.name": "ok, bad..name ,,-x-,Also.OK.", "dnsd.port.web": "x"}
    ep = endpoint_from_inspect(data, "docker", None)
    assert ep is not None
    assert {c.key for c in ep.claims} == {"dnsdtest-fx-plain", "ok", "also.ok."}
    assert ep.ports == ()


def test_odd_container_name_is_sanitized() -> None:
    data = fixture("plain")
    data["Name"] = "/My_App.V2"
    assert present_from(data).name == "my_app.v2"


def present_from(data: dict[str, Any]) -> Endpoint:
    ep = endpoint_from_inspect(data, "docker", None)
    assert ep is not None
    return ep


@pytest.mark.parametrize(
    ("spec", "port"),
    [
        ("80", Port(80, "tcp")),
        ("80/tcp", Port(80, "tcp")),
        ("53/UDP", Port(53, "udp")),
        ("0", None),
        ("70000/tcp", None),
        ("http", None),
        ("80/icmp", None),
    ],
)
def test_parse_port(spec: str, port: Port | None) -> None:
    assert parse_port(spec) == port


def events() -> list[dict[str, Any]]:
    lines = (FIXTURES / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


PLAIN = "13b6d5fa17867de81011839975695055a4b4f88b144d9881cf0c31dd5c44e48e"
MULTI = "6a0cc297ab9f5c1fff38336eb5a21f70be9376b25c41f10d3d5eb687eb6fcb49"


def test_captured_events_map_to_reactions() -> None:
    got = [(e.get("Type"), e.get("Action"), action_for_event(e)) for e in events()]
    assert [(t, a) for t, a, _ in got][:3] == [
        ("container", "rename"),
        ("container", "unpause"),
        ("network", "disconnect"),
    ]
    table = {a: r for _, a, r in got}
    assert table["rename"] == EventAction(Reaction.REINSPECT, PLAIN)
    assert table["die"] == EventAction(Reaction.GONE, PLAIN)  # out at once, no inspect first
    assert table["stop"] == EventAction(Reaction.GONE, PLAIN)
    kills = [r for _, a, r in got if a == "kill"]
    assert kills[0] == EventAction(Reaction.KILLED, PLAIN, 15)  # docker stop's SIGTERM
    assert table["destroy"] == EventAction(Reaction.NETWORKS)  # the last destroy is a network's
    assert got[9][2] == EventAction(Reaction.REMOVE, PLAIN)  # container destroy
    assert got[2][2] == EventAction(Reaction.REINSPECT, MULTI)  # network disconnect
    assert table["create"] == EventAction(Reaction.NETWORKS)
    assert table["health_status: unhealthy"].reaction is Reaction.REINSPECT


@pytest.mark.parametrize(
    "event",
    [
        {"Type": "container", "Action": "exec_start: sh", "Actor": {"ID": "x"}},
        {"Type": "image", "Action": "pull", "Actor": {"ID": "busybox"}},
        {"Type": "network", "Action": "connect", "Actor": {"ID": "n", "Attributes": {}}},
    ],
    ids=["exec", "image", "connect-without-container"],
)
def test_irrelevant_events_are_ignored(event: dict[str, Any]) -> None:
    assert action_for_event(event).reaction is Reaction.IGNORE


def test_bridge_gateway_and_subnets_from_network_listing() -> None:
    bridge = fixture("network_bridge")
    assert bridge_gateway([bridge]) == "172.17.0.1"
    custom = {"Name": "x", "IPAM": {"Config": [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1"}]}}
    assert subnets_of([bridge, custom, {"Name": "host", "IPAM": {}}]) == {
        "172.17.0.0/16",
        "10.9.0.0/24",
    }
    assert bridge_gateway([custom]) is None


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("15", 15),
        ("SIGTERM", 15),
        ("term", 15),
        ("SIGWINCH", 28),
        ("9", 9),
        ("", None),
        ("x", None),
    ],
)
def test_signal_number(text: str, number: int | None) -> None:
    assert signal_number(text) == number


@pytest.mark.parametrize(
    ("signal", "stop_signal", "going"),
    [
        (15, None, True),  # docker stop's default
        (9, None, True),  # docker kill's default, and stop after its timeout
        (2, None, True),
        (3, None, True),
        (1, None, False),  # a reload signal: the container stays
        (10, None, False),
        (28, 28, True),  # the container's own StopSignal (httpd uses SIGWINCH)
        (None, None, False),
    ],
)
def test_which_kills_mean_going_away(
    signal: int | None, stop_signal: int | None, going: bool
) -> None:
    assert is_stopping_signal(signal, stop_signal) is going


def test_stop_signal_from_inspect() -> None:
    assert stop_signal_of({"Config": {"StopSignal": "SIGWINCH"}}) == 28
    assert stop_signal_of(fixture("plain")) is None


def test_networks_from_listing_publish_names_subnets_and_gateways() -> None:
    bridge = fixture("network_bridge")
    custom = {
        "Name": "x",
        "IPAM": {
            "Config": [
                {"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1"},
                {"Subnet": "fd00:9::/64", "Gateway": "fd00:9::1/64"},
            ]
        },
    }
    bad = {"Name": "odd", "IPAM": {"Config": [{"Subnet": "10.8.0.0/24", "Gateway": "nonsense"}]}}
    assert networks_from_listing([custom, bridge, bad, {"Name": "host", "IPAM": {}}]) == (
        Network("bridge", ("172.17.0.0/16",), ("172.17.0.1",)),
        Network("host", (), ()),
        Network("odd", ("10.8.0.0/24",), ("10.8.0.1",)),  # unreadable gateway: the default
        Network("x", ("10.9.0.0/24", "fd00:9::/64"), ("10.9.0.1", "fd00:9::1")),
    )
