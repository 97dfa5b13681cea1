"""Local answers as a table: query bytes in, reply read back with dnspython (no sockets)."""

from __future__ import annotations

import dataclasses
import ipaddress

import dns.flags
import dns.rdatatype
import pytest

from dnsd.core.wire import Forward, Reply, handle_wire
from dnsd.core.zone import ZoneSettings
from registry import Snapshot, Upsert
from tests.dnsd.core_support import (
    PUBLIC_IP,
    SETTINGS,
    answer_texts,
    endpoint,
    has_aa,
    parse,
    query,
    rcode_name,
    sample_endpoints,
    snapshot_of,
    soa_in_authority,
)

SNAP = snapshot_of(*sample_endpoints())


def ask(name: str, rdtype: str = "A", snapshot: Snapshot = SNAP, **settings: object) -> Reply:
    config = dataclasses.replace(SETTINGS, **settings)  # type: ignore[arg-type]
    decision = handle_wire(query(name, rdtype), snapshot, config)
    assert isinstance(decision, Reply), decision
    assert decision.error is None
    return decision


def rev(ip: str) -> str:
    return ipaddress.ip_address(ip).reverse_pointer + "."


# (qname, qtype, rcode, answers as a set of rdata texts, SOA owner in authority or None)
CASES = [
    ("web.docker.", "A", "NOERROR", {"10.0.0.1", "10.0.0.2"}, None),
    ("WeB.DoCkEr.", "A", "NOERROR", {"10.0.0.1", "10.0.0.2"}, None),
    ("web.", "A", "NOERROR", {"10.0.0.1", "10.0.0.2"}, None),
    ("web.docker.", "AAAA", "NOERROR", {"fd00::2"}, None),
    ("web-1.docker.", "A", "NOERROR", {"10.0.0.1"}, None),
    ("db.shop.docker.", "A", "NOERROR", {"10.0.1.5"}, None),
    ("v6only.docker.", "A", "NOERROR", set(), "docker."),
    ("web.docker.", "MX", "NOERROR", set(), "docker."),
    ("web.docker.", "TXT", "NOERROR", set(), "docker."),
    ("shop.docker.", "A", "NOERROR", set(), "docker."),  # empty non-terminal
    ("nope.docker.", "A", "NXDOMAIN", set(), "docker."),
    ("a.b.nope.docker.", "AAAA", "NXDOMAIN", set(), "docker."),
    ("docker.", "SOA", "NOERROR", {"ns.docker. hostmaster.docker. 1001 3600 600 86400 7"}, None),
    ("docker.", "NS", "NOERROR", {"ns.docker."}, None),
    ("docker.", "A", "NOERROR", set(), "docker."),
    (
        "_http._tcp.web.docker.",
        "SRV",
        "NOERROR",
        {"0 10 80 web-1.docker.", "0 10 80 web-2.docker."},
        None,
    ),
    ("_http._tcp.web.docker.", "A", "NOERROR", set(), "docker."),
    ("_ftp._tcp.web.docker.", "SRV", "NXDOMAIN", set(), "docker."),
    ("_http._tcp.web.", "SRV", "NOERROR", {"0 10 80 web-1.docker.", "0 10 80 web-2.docker."}, None),
    (rev("10.0.0.1"), "PTR", "NOERROR", {"web-1.docker."}, None),
    (rev("fd00::2"), "PTR", "NOERROR", {"web-2.docker."}, None),
    (rev(PUBLIC_IP), "PTR", "NOERROR", {"api.internal."}, None),
    (rev("10.0.0.1"), "A", "NOERROR", set(), "10.in-addr.arpa."),
    (rev("10.0.0.99"), "PTR", "NXDOMAIN", set(), "10.in-addr.arpa."),
    (rev("172.20.1.1"), "PTR", "NXDOMAIN", set(), "20.172.in-addr.arpa."),
    (rev("192.168.1.1"), "PTR", "NXDOMAIN", set(), "168.192.in-addr.arpa."),
    (rev("127.0.0.1"), "PTR", "NXDOMAIN", set(), "127.in-addr.arpa."),
    (rev("169.254.1.1"), "PTR", "NXDOMAIN", set(), "254.169.in-addr.arpa."),
    (rev("100.64.0.1"), "PTR", "NXDOMAIN", set(), "64.100.in-addr.arpa."),
    (rev("fd12::1"), "PTR", "NXDOMAIN", set(), "d.f.ip6.arpa."),
    (rev("fe80::1"), "PTR", "NXDOMAIN", set(), "8.e.f.ip6.arpa."),
    (rev("::1"), "PTR", "NXDOMAIN", set(), rev("::1")),
    ("0.0.10.in-addr.arpa.", "PTR", "NOERROR", set(), "10.in-addr.arpa."),  # holds 10.0.0.1
    ("7.7.10.in-addr.arpa.", "PTR", "NXDOMAIN", set(), "10.in-addr.arpa."),
    (
        "10.in-addr.arpa.",
        "SOA",
        "NOERROR",
        {"ns.docker. hostmaster.docker. 1001 3600 600 86400 7"},
        None,
    ),
    ("api.internal.", "A", "NOERROR", {PUBLIC_IP}, None),
    ("API.Internal.", "A", "NOERROR", {PUBLIC_IP}, None),
]


