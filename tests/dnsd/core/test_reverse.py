"""Reverse names and RFC 6303 zones as tables (pure string and address arithmetic)."""

from __future__ import annotations

import pytest

from dnsd.core.reverse import address_of, local_zone, reverse_name


@pytest.mark.parametrize("ip", ["10.0.0.1", "192.168.1.254", "fd00::2", "2001:db8::1", "::1"])
def test_reverse_name_and_address_of_are_a_pair(ip: str) -> None:
    assert address_of(reverse_name(ip)) == ip


@pytest.mark.parametrize(
    "name",
    [
        "1.0.10.in-addr.arpa.",  # three labels: a zone, not an address
        "256.0.0.10.in-addr.arpa.",
        "01.0.0.10.in-addr.arpa.",  # leading zero
        "x.0.0.10.in-addr.arpa.",
        "1.0.ip6.arpa.",
        "web.docker.",
    ],
)
def test_names_that_are_not_one_address(name: str) -> None:
    assert address_of(name) is None


@pytest.mark.parametrize(
    ("name", "zone"),
    [
        ("1.0.0.10.in-addr.arpa.", "10.in-addr.arpa."),
        ("10.in-addr.arpa.", "10.in-addr.arpa."),
        ("5.1.16.172.in-addr.arpa.", "16.172.in-addr.arpa."),
        ("7.2.0.192.in-addr.arpa.", "2.0.192.in-addr.arpa."),
        ("1.0.64.100.in-addr.arpa.", "64.100.in-addr.arpa."),
        (reverse_name("::1"), reverse_name("::1")),
        (reverse_name("fe80::1"), "8.e.f.ip6.arpa."),  # fe80::/10: three nibbles
        (reverse_name("fd12::1"), "d.f.ip6.arpa."),
        ("34.216.184.93.in-addr.arpa.", None),  # a public address
        ("in-addr.arpa.", None),
    ],
)
def test_local_zone_of_a_reverse_name(name: str, zone: str | None) -> None:
    assert local_zone(name) == zone
