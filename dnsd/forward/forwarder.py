"""The Forwarder: answers every name dnsd is not authoritative for by asking upstreams.

Implements the pipeline's ForwardHandler seam (`allows`, `cached_reply`,
`forward`; `dnsd.serve.pipeline`): ACL check, cache, coalescing of identical in-flight queries,
upstream order by health, UDP with TCP retry on TC, one absolute deadline per
query from its arrival, a cap on queries in flight (SERVFAIL at once beyond
it), SERVFAIL (or a stale answer) when every upstream fails, and loop detection.
It must not listen on sockets, truncate for UDP clients (the pipeline does),
or import more of the DNS core than `dnsd.core.packet`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence

from dnsd.forward.acl import RecursionAcl, default_allow
from dnsd.forward.admission import Admission, default_cap
from dnsd.forward.attempt import Attempts
from dnsd.forward.cache import ReplyCache
from dnsd.forward.deadline import settled, wait_until
from dnsd.forward.message import (
    NOERROR,
    NXDOMAIN,
    REFUSED,
    SERVFAIL,
    CacheKey,
    Question,
    WireError,
    analyze_reply,
    error_reply,
    for_client,
    parse_query,
)
from dnsd.forward.pool import UpstreamPool
from dnsd.forward.resolvconf import is_own_address
from dnsd.ops.metrics import Metrics
from dnsd.parsers import HostPort

log = logging.getLogger(__name__)
MIN_ATTEMPT = 0.01  # below this much time left, another attempt is pointless
LOOP_LOG_INTERVAL = 60.0
QUESTION_MEMO_LIMIT = 4096


class _ClientForm:
    """A cache hit as one client query wants it: `tail` is the reply after its ID, made
    from the cache's rendering `source` (compared by identity; a new rendering means new TTLs
    or a new entry)."""

    __slots__ = ("question", "source", "tail")

    def __init__(self, question: Question) -> None:
        self.question = question
        self.source: bytes | None = None
        self.tail = b""


class Forwarder:
    """Forwarding with cache, failover and coalescing; one per process."""

    def __init__(
        self,
        upstreams: Sequence[HostPort],
        metrics: Metrics,
        *,
        timeout: float = 1.0,
        deadline: float = 3.0,
        cache_size: int = 10_000,
        cache_max_ttl: int = 3600,
        serve_stale: bool = False,
        allow: Sequence[str] | None = None,
        dynamic_allow: Callable[[], Iterable[str]] | None = None,
        own_addresses: Sequence[HostPort] = (),
        max_in_flight: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        negative_ttl: int = 0,
    ) -> None:
        usable = [u for u in upstreams if not is_own_address(u, own_addresses)]
        self._pool = UpstreamPool(usable)
        self._attempts = Attempts(self._pool, metrics, timeout)
        self._metrics = metrics
        self._timeout = timeout
        self._deadline = deadline
        self._serve_stale = serve_stale
        self._cache = ReplyCache(
            cache_size, cache_max_ttl, serve_stale=serve_stale, clock=clock,
            negative_without_soa=negative_ttl,
        )  # fmt: skip
        self._acl = RecursionAcl(default_allow() if allow is None else allow, dynamic_allow)
        self._inflight: dict[CacheKey, asyncio.Task[bytes]] = {}
        self._last_loop_log = -LOOP_LOG_INTERVAL
        self._questions: dict[bytes, Question | None] = {}  # query minus ID -> question
        self._client_forms: dict[bytes, _ClientForm] = {}  # query minus ID -> its cache hit
        self._has_upstreams = bool(self._pool)
        self._admission = Admission(max_in_flight or default_cap(len(self._pool.states)))

    @property
    def upstreams(self) -> list[HostPort]:
        """The upstreams in use (configured minus dnsd's own addresses)."""
        return [s.address for s in self._pool.states]

    # -- the ForwardHandler seam ------------------------------------------

    def allows(self, client_ip: str) -> bool:
        """May this client use forwarding? False when there is no upstream at all."""
        return self._has_upstreams and self._acl.allows(client_ip)

    def recursion_decisions(self) -> dict[str, bool]:
        """allows()'s memo per client, current (the fast path's C hits read it per batch)."""
        return self._acl.decisions() if self._has_upstreams else {}

    @property
    def clock(self) -> Callable[[], float]:
        """The cache's clock (monotonic seconds), the one `cached_until` is read on."""
        return self._cache.clock

    @property
    def cached_until(self) -> float:
        """Until when the reply the last `cached_reply` hit returned stays exactly right (its
        TTLs are re-rendered each second); the fast path may serve it again until then."""
        return self._cache.last_until

    def cached_reply(self, query: bytes) -> bytes | None:
        """A fresh cached reply for the query with its ID, or None (counts hit/miss).

        The hot path of cached forwarding: the client's form of a cached reply (its RD bit
        and name case) is memoised per query bytes and reused while the cache hands out the
        same rendering (new TTLs at most once a second), so a repeated hit is two dict lookups
        and one concatenation.
        """
        body = query[2:]
        form = self._client_forms.get(body)
        if form is None:
            question = self._question(query)
            if question is None:
                return None
            form = _ClientForm(question)
        reply = self._cache.fresh(form.question.key)
        if reply is None:
            self._metrics.cache_misses += 1
            return None
        self._metrics.cache_hits += 1
        if form.source is not reply:
            if len(self._client_forms) >= QUESTION_MEMO_LIMIT:
                self._client_forms.clear()
            form.source, form.tail = reply, for_client(reply, query, form.question)[2:]
            self._client_forms[body] = form
        return query[:2] + form.tail

    def forward(self, query: bytes, client_ip: str, via_tcp: bool) -> asyncio.Future[bytes | None]:
        """The upstream's reply with the client's ID; None only for an unreadable query.

        Call it when the query arrives: its one absolute deadline starts here, and
        admission is decided here (beyond the in-flight cap: SERVFAIL at once).
        The future is settled by the deadline whatever the upstreams do.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._deadline
        question = self._question(query)
        if question is None:
            return settled(None)
        if not self._pool:
            return settled(error_reply(query, question, REFUSED, recursion=False))
        if (question.name, question.qtype) in self._attempts.outgoing:
            self._report_loop(question, client_ip)
            return settled(error_reply(query, question, SERVFAIL, recursion=True))
        reply = self._cache.fresh(question.key)
        if reply is not None:
            return settled(for_client(reply, query, question))
        if self._admission.full():
            self._metrics.forward_refused += 1
            return settled(error_reply(query, question, SERVFAIL, recursion=True))
        return self._wait(self._join(question, query, deadline), question, query, deadline)

    # -- lifecycle and figures ----------------------------------------------

    def stats(self) -> dict[str, float]:
        """Cache and upstream figures for /health and metrics."""
        return {
            "cache_entries": float(len(self._cache)),
            "cache_hits": float(self._metrics.cache_hits),
            "cache_misses": float(self._metrics.cache_misses),
            "upstreams": float(len(self._pool.states)),
            "upstreams_healthy": float(self._pool.healthy(time.monotonic())),
            "in_flight": float(self._admission.waiting),
            "in_flight_limit": float(self._admission.limit),
            "upstream_queries": float(len(self._inflight)),
        }

    async def close(self) -> None:
        """Cancel in-flight upstream queries."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._inflight.clear()

    # -- resolving ----------------------------------------------------------

    def _question(self, query: bytes) -> Question | None:
        """parse_query, memoised on everything but the ID (clients repeat their queries)."""
        body = query[2:]
        try:
            return self._questions[body]
        except KeyError:
            pass
        if len(self._questions) >= QUESTION_MEMO_LIMIT:
            self._questions.clear()
        question = self._questions[body] = parse_query(query)
        return question

    def _join(self, question: Question, query: bytes, deadline: float) -> asyncio.Task[bytes]:
        """The in-flight resolution for this question, started if there is none."""
        key = question.key
        task = self._inflight.get(key)
        if task is None:
            coro = self._resolve(question, query, deadline)
            task = asyncio.get_running_loop().create_task(coro)
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        self._admission.join(task)
        return task

    def _finished(self, key: CacheKey, task: asyncio.Task[bytes]) -> None:
        self._admission.finished(task)
        if self._inflight.get(key) is task:
            del self._inflight[key]

    def _wait(
        self, task: asyncio.Task[bytes], question: Question, query: bytes, deadline: float
    ) -> asyncio.Future[bytes | None]:
        """This client's future: the resolution's reply, or SERVFAIL/stale at its deadline."""
        return wait_until(
            task,
            deadline,
            lambda reply: for_client(reply, query, question),
            lambda: for_client(self._give_up(question, query), query, question),
        )

    def _give_up(self, question: Question, query: bytes) -> bytes:
        """What a client gets when no upstream answered in time: stale (if allowed) or SERVFAIL."""
        stale = self._cache.stale(question.key) if self._serve_stale else None
        return stale or error_reply(query, question, SERVFAIL, recursion=True)

    async def _resolve(self, question: Question, query: bytes, deadline: float) -> bytes:
        try:
            return await self._ask_upstreams(question, query, deadline)
        except Exception:
            log.exception("forwarding %r failed unexpectedly", question.name)
            return error_reply(query, question, SERVFAIL, recursion=True)

    async def _ask_upstreams(self, question: Question, query: bytes, deadline: float) -> bytes:
        """Try upstreams, healthiest first, until one answers or the deadline passes."""
        loop = asyncio.get_running_loop()
        done_with: set[str] = set()  # only upstreams that timed out are asked again
        fallback: bytes | None = None
        while loop.time() < deadline - MIN_ATTEMPT:
            candidates = [
                s for s in self._pool.ordered(time.monotonic()) if s.label not in done_with
            ]
            if not candidates:
                break
            for state in candidates:
                budget = min(self._timeout, deadline - loop.time())
                if budget < MIN_ATTEMPT:
                    break
                kind, reply = await self._attempts.attempt(state, question, budget, deadline)
                if kind == "ok" and reply is not None:
                    return self._answered(question, reply)
                if kind == "truncated":
                    fallback = reply
                if kind != "timeout":
                    done_with.add(state.label)
        stale = self._cache.stale(question.key) if self._serve_stale else None
        return stale or fallback or error_reply(query, question, SERVFAIL, recursion=True)

    def _answered(self, question: Question, reply: bytes) -> bytes:
        """Cache the reply if allowed; return it with ID zero."""
        reply = b"\x00\x00" + reply[2:]
        try:
            facts = analyze_reply(reply)
        except WireError:
            return reply
        if facts.rcode in (NOERROR, NXDOMAIN):
            self._cache.put(question.key, reply, facts)
        return reply

    def _report_loop(self, question: Question, client_ip: str) -> None:
        self._metrics.upstream_errors[("self", "loop")] += 1
        now = time.monotonic()
        if now - self._last_loop_log >= LOOP_LOG_INTERVAL:
            self._last_loop_log = now
            log.warning(
                "forwarding loop: our own upstream query for %r came back from %s; "
                "answering SERVFAIL (check --upstream / resolv.conf)",
                question.name,
                client_ip,
            )
