"""DNS answers and the explain view for a client known by its docker_gwbridge address.

Query bytes in, reply read back with dnspython; no sockets. `client` and `web` are on the
overlay `ov` only and known by their docker_gwbridge addresses too; `outsider` is on `back`.
A client-only address identifies who asks and is never answered: not in A/ANY, not as a PTR
owner, not in SRV glue, not in the explain view's answers or address lists.
"""

from __future__ import annotations

import dns.message
import pytest

from dnsd.client import explain_text
from dnsd.core.explain import containers_view, explain_name, recognition_view
from dnsd.core.wire import Reply, handle_wire
from registry import (
    FULL_VIEW,
    Address,
    Endpoint,
    NameClaim,
    Network,
    Networks,
    Origin,
    Port,
    Scope,
    Snapshot,
    UnhealthyPolicy,
    Upsert,
)
from tests.dnsd.core_support import SETTINGS, answer_texts, parse, query, rcode_name

GW = "docker_gwbridge"
HTTP = (Port(80, "tcp", "http"),)


def ep(name: str, ip: str, network: str, gw: str = "") -> Endpoint:
    scope = Scope.OVERLAY if network == "ov" else Scope.LOCAL
    return Endpoint(
        "docker", f"id-{name}", name, (NameClaim(name, Origin.CONTAINER_NAME),),
        (Address(ip, network, scope),), HTTP, networks=(network,),
        client_addresses=(Address(gw, GW),) if gw else (),
    )  # fmt: skip


def build() -> Snapshot:
    snapshot = Snapshot().apply(
        Networks(
            "docker",
            (
                Network(GW, ("172.18.0.0/16",), ("172.18.0.1",)),
                Network("ov", ("10.0.9.0/24",), ("10.0.9.1",)),
                Network("back", ("10.2.0.0/16",), ("10.2.0.1",)),
            ),
        )
    )
    for endpoint in (
        ep("client", "10.0.9.7", "ov", "172.18.0.7"),
        ep("web", "10.0.9.5", "ov", "172.18.0.5"),
        ep("outsider", "10.2.0.5", "back"),
    ):
        snapshot = snapshot.apply(Upsert(endpoint))
    return snapshot


SNAP = build()


def ask(name: str, rdtype: str, client: str) -> dns.message.Message:
    decision = handle_wire(query(name, rdtype), SNAP, SETTINGS, client)
    assert isinstance(decision, Reply), decision
    return parse(decision.data)


def every_record(message: dns.message.Message) -> list[str]:
    sections = (*message.answer, *message.additional)
    return [rd.to_text() for rrset in sections for rd in rrset]


@pytest.mark.parametrize(
    ("name", "rdtype", "client", "rcode", "answers"),
    [
        ("web.docker.", "A", "172.18.0.7", "NOERROR", ["10.0.9.5"]),
        ("web.docker.", "AAAA", "172.18.0.7", "NOERROR", []),
        ("outsider.docker.", "A", "172.18.0.7", "NXDOMAIN", []),  # isolated like the container
        ("web.docker.", "A", "172.18.0.1", "NOERROR", []),  # the host: overlay not routable
        ("outsider.docker.", "A", "172.18.0.1", "NOERROR", ["10.2.0.5"]),
        ("5.0.18.172.in-addr.arpa.", "PTR", "172.18.0.1", "NXDOMAIN", []),  # never a PTR owner
        ("5.0.18.172.in-addr.arpa.", "PTR", "172.18.0.7", "NXDOMAIN", []),
        ("5.9.0.10.in-addr.arpa.", "PTR", "172.18.0.7", "NOERROR", ["web.docker."]),
    ],
)
def test_answers_for_a_client_on_its_gwbridge_address(
    name: str, rdtype: str, client: str, rcode: str, answers: list[str]
) -> None:
    reply = ask(name, rdtype, client)
    assert (rcode_name(reply), answer_texts(reply)) == (rcode, answers)


@pytest.mark.parametrize("client", ["172.18.0.7", "10.0.9.7", "172.18.0.1", "10.2.0.9"])
def test_srv_glue_never_holds_a_gwbridge_address(client: str) -> None:
    records = every_record(ask("_http._tcp.web.docker.", "SRV", client))
    records += every_record(ask("_http._tcp.client.docker.", "SRV", client))
    assert not [r for r in records if r.startswith("172.18.")]


def test_explain_says_who_the_client_is_and_how() -> None:
    who = recognition_view(SNAP, "172.18.0.7")
    assert who is not None
    assert (who["how"], who["container"], who["networks"]) == ("client-address", "client", [GW])
    assert "never answered" in str(who["text"])
    assert recognition_view(SNAP, "10.0.9.7") == {
        "address": "10.0.9.7", "how": "address", "networks": ["ov"], "container": "client",
        "id": "id-client", "source": "docker",
        "text": "10.0.9.7 is container client (docker), recognised by its address on ov",
    }  # fmt: skip
    assert recognition_view(SNAP, "172.18.0.1") is None  # the host
    assert recognition_view(SNAP, "client") is None  # a name is not an address


def test_explain_answers_and_addresses_leave_client_addresses_out() -> None:
    view = SNAP.view_of("172.18.0.7")
    record = explain_name(SNAP, "web", "docker.", UnhealthyPolicy.SERVE_ALL, view)
    assert record is not None and record["answer"] == ["10.0.9.5"]
    record["client"]["recognised_as"] = recognition_view(SNAP, "172.18.0.7")  # type: ignore[index]
    assert "client: 172.18.0.7 is container client" in explain_text(record)
    full = explain_name(SNAP, "web", "docker.", UnhealthyPolicy.SERVE_ALL, FULL_VIEW)
    everything = str(containers_view(SNAP)) + str(full)
    assert "172.18." not in everything
