"""The recursion ACL as a table, plus the dynamic (Docker network) ranges changing under it."""

from __future__ import annotations

import pytest

from dnsd.forward.acl import RecursionAcl, default_allow, parse_networks
from registry.view import parse_client_address as client_address


@pytest.mark.parametrize(
    ("client", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.9.9.9", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),  # IPv4-mapped
        ("::1%lo", True),  # a zone is dropped, then judged
        ("fe80::1%eth0", False),
        ("10.0.0.1", False),
        ("not an address", False),
        ("", False),
    ],
)
def test_default_ranges(client: str, allowed: bool) -> None:
    assert RecursionAcl(default_allow()).allows(client) is allowed


def test_dynamic_ranges_are_followed_as_they_change() -> None:
    subnets = frozenset({"172.18.0.0/16"})
    current = [subnets]
    acl = RecursionAcl(["127.0.0.0/8"], lambda: current[0])
    assert acl.allows("172.18.0.5") and not acl.allows("172.19.0.5")
    current[0] = frozenset({"172.19.0.0/16"})  # a network went away, another came
    assert acl.allows("172.19.0.5") and not acl.allows("172.18.0.5")
    assert acl.allows("127.0.0.1")


def test_a_bad_range_names_itself() -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.0/99"):
        parse_networks(["10.0.0.0/99"])


def test_client_address_unwraps_mapped_addresses() -> None:
    assert str(client_address("::ffff:10.1.2.3")) == "10.1.2.3"
    assert client_address("nope") is None
