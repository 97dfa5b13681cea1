"""The recursion ACL: which clients may use forwarding (dnsd is not an open resolver).

Static CIDRs from --allow-recursion plus, optionally, a callable returning the
current Docker network subnets. Decisions are memoised per client address and
the dynamic ranges are re-parsed only when the callable returns a different
set. It must not do I/O or know where the dynamic ranges come from.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence

from registry.view import parse_client_address

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MEMO_LIMIT = 4096


def default_allow() -> list[str]:
    """The ranges allowed when --allow-recursion is not given (Docker subnets come on top)."""
    return ["127.0.0.0/8", "::1/128"]


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """CIDR strings to networks; ValueError names the bad one."""
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


class RecursionAcl:
    """allows(client_ip) -> bool over static and dynamic CIDRs."""

    def __init__(
        self, allow: Sequence[str], dynamic: Callable[[], Iterable[str]] | None = None
    ) -> None:
        self._static = parse_networks(allow)
        self._dynamic = dynamic
        self._dynamic_raw: object = None
        self._dynamic_set: frozenset[str] = frozenset()
        self._networks = self._static
        self._memo: dict[str, bool] = {}

    def allows(self, client_ip: str) -> bool:
        dynamic = self._dynamic
        if dynamic is not None:
            raw = dynamic()
            if raw is not self._dynamic_raw:
                self._update(raw)
        decision = self._memo.get(client_ip)
        if decision is None:
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            decision = self._memo[client_ip] = self._decide(client_ip)
        return decision

    def decisions(self) -> dict[str, bool]:
        """The memo of allows(): client -> decision, current (the dynamic ranges are checked
        first); cleared in place when the ranges change, filled by allows(). Read-only."""
        if self._dynamic is not None:
            raw = self._dynamic()
            if raw is not self._dynamic_raw:
                self._update(raw)
        return self._memo

    def _decide(self, client_ip: str) -> bool:
        address = parse_client_address(client_ip)
        return address is not None and any(address in net for net in self._networks)

    def _update(self, raw: Iterable[str]) -> None:
        """Take the dynamic ranges `raw`; re-parse and forget decisions only if they differ."""
        if raw is self._dynamic_raw:
            return
        self._dynamic_raw = raw
        current = raw if isinstance(raw, frozenset) else frozenset(raw)
        if current == self._dynamic_set:
            return
        self._dynamic_set = current
        self._networks = self._static + parse_networks(sorted(current))
        self._memo.clear()
