"""Value parsers for settings: text in, a typed value out, or ValueError naming what is accepted.

Pure functions used by `dnsd.config`'s flag table (and by the CLI client for
addresses). No environment, no I/O except checking that a named file can be opened.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from registry.names import name_key

HostPort = tuple[str, int]
N = TypeVar("N", int, float)


def parse_host_port(text: str, default_port: int = 53) -> HostPort:
    """'127.0.0.1:53', '[::1]:53', '::1', 'host' -> (host, port)."""
    text = text.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host:
        raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:53")
    port = int_in_range(0, 65535)(port_text) if port_text else default_port
    return host, port


def format_host_port(host: str, port: int) -> str:
    """(host, port) as text, the inverse of `parse_host_port`: IPv6 hosts in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def in_range(convert: Callable[[str], N], low: N, high: N, what: str) -> Callable[[str], N]:
    """A parser for `convert(text)` between `low` and `high`; `what` names it in the error."""

    def parse(text: str) -> N:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise ValueError(f"expected {what} from {low} to {high}")
        return value

    return parse


def int_in_range(low: int, high: int) -> Callable[[str], int]:
    return in_range(int, low, high, "an integer")


def float_in_range(low: float, high: float) -> Callable[[str], float]:
    return in_range(float, low, high, "a number of seconds")


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def parse_domain(text: str) -> str:
    key = name_key(text.strip().rstrip("."))
    return key


def parse_readable_file(text: str) -> Path:
    path = Path(text)
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ValueError(f"expected a readable file ({exc.strerror})") from None
    return path


def parse_cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        raise ValueError("expected an address range such as 172.16.0.0/12 or ::1/128") from None


def parse_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise ValueError("expected an IPv4 or IPv6 address") from None


def parse_upstream(text: str) -> HostPort:
    """An upstream resolver: like a listen address, but port 0 means nothing."""
    host, port = parse_host_port(text, 53)
    if port == 0:
        raise ValueError("expected a port from 1 to 65535")
    return host, port


def parse_docker_url(text: str) -> str:
    if not text.startswith(("unix://", "tcp://", "http://", "https://", "ssh://", "npipe://")):
        raise ValueError("expected unix:///path/to/docker.sock or tcp://HOST:PORT")
    return text


def choice(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError("expected one of " + ", ".join(options))
        return text

    return parse
