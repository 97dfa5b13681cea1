"""DNS answers per client as a table: the isolation rule applied to A, SRV (with glue) and PTR.

Query bytes in, reply read back with dnspython; no sockets. Networks `front` and `back`,
`ab` on both, `legacy` a static record on no network.
"""

from __future__ import annotations

import ipaddress

import dns.rdatatype
import pytest

from dnsd.core.wire import Reply, handle_wire
from registry import Address, Endpoint, NameClaim, Network, Networks, Origin, Port, Snapshot, Upsert
from tests.dnsd.core_support import SETTINGS, answer_texts, parse, query, rcode_name

HTTP = (Port(80, "tcp", "http"),)
FRONT_CLIENT, BACK_NEWCOMER, OUTSIDER = "10.1.0.9", "10.2.0.77", "127.0.0.1"


def ep(name: str, *ips: tuple[str, str], ports: tuple[Port, ...] = ()) -> Endpoint:
    return Endpoint(
        "docker", f"id-{name}", name, (NameClaim(name, Origin.CONTAINER_NAME),),
        tuple(Address(ip, net) for ip, net in ips), ports,
    )  # fmt: skip


def build() -> Snapshot:
    snapshot = Snapshot().apply(
        Networks(
            "docker",
            (
                Network("front", ("10.1.0.0/16",), ("10.1.0.1",)),
                Network("back", ("10.2.0.0/16",), ("10.2.0.1",)),
            ),
        )
    )
    for endpoint in (
        ep("a1", ("10.1.0.5", "front"), ports=HTTP),
        ep("b1", ("10.2.0.5", "back"), ports=HTTP),
        ep("ab", ("10.1.0.6", "front"), ("10.2.0.6", "back"), ports=HTTP),
        ep("legacy", ("10.9.9.9", "")),
        ep("api.team", ("10.2.0.8", "back")),  # makes `team` an empty non-terminal
        ep("client", (FRONT_CLIENT, "front")),
    ):
        snapshot = snapshot.apply(Upsert(endpoint))
    return snapshot


SNAP = build()


def ask(name: str, rdtype: str, client: str) -> dns.message.Message:
    decision = handle_wire(query(name, rdtype), SNAP, SETTINGS, client)
    assert isinstance(decision, Reply), decision
    return parse(decision.data)


def rev(ip: str) -> str:
    return ipaddress.ip_address(ip).reverse_pointer + "."


@pytest.mark.parametrize(
    ("client", "name", "rdtype", "rcode", "answers"),
    [
        (FRONT_CLIENT, "a1.docker.", "A", "NOERROR", ["10.1.0.5"]),
        (FRONT_CLIENT, "b1.docker.", "A", "NXDOMAIN", []),
        (FRONT_CLIENT, "b1.", "A", "NXDOMAIN", []),  # bare: answered here, not forwarded
        (FRONT_CLIENT, "b1.docker.", "AAAA", "NXDOMAIN", []),
        (FRONT_CLIENT, "ab.docker.", "A", "NOERROR", ["10.1.0.6"]),
        (FRONT_CLIENT, "legacy.docker.", "A", "NOERROR", ["10.9.9.9"]),
        (BACK_NEWCOMER, "a1.docker.", "A", "NXDOMAIN", []),  # first instant: scoped by subnet
        (BACK_NEWCOMER, "ab.", "A", "NOERROR", ["10.2.0.6"]),
        (OUTSIDER, "b1.docker.", "A", "NOERROR", ["10.2.0.5"]),
        (OUTSIDER, "ab.docker.", "A", "NOERROR", ["10.1.0.6", "10.2.0.6"]),
        (FRONT_CLIENT, "team.docker.", "A", "NXDOMAIN", []),  # nothing below it for front
        (OUTSIDER, "team.docker.", "A", "NOERROR", []),  # an empty non-terminal
        (BACK_NEWCOMER, "team.docker.", "A", "NOERROR", []),
        (FRONT_CLIENT, "_http._tcp.b1.docker.", "SRV", "NXDOMAIN", []),
        (FRONT_CLIENT, "_http._tcp.a1.docker.", "SRV", "NOERROR", ["0 10 80 a1.docker."]),
        (OUTSIDER, "_http._tcp.b1.docker.", "SRV", "NOERROR", ["0 10 80 b1.docker."]),
        (FRONT_CLIENT, rev("10.2.0.5"), "PTR", "NXDOMAIN", []),
        (FRONT_CLIENT, rev("10.2.0.6"), "PTR", "NXDOMAIN", []),  # ab's back address
        (FRONT_CLIENT, rev("10.1.0.6"), "PTR", "NOERROR", ["ab.docker."]),
        (BACK_NEWCOMER, rev("10.2.0.6"), "PTR", "NOERROR", ["ab.docker."]),
        (OUTSIDER, rev("10.2.0.5"), "PTR", "NOERROR", ["b1.docker."]),
    ],
)
def test_each_client_gets_what_it_can_reach(
    client: str, name: str, rdtype: str, rcode: str, answers: list[str]
) -> None:
    reply = ask(name, rdtype, client)
    assert rcode_name(reply) == rcode
    assert sorted(answer_texts(reply)) == answers


def test_srv_glue_holds_only_reachable_addresses() -> None:
    reply = ask("_http._tcp.ab.docker.", "SRV", FRONT_CLIENT)
    glue = [rd.to_text() for rrset in reply.additional for rd in rrset
            if rrset.rdtype == dns.rdatatype.A]  # fmt: skip
    assert glue == ["10.1.0.6"]
    everything = ask("_http._tcp.ab.docker.", "SRV", OUTSIDER)
    assert sorted(rd.to_text() for rrset in everything.additional for rd in rrset) == [
        "10.1.0.6",
        "10.2.0.6",
    ]
