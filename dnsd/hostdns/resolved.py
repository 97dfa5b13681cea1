"""Route only the zone to dnsd through systemd-resolved, per link, with `resolvectl`.

One job: read, set and revert three per-link settings of one link (default docker0):
`DNS=<dnsd's address on it>`, `Domains=~<zone>` (a routing-only domain) and
`DefaultRoute=no`, so resolved asks dnsd for names under the zone and nothing else.

Why per link and not a resolved.conf.d drop-in: the global scope a drop-in's `DNS=` lands
in is always a default route in resolved, so every other name of the host would go to dnsd
too (in parallel with the real servers), and dnsd, forwarding to 127.0.0.53, would send it
back: a loop. A link with only `~zone` and DefaultRoute=no gets the zone and nothing else.

Every command goes through an injected `Runner` (tests record argv). Nothing here reads
files; `host.py` does. It must not touch any link but the one it is given.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class Completed:
    """What a command did: exit status and output."""

    returncode: int
    stdout: str
    stderr: str = ""


class Runner(Protocol):
    def __call__(self, argv: Sequence[str]) -> Completed: ...


def run_command(argv: Sequence[str]) -> Completed:
    """The real runner: run `argv`, capture its output (exit 127 when it is not installed)."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        return Completed(127, "", f"{argv[0]}: command not found")
    except subprocess.TimeoutExpired:
        return Completed(124, "", f"{argv[0]}: no answer within 30 s")
    return Completed(done.returncode, done.stdout, done.stderr)


class HostDnsError(RuntimeError):
    """A command failed or the link is in a state dnsd will not change; str() says which."""


class LinkState(StrEnum):
    ENABLED = "enabled"  # exactly dnsd's three settings
    PARTIAL = "partly enabled"  # only dnsd's settings, but not all three (an interrupted run)
    DISABLED = "disabled"  # no DNS server and no domain on the link
    FOREIGN = "foreign"  # settings dnsd did not make: left alone


@dataclass(frozen=True)
class LinkDns:
    """The DNS settings resolved holds for one link."""

    link: str
    servers: tuple[str, ...]
    domains: tuple[str, ...]
    default_route: str  # "yes", "no" or "" (unknown)

    def state(self, address: str, zone: str) -> LinkState:
        domain = routing_domain(zone)
        if not set(self.servers) <= {address} or not set(self.domains) <= {domain}:
            return LinkState.FOREIGN
        if not self.servers and not self.domains:
            return LinkState.DISABLED
        if self.servers == (address,) and self.domains == (domain,) and self.default_route == "no":
            return LinkState.ENABLED
        return LinkState.PARTIAL

    def describe(self) -> str:
        servers = " ".join(self.servers) or "(none)"
        domains = " ".join(self.domains) or "(none)"
        return f"DNS={servers} Domains={domains} DefaultRoute={self.default_route or '?'}"


def routing_domain(zone: str) -> str:
    return "~" + zone.rstrip(".")


def read_link(run: Runner, link: str) -> LinkDns:
    """The link's current settings, from `resolvectl dns|domain|default-route LINK`."""
    servers = _values(_check(run, ["resolvectl", "dns", link]))
    domains = _values(_check(run, ["resolvectl", "domain", link]))
    route = _values(_check(run, ["resolvectl", "default-route", link]))
    return LinkDns(link, tuple(_server_ip(s) for s in servers), tuple(domains),
                   route[0] if route else "")  # fmt: skip


def enable(run: Runner, link: str, address: str, zone: str) -> tuple[LinkDns, bool]:
    """Apply dnsd's settings unless already in effect; returns (after, changed)."""
    before = read_link(run, link)
    state = before.state(address, zone)
    if state is LinkState.ENABLED:
        return before, False
    if state is LinkState.FOREIGN:
        raise HostDnsError(
            f"{link} has DNS settings dnsd did not make ({before.describe()}); not changing "
            f"them. Remove them with `resolvectl revert {link}`, then run this again"
        )
    _check(run, ["resolvectl", "dns", link, address])
    _check(run, ["resolvectl", "domain", link, routing_domain(zone)])
    _check(run, ["resolvectl", "default-route", link, "no"])
    _check(run, ["resolvectl", "flush-caches"])  # forget NXDOMAINs cached from before
    return read_link(run, link), True


def disable(run: Runner, link: str, address: str, zone: str) -> tuple[LinkDns, bool]:
    """Revert the link if dnsd's settings are on it; returns (after, changed)."""
    before = read_link(run, link)
    state = before.state(address, zone)
    if state is LinkState.DISABLED:
        return before, False
    if state is LinkState.FOREIGN:
        raise HostDnsError(
            f"{link} has DNS settings dnsd did not make ({before.describe()}); not reverting "
            f"them (`resolvectl revert {link}` would)"
        )
    _check(run, ["resolvectl", "revert", link])
    _check(run, ["resolvectl", "flush-caches"])
    return read_link(run, link), True


def link_ipv4(run: Runner, link: str) -> str:
    """The first IPv4 address of `link` (`ip -4 -o addr show dev LINK`)."""
    output = _check(run, ["ip", "-4", "-o", "addr", "show", "dev", link])
    match = re.search(r"\binet (\d+\.\d+\.\d+\.\d+)/", output)
    if match is None:
        raise HostDnsError(f"{link} has no IPv4 address; give dnsd's address with --address")
    return match.group(1)


def _check(run: Runner, argv: list[str]) -> str:
    done = run(argv)
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        raise HostDnsError(
            f"`{' '.join(argv)}` failed (exit {done.returncode}): "
            + (reason[-1] if reason else "no output")
        )
    return done.stdout


def _values(output: str) -> list[str]:
    """`Link 3 (docker0): a b` -> ["a", "b"]; the global line, if any, is skipped."""
    for line in output.splitlines():
        if line.startswith("Link ") and ":" in line:
            return line.split(":", 1)[1].split()
    return []


def _server_ip(server: str) -> str:
    """'172.17.0.1', '172.17.0.1#name', '172.17.0.1:53' or '[fe80::1]:53' -> the address."""
    text = server.split("#", 1)[0].split("%", 1)[0]
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return server
