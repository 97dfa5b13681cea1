"""Default upstreams from /etc/resolv.conf, skipping any address dnsd itself listens on.

`default_upstreams` is a pure function over the file's text; `read_resolv_conf`
is the thin reader. A loopback stub such as systemd-resolved's 127.0.0.53 is a
fine upstream because dnsd runs on the host. Nothing here sends traffic.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path

from dnsd.parsers import HostPort

DNS_PORT = 53
WILDCARDS = ("0.0.0.0", "::", "")


def nameservers(resolv_conf_text: str) -> list[str]:
    """The `nameserver` addresses in resolv.conf text, in order, valid IPs only."""
    found: list[str] = []
    for line in resolv_conf_text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            host = fields[1]
            try:
                ipaddress.ip_address(host.partition("%")[0])
            except ValueError:
                continue
            if host not in found:
                found.append(host)
    return found


def is_own_address(upstream: HostPort, own_listen: Sequence[HostPort]) -> bool:
    """True if sending to `upstream` would reach one of dnsd's own listeners."""
    host, port = upstream
    for own_host, own_port in own_listen:
        if own_port != port:
            continue
        if own_host == host or _same_ip(own_host, host):
            return True
        if own_host in WILDCARDS and _is_loopback(host):
            return True
    return False


def default_upstreams(resolv_conf_text: str, own_listen: Sequence[HostPort]) -> list[HostPort]:
    """Upstreams (host, 53) from resolv.conf text, minus dnsd's own listen addresses."""
    candidates = [(host, DNS_PORT) for host in nameservers(resolv_conf_text)]
    return [u for u in candidates if not is_own_address(u, own_listen)]


def read_resolv_conf(path: str | Path = "/etc/resolv.conf") -> str:
    """The file's text, or "" if it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _same_ip(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.partition("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"
