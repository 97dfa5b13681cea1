"""The served zone's settings: what the answer function and the wire layer need to know.

`zone_settings` builds them from the configuration and the listen addresses (NS glue). The
SOA serial comes from the snapshot's change stamp (`Snapshot.changed_at`). It must not read
the clock, the environment or sockets.
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
    ns_addresses: tuple[str, ...] = ()
    recursion: bool = False  # a forwarder exists: RA set, non-local names are forwarded
    max_udp_size: int = 1232

    @property
    def ns_name(self) -> str:
        return "ns." + self.zone

    def serial(self, snapshot: Snapshot) -> int:
        """The wall-clock second of the last registry change, modulo 2**32: never lower than
        any earlier serial in RFC 1982 arithmetic, also across restarts, without storing
        anything; changes within one second share it (nothing transfers the zone)."""
        return snapshot.changed_at % SERIAL_MODULUS


def zone_settings(
    config: ZoneConfig, listen_hosts: Sequence[str], *, recursion: bool
) -> ZoneSettings:
    """Settings for `config`, serving from the listen hosts."""
    return ZoneSettings(
        zone=config.zone,
        bare_names=config.bare_names,
        ttl=config.ttl,
        negative_ttl=config.negative_ttl,
        unhealthy=config.unhealthy,
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