@pytest.mark.parametrize(("name", "rdtype", "rcode", "answers", "soa"), CASES)
def test_local_answers(
    name: str, rdtype: str, rcode: str, answers: set[str], soa: str | None
) -> None:
    message = parse(ask(name, rdtype).data)
    assert rcode_name(message) == rcode
    assert set(answer_texts(message)) == answers
    assert has_aa(message)
    assert not message.flags & dns.flags.RA
    assert message.question[0].name.to_text() == name  # the question keeps its case
    if soa is None:
        assert soa_in_authority(message) is None
    else:
        assert soa_in_authority(message) == (soa, 7)  # negative TTL


@pytest.mark.parametrize(
    ("name", "rdtype"),
    [
        ("example.com.", "A"),
        ("nope.", "A"),  # a bare name nobody registered goes upstream, like Docker's DNS
        ("_ftp._tcp.web.", "SRV"),  # so does a bare SRV name nobody registered
        ("www.web.", "A"),  # bare means one label (or an SRV name over one)
        ("localhost.", "A"),
        ("wpad.", "A"),
        (rev("8.8.8.8"), "PTR"),  # public reverse names are not ours
        ("docker.example.", "A"),
    ],
)
def test_names_that_are_not_local_are_refused_without_a_forwarder(name: str, rdtype: str) -> None:
    message = parse(ask(name, rdtype).data)
    assert rcode_name(message) == "REFUSED"
    assert not has_aa(message)
    assert not message.flags & dns.flags.RA
    assert message.question[0].name.to_text() == name


def test_not_local_with_a_forwarder_is_a_forward_decision() -> None:
    settings = dataclasses.replace(SETTINGS, recursion=True)
    decision = handle_wire(query("example.com.", edns=True), SNAP, settings)
    assert decision == Forward(qtype=1, udp_limit=1232, opt_size=1232)


def test_local_answers_set_ra_when_a_forwarder_exists() -> None:
    message = parse(ask("web.docker.", recursion=True).data)
    assert message.flags & dns.flags.RA and has_aa(message)


def test_bare_names_off_makes_single_labels_not_local() -> None:
    assert rcode_name(parse(ask("web.", bare_names=False).data)) == "REFUSED"
    assert answer_texts(parse(ask("web.docker.", bare_names=False).data))


def test_another_zone_is_served_under_its_own_name() -> None:
    message = parse(ask("web.cluster.local.", zone="cluster.local.").data)
    assert set(answer_texts(message)) == {"10.0.0.1", "10.0.0.2"}
    assert rcode_name(parse(ask("web.docker.", zone="cluster.local.").data)) == "REFUSED"


def test_ttl_is_the_configured_ttl() -> None:
    message = parse(ask("web.docker.", ttl=42).data)
    assert {rrset.ttl for rrset in message.answer} == {42}


def test_srv_has_target_addresses_in_additional() -> None:
    message = parse(ask("_http._tcp.web.docker.", "SRV").data)
    glue = {(r.name.to_text(), rd.to_text()) for r in message.additional for rd in r}
    assert glue == {
        ("web-1.docker.", "10.0.0.1"),
        ("web-2.docker.", "10.0.0.2"),
        ("web-2.docker.", "fd00::2"),
    }


def test_ns_glue_names_the_listen_address() -> None:
    glue_ip = ("172.17.0.1",)
    message = parse(ask("docker.", "NS", ns_addresses=glue_ip).data)
    glue = [(r.name.to_text(), rd.to_text()) for r in message.additional for rd in r]
    assert glue == [("ns.docker.", "172.17.0.1")]
    assert answer_texts(parse(ask("ns.docker.", "A", ns_addresses=glue_ip).data)) == ["172.17.0.1"]


@pytest.mark.parametrize("rdtype", ["A", "AAAA", "SRV"])
def test_round_robin_rotates_the_leading_record(rdtype: str) -> None:
    name = "_http._tcp.web.docker." if rdtype == "SRV" else "many.docker."
    snapshot = snapshot_of(
        *sample_endpoints(),
        *(endpoint(f"m{i}", f"10.5.0.{i}", f"fd00::5:{i}", keys=("many",)) for i in range(1, 5)),
    )
    leaders = []
    for rotation in range(4):
        reply = handle_wire(query(name, rdtype), snapshot, SETTINGS, rotation=rotation)
        assert isinstance(reply, Reply)
        texts = answer_texts(parse(reply.data))
        leaders.append(texts[0])
    distinct = 2 if rdtype == "SRV" else 4
    assert len(set(leaders)) == distinct
    assert leaders[0] != leaders[1]


def test_soa_serial_grows_with_each_registry_change() -> None:
    before = SNAP
    after = SNAP.apply(Upsert(endpoint("new", "10.3.3.3")))
    serials = []
    for snapshot in (before, after):
        message = parse(ask("docker.", "SOA", snapshot=snapshot).data)
        serials.append(next(iter(message.answer[0])).serial)
    assert serials[1] > serials[0]


def test_endpoint_names_become_ptr_targets_in_the_configured_zone() -> None:
    settings = ZoneSettings(zone="internal.")
    reply = handle_wire(query(rev("10.0.0.2"), "PTR"), SNAP, settings)
    assert isinstance(reply, Reply)
    assert answer_texts(parse(reply.data)) == ["web-2.internal."]


def test_any_returns_both_address_families() -> None:
    message = parse(ask("web-2.docker.", "ANY").data)
    types = {dns.rdatatype.to_text(r.rdtype) for r in message.answer}
    assert types == {"A", "AAAA"}
