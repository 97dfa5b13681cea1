"""The query pipeline: one chain for every query, UDP or TCP.

fast path (encoded replies) -> the pure core (`wire.decide`, reached through the fast path on a
miss) -> the forwarder (its cache, then upstream); like CoreDNS's handlers, each link answers or
passes the query on (the fast path hands its decisions to `_decided`). `Pipeline.handle(data,
client, udp)` returns the reply to send now, a task that will produce it (a query gone
upstream), or None (drop); the transport shells write what it returns and know nothing else.
Every query is counted and (with --query-log) logged once, where it leaves the chain: a local
hit in the fast path (counted as it is served), everything else in `_finish`. The one SERVFAIL
for a failed forward and the one REFUSED for a query that may not be forwarded come from
`packet.error_reply`. Unexpected errors are logged here at most once a minute. It must not
touch sockets or parse DNS beyond `packet`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from dnslib import RCODE

from dnsd.core.packet import HEADER_SIZE, error_reply, fit_udp, question_of, rcode_of
from dnsd.core.wire import Decision, Drop, Forward, Reply
from dnsd.core.zone import ZoneSettings
from dnsd.ops.metrics import Metrics
from dnsd.serve.entries import LOCAL, METRIC_KEYS, metric_key
from dnsd.serve.fastpath import FastPath, HitTables
from registry import Store

log = logging.getLogger(__name__)

ERROR_LOG_INTERVAL = 60.0
CACHE, UPSTREAM = "cache", "upstream"
Outcome = bytes | asyncio.Task[bytes | None] | None
Handler = Callable[[bytes, str, bool], Outcome]


class ForwardHandler(Protocol):
    """What the pipeline needs from the forwarder (built in `dnsd/forward/`)."""

    def allows(self, client_ip: str) -> bool: ...  # recursion ACL; False -> REFUSED

    def recursion_decisions(self) -> dict[str, bool]: ...  # allows()'s memo, current

    def cached_reply(self, query: bytes) -> bytes | None: ...  # cache hit with the query's ID

    @property
    def cached_until(self) -> float: ...  # the last hit stays right until then (on `clock`)

    @property
    def clock(self) -> Callable[[], float]: ...

    # Called when the query arrives (its one deadline starts then); awaited in a task.
    def forward(self, query: bytes, client_ip: str, via_tcp: bool) -> Awaitable[bytes | None]: ...


class ErrorLog:
    """Logs an unexpected error at most once per interval, with how many were suppressed."""

    def __init__(self, interval: float = ERROR_LOG_INTERVAL) -> None:
        self._interval = interval
        self._last = -interval
        self._suppressed = 0

    def __call__(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last < self._interval:
            self._suppressed += 1
            return
        suppressed, self._suppressed = self._suppressed, 0
        self._last = now
        log.error("%s (%d similar suppressed)", what, suppressed, exc_info=exc)


class Pipeline:
    """The chain every query passes; one per server, shared by all its listeners.

    `handle(data, client, udp)` is the fast path's lookup itself (no extra frame on a hit), or
    a wrapper that also logs local hits when --query-log is on.
    """

    def __init__(
        self,
        store: Store,
        settings: ZoneSettings,
        metrics: Metrics,
        forwarder: ForwardHandler | None = None,
        *,
        query_log: bool = False,
    ) -> None:
        self.metrics = metrics
        self.forwarder = forwarder
        self.query_log = query_log
        self.log_error = ErrorLog()
        self.fast: FastPath[Outcome] = FastPath(
            store,
            settings,
            metrics.queries,
            self._decided,
            forwarded=forwarder if not query_log else None,  # its hits would be logged as local
            metrics=metrics,
        )
        self.handle: Handler = self._logged if query_log else self.fast.lookup
        # UDP hits served in C (batch.py) read the fast path's tables; not with --query-log,
        # where every hit is logged
        self.hit_tables: Callable[[], HitTables] | None = (
            None if query_log else self.fast.hit_tables
        )
        self._queries = metrics.queries
        self._tasks: set[asyncio.Task[bytes | None]] = set()
        self._finished = 0  # queries that reached _finish (tells local hits apart in _logged)

    def _logged(self, data: bytes, client: str, udp: bool) -> Outcome:
        """`handle` with --query-log: the fast path, then a log line for a local hit."""
        finished = self._finished
        reply = self.fast.lookup(data, client, udp)
        if reply.__class__ is bytes and self._finished == finished:
            log_query(client, data, rcode_of(reply), LOCAL)
        return reply

    def _decided(self, decision: Decision, data: bytes, client: str, udp: bool) -> Outcome:
        """The links after the fast path: a local reply, a drop, or the forwarder (its cache's
        hit is sent at once, like a local hit; a miss goes upstream in a task)."""
        if decision.__class__ is Forward:
            forwarder = self.forwarder
            if forwarder is None or not forwarder.allows(client):
                return self._refused(decision, data, client)
            cached = forwarder.cached_reply(data)
            if cached is not None:
                sent = self._forwarded(cached, decision, data, client, udp, CACHE)
                if sent is cached and not self.query_log:  # not cut to fit: keep it in the table
                    until = forwarder.cached_until
                    self.fast.keep_forwarded(data, client, udp, cached, until, decision)
                return sent
            return self._start_upstream(forwarder, decision, data, client, udp)
        if decision.__class__ is Drop:
            self.metrics.dropped_packets += 1
            return None
        return self._local(decision, data, client)  # type: ignore[arg-type]

    async def close(self) -> None:
        """Cancel forwards in flight and stop following the store."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.fast.close()

    def _local(self, reply: Reply, data: bytes, client: str) -> bytes:
        started = time.perf_counter()
        if reply.error is not None:
            self.log_error("answering a query failed; replied SERVFAIL", reply.error)
        sent = self._finish(reply.data, reply.qtype, reply.rcode, LOCAL, data, client)
        self.metrics.answer_latency.observe(time.perf_counter() - started)
        return sent

    def _refused(self, decision: Forward, data: bytes, client: str) -> bytes:
        """A query that may not be forwarded (no forwarder, or outside the ACL)."""
        refused = error_reply(data, RCODE.REFUSED, opt_size=decision.opt_size)
        return self._finish(refused, decision.qtype, RCODE.REFUSED, LOCAL, data, client)

    def _start_upstream(
        self, forwarder: ForwardHandler, decision: Forward, data: bytes, client: str, udp: bool
    ) -> Outcome:
        """Hand the query to the forwarder now (its deadline starts here); a task unless the
        forwarder decided at once (e.g. SERVFAIL beyond its in-flight cap)."""
        try:
            pending = forwarder.forward(data, client, not udp)
        except Exception as exc:  # the forwarder's bug must not kill the server
            self.log_error("forwarding a query failed; replied SERVFAIL", exc)
            failed = error_reply(data, RCODE.SERVFAIL, opt_size=decision.opt_size, recursion=True)
            return self._forwarded(failed, decision, data, client, udp, UPSTREAM)
        reply = _settled(pending)
        if reply is not None:
            return self._forwarded(reply, decision, data, client, udp, UPSTREAM)
        task = asyncio.get_running_loop().create_task(
            self._upstream(pending, decision, data, client, udp)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _upstream(
        self,
        pending: Awaitable[bytes | None],
        decision: Forward,
        data: bytes,
        client: str,
        udp: bool,
    ) -> bytes | None:
        started = time.perf_counter()
        try:
            reply = await pending
        except Exception as exc:  # the forwarder's bug must not kill the server
            self.log_error("forwarding a query failed; replied SERVFAIL", exc)
            reply = error_reply(data, RCODE.SERVFAIL, opt_size=decision.opt_size, recursion=True)
        if reply is None:
            return None
        sent = self._forwarded(reply, decision, data, client, udp, UPSTREAM)
        self.metrics.answer_latency.observe(time.perf_counter() - started)
        return sent

    def _forwarded(
        self, reply: bytes, decision: Forward, data: bytes, client: str, udp: bool, source: str
    ) -> bytes | None:
        if len(reply) < HEADER_SIZE:
            return None
        if udp and len(reply) > decision.udp_limit:
            reply = fit_udp(reply, decision.udp_limit, decision.opt_size)
        return self._finish(reply, decision.qtype, rcode_of(reply), source, data, client)

    def _finish(
        self, reply: bytes, qtype: int, rcode: int, source: str, data: bytes, client: str
    ) -> bytes:
        """The end of the chain: count the query, log it, hand back the reply."""
        key = METRIC_KEYS.get((qtype, rcode, source)) or metric_key(qtype, rcode, source)
        self._queries[key] += 1
        if self.query_log:
            self._finished += 1
            log_query(client, data, rcode, source)
        return reply


def _settled(pending: Awaitable[bytes | None]) -> bytes | None:
    """The reply of a future that already holds one, else None."""
    if not isinstance(pending, asyncio.Future) or not pending.done() or pending.cancelled():
        return None
    return pending.result() if pending.exception() is None else None


def log_query(client: str, query: bytes, rcode: int, source: str) -> None:
    """The --query-log line: client, name, type, rcode, source."""
    name, qtype = question_of(query) or ("?", 0)
    qtype_name, rcode_name, _ = metric_key(qtype, rcode, source)
    log.info("query %s %s %s -> %s (%s)", client, name, qtype_name, rcode_name, source)
