"""The descriptor budget: raise the open-files limit and size the forwarding cap from it.

dnsd needs descriptors for its listeners, TCP clients, the HTTP API and the
watchers in every case; upstream sockets get what is left. At start the soft
RLIMIT_NOFILE is raised to the hard limit (what BIND and Unbound do), and the
in-flight cap is lowered when the remainder cannot hold it. It must not open
sockets or know the configuration's types (plain numbers in, numbers out).
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

BASE_DESCRIPTORS = 64  # stdio, the loop's selector, log files, interpreter and library internals
PER_WATCHER = 16  # a Docker client: API connections from its worker threads and the event stream
PER_LISTEN_ADDRESS = 2  # one UDP and one TCP socket
MIN_CAP = 8  # below this forwarding is useless; the log says to raise the limit


@dataclass(frozen=True)
class Budget:
    """The open-files limit before and after raising it, and the forwarding cap chosen."""

    soft_before: int
    soft: int
    reserved: int
    cap: int
    lowered: bool  # the cap is below what was asked because descriptors are short


def raise_open_files_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns (soft before, soft now)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft, soft
        return soft, target
    return soft, soft


def reserved_descriptors(
    listen_addresses: int, tcp_connections: int, http_connections: int, watchers: int
) -> int:
    """Descriptors kept for everything that is not an upstream socket."""
    return (
        BASE_DESCRIPTORS
        + PER_LISTEN_ADDRESS * listen_addresses
        + tcp_connections
        + http_connections
        + PER_WATCHER * watchers
    )


def plan(wanted: int, soft_before: int, soft: int, reserved: int) -> Budget:
    """The forwarding cap: `wanted`, lowered to what `soft` leaves after `reserved`."""
    room = max(soft - reserved, MIN_CAP)
    cap = min(wanted, room)
    return Budget(soft_before, soft, reserved, cap, cap < wanted)
