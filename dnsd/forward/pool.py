"""The upstream list and its health: prefer upstreams that answer.

An upstream that times out or fails at the network level is penalised for a
while and moves to the back of the order; an answer clears the penalty. It
must not send anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dnsd.parsers import HostPort, format_host_port

PENALTY_SECONDS = 30.0


def label(upstream: HostPort) -> str:
    """'host:port', with IPv6 hosts in brackets (the metrics label)."""
    return format_host_port(*upstream)


@dataclass(slots=True)
class UpstreamState:
    """One upstream and until when it is out of favour."""

    address: HostPort
    label: str
    penalty_until: float = 0.0


class UpstreamPool:
    """Upstreams in configured order, healthy ones first."""

    def __init__(self, upstreams: Sequence[HostPort], penalty: float = PENALTY_SECONDS) -> None:
        self.states = [UpstreamState(u, label(u)) for u in dict.fromkeys(upstreams)]
        self._penalty = penalty

    def __bool__(self) -> bool:
        return bool(self.states)

    def ordered(self, now: float) -> list[UpstreamState]:
        """Healthy upstreams first, each group in configured order."""
        return sorted(self.states, key=lambda s: s.penalty_until > now)

    def healthy(self, now: float) -> int:
        return sum(1 for s in self.states if s.penalty_until <= now)

    def failed(self, state: UpstreamState, now: float) -> None:
        state.penalty_until = now + self._penalty

    def answered(self, state: UpstreamState) -> None:
        state.penalty_until = 0.0
