"""Reverse names: `in-addr.arpa.` / `ip6.arpa.` names to addresses, and the RFC 6303 zones.

Pure string and address arithmetic. It must not look at the registry or build DNS records;
`dnsd.core.answer` decides what to answer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

V4_SUFFIX = ".in-addr.arpa."
V6_SUFFIX = ".ip6.arpa."
SUFFIXES = (V4_SUFFIX, V6_SUFFIX)

# RFC 6303 (locally served zones) plus 100.64.0.0/10 (RFC 6598) and all of fc00::/7 (RFC 4193).
LOCAL_RANGES: tuple[str, ...] = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "255.255.255.255/32",
    "::/128",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "2001:db8::/32",
)


def address_of(name: str) -> str | None:
    """The address a full reverse name stands for (lower-case name in), else None."""
    if name.endswith(V4_SUFFIX):
        return _v4(name[: -len(V4_SUFFIX)].split("."))
    if name.endswith(V6_SUFFIX):
        return _v6(name[: -len(V6_SUFFIX)].split("."))
    return None


def reverse_name(ip: str) -> str:
    """The absolute reverse name of an address ('1.0.0.10.in-addr.arpa.')."""
    return ipaddress.ip_address(ip).reverse_pointer + "."


def local_zone(name: str) -> str | None:
    """The RFC 6303 zone that holds reverse name `name` (itself included), or None."""
    labels = name.rstrip(".").split(".")
    for start in range(len(labels)):
        candidate = ".".join(labels[start:]) + "."
        if candidate in _LOCAL_ZONES:
            return candidate
    return None


def _v4(labels: list[str]) -> str | None:
    if len(labels) != 4 or not all(_decimal_octet(label) for label in labels):
        return None
    return ".".join(reversed(labels))


def _decimal_octet(label: str) -> bool:
    return label.isdigit() and label.isascii() and int(label) <= 255 and str(int(label)) == label


def _v6(labels: list[str]) -> str | None:
    if len(labels) != 32 or not all(len(x) == 1 and x in "0123456789abcdef" for x in labels):
        return None
    digits = "".join(reversed(labels))
    groups = ":".join(digits[i : i + 4] for i in range(0, 32, 4))
    return str(ipaddress.IPv6Address(groups))


def _zones_for(cidr: str) -> Iterable[str]:
    network = ipaddress.ip_network(cidr)
    step = 8 if network.version == 4 else 4
    keep = -(-network.prefixlen // step)  # labels of the address part, rounded up
    for subnet in network.subnets(new_prefix=keep * step):
        labels = subnet.network_address.reverse_pointer.split(".")
        address_labels = labels[:-2]
        yield ".".join(address_labels[len(address_labels) - keep :] + labels[-2:]) + "."


_LOCAL_ZONES: frozenset[str] = frozenset(z for cidr in LOCAL_RANGES for z in _zones_for(cidr))
