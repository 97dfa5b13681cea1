"""The served zone's settings: what the answer function and the wire layer need to know.

`zone_settings` builds them from the configuration, the listen addresses (NS glue) and a
clock reading passed in (the SOA serial base), so this module stays pure. It must not read
the clock, the environment or sockets itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from registry import Snapshot, UnhealthyPolicy

SERIAL_MODULUS = 2**32  # RFC 1982 serial arithmetic


class ZoneConfig(Protocol):
    """The settings `zone_settings` reads (`dnsd.config.Config` has them all)."""

    @property
    def zone(self) -> str: ...
    @property
    def bare_names(self) -> bool: ...
    @property
    def ttl(self) -> int: ...
    @property
    def negative_ttl(self) -> int: ...
    @property
    def unhealthy(self) -> UnhealthyPolicy: ...
    @property
    def max_udp_size(self) -> int: ...


@dataclass(frozen=True, slots=True)
class ZoneSettings:
    """What the answer function needs to know about the served zone."""

    zone: str = "docker."
    bare_names: bool = True
    ttl: int = 5
    negative_ttl: int = 5
    unhealthy: UnhealthyPolicy = UnhealthyPolicy.SERVE_ALL
    serial_base: int = 0
    ns_addresses: tuple[str, ...] = ()
    recursion: bool = False  # a forwarder exists: RA set, non-local names are forwarded
    max_udp_size: int = 1232

    @property
    def ns_name(self) -> str:
        return "ns." + self.zone

    def serial(self, snapshot: Snapshot) -> int:
        return (self.serial_base + snapshot.version) % SERIAL_MODULUS


def zone_settings(
    config: ZoneConfig, listen_hosts: Sequence[str], *, now: float, recursion: bool
) -> ZoneSettings:
    """Settings for `config`; `now` (epoch seconds) makes serials grow across restarts."""
    return ZoneSettings(
        zone=config.zone,
        bare_names=config.bare_names,
        ttl=config.ttl,
        negative_ttl=config.negative_ttl,
        unhealthy=config.unhealthy,
        serial_base=int(now),
        ns_addresses=ns_addresses(listen_hosts),
        recursion=recursion,
        max_udp_size=config.max_udp_size,
    )


def ns_addresses(hosts: Sequence[str]) -> tuple[str, ...]:
    """NS glue: the listen addresses that are real addresses, loopback only if nothing else."""
    addresses = []
    for host in hosts:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            continue
        if not ip.is_unspecified:
            addresses.append(ip)
    wide = [ip for ip in addresses if not ip.is_loopback]
    return tuple(dict.fromkeys(str(ip) for ip in (wide or addresses)))
