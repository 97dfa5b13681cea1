"""One attempt at one upstream: the exchange, its verdict, and the upstream's health.

UDP first, TCP when the reply is truncated; the verdict is 'ok', 'servfail',
'refused', 'truncated' (TCP failed after a TC reply) or an error kind
('timeout', 'spoofed', 'network': a fixed set, so metric labels stay bounded).
The 0x20 spellings of queries in flight are kept so the forwarder can spot
its own queries coming back (a loop). It must not choose upstreams, cache or
answer clients.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter

from dnsd.forward.message import REFUSED, SERVFAIL, Question, mixed_case, upstream_query
from dnsd.forward.pool import UpstreamPool, UpstreamState
from dnsd.forward.upstream import SpoofedReply, exchange_tcp, exchange_udp
from dnsd.ops.metrics import Metrics

ERROR_KINDS = ("timeout", "spoofed", "network", "servfail", "refused")
_FAILURES = (TimeoutError, OSError, EOFError, SpoofedReply)
Verdict = tuple[str, bytes | None]


class Attempts:
    """Runs attempts against the pool's upstreams and keeps their books."""

    def __init__(self, pool: UpstreamPool, metrics: Metrics, timeout: float) -> None:
        self._pool = pool
        self._metrics = metrics
        self._timeout = timeout
        self.outgoing: Counter[tuple[bytes, int]] = Counter()  # our 0x20 spellings in flight

    async def attempt(
        self, state: UpstreamState, question: Question, budget: float, deadline: float
    ) -> Verdict:
        """One exchange with one upstream: ('ok', reply) or (error kind, maybe a reply)."""
        loop = asyncio.get_running_loop()
        qid = secrets.randbelow(0x10000)
        spelling = (mixed_case(question.name), question.qtype)
        packet = upstream_query(question, qid, spelling[0])
        started = loop.time()
        self.outgoing[spelling] += 1
        try:
            reply = await exchange_udp(
                state.address, packet, qid, question, budget, lambda: self._error(state, "spoofed")
            )
            if reply[2] & 0x02:  # TC: ask again over TCP
                tcp_budget = min(self._timeout, deadline - loop.time())
                try:
                    reply = await exchange_tcp(state.address, packet, qid, question, tcp_budget)
                except _FAILURES as exc:
                    self._failed(state, exc)
                    return "truncated", reply
        except _FAILURES as exc:
            self._failed(state, exc)
            return _kind(exc), None
        finally:
            self._release(spelling)
        self._metrics.observe_upstream(state.label, loop.time() - started)
        return self._judge(state, reply)

    def _judge(self, state: UpstreamState, reply: bytes) -> Verdict:
        rcode = reply[3] & 0x0F
        self._pool.answered(state)
        if rcode == SERVFAIL:
            self._error(state, "servfail")
            return "servfail", reply
        if rcode == REFUSED:
            self._error(state, "refused")
            return "refused", reply
        return "ok", reply

    def _failed(self, state: UpstreamState, exc: BaseException) -> None:
        kind = _kind(exc)
        self._error(state, kind)
        if kind != "spoofed":
            self._pool.failed(state, time.monotonic())

    def _error(self, state: UpstreamState, kind: str) -> None:
        self._metrics.upstream_errors[(state.label, kind)] += 1

    def _release(self, spelling: tuple[bytes, int]) -> None:
        self.outgoing[spelling] -= 1
        if self.outgoing[spelling] <= 0:
            del self.outgoing[spelling]


def _kind(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, SpoofedReply):
        return "spoofed"
    return "network"
