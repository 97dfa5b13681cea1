"""`GET /v1/events`: the change history as JSON, or followed live as server-sent events.

`?name=` (a name as users write it, or a glob), `?since=`/`?until=` (epoch
seconds, ISO 8601, `14:02` meaning UTC today, or a duration such as `10m`),
`?limit=`. With `?follow=1` the reply is `text/event-stream`: the matching
history since `since` (or after the `Last-Event-ID` a reconnecting client
sends), then every new change as `event: change`, a comment every
`KEEPALIVE` seconds, `event: gap` when changes a client asked for have left
the history, and `event: dropped` before closing a follower that fell behind.
It must not decide what changed (`registry.changes` does) or hold followers
(`dnsd.ops.change_feed` does).
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from dnsd.core import explain
from dnsd.ops.change_feed import ChangeFeed, Follower, TooManyFollowers
from dnsd.ops.state import ServerState
from dnsd.ops.times import MAX_TEXT, parse_time, time_text
from registry import Change
from registry.names import qualify

KEEPALIVE = 15.0
WRITE_TIMEOUT = 10.0


def name_matcher(text: str, zone: str) -> Callable[[str], bool] | None:
    """A test on name keys for `?name=` (exact as users write it, or a glob); None = all."""
    pattern = text.strip().lower()[:MAX_TEXT]
    if not pattern:
        return None
    if any(ch in pattern for ch in "*?["):
        return lambda key: (
            fnmatch.fnmatchcase(key, pattern) or fnmatch.fnmatchcase(qualify(key, zone), pattern)
        )
    keys = frozenset(explain.lookup_keys(pattern, zone))
    if not keys:
        raise ValueError(f"{pattern!r} is not a DNS name or a glob like 'web*'")
    return keys.__contains__


def change_json(change: Change, zone: str) -> dict[str, object]:
    return {
        "seq": change.seq,
        "time": round(change.time, 3),
        "time_text": time_text(change.time),
        "name": change.name,
        "fqdn": qualify(change.name, zone),
        "change": change.kind.value,
        "detail": change.detail,
        "endpoint": change.endpoint,
        "id": change.endpoint_id,
        "source": change.source,
        "reason": change.reason,
        "answer": list(change.answer),
    }


class BadQuery(ValueError):
    """A query parameter the client got wrong; str() names it."""


def _int(request: web.Request, key: str, low: int, high: int) -> int | None:
    raw = request.query.get(key, "")
    if key == "after":  # a reconnecting EventSource's Last-Event-ID is newer than its URL
        raw = request.headers.get("Last-Event-ID") or raw
    if not raw:
        return None
    if not raw.strip().isdigit() or not low <= int(raw) <= high:
        raise BadQuery(f"{key} {raw[:MAX_TEXT]!r}: expected a whole number {low}-{high}")
    return int(raw)


def _flag(request: web.Request, key: str) -> bool:
    raw = request.query.get(key, "").lower()
    if raw not in ("", "0", "1", "true", "false", "yes", "no"):
        raise BadQuery(f"{key} {raw[:MAX_TEXT]!r}: expected 1 or 0")
    return raw in ("1", "true", "yes")


def _time(request: web.Request, key: str, now: float) -> float | None:
    raw = request.query.get(key, "")
    try:
        return parse_time(raw, now) if raw else None
    except ValueError as exc:
        raise BadQuery(f"{key}: {exc}") from None


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def events(request: web.Request, state: ServerState) -> web.StreamResponse:
    feed = state.changes
    if feed is None:
        return error(404, "this server keeps no change history")
    zone, now = state.config.zone, feed.clock()
    try:
        name = name_matcher(request.query.get("name", ""), zone)
        since, until = _time(request, "since", now), _time(request, "until", now)
        limit = _int(request, "limit", 1, max(feed.history.size, 1))
        after = _int(request, "after", 0, 2**63) or 0
        follow = _flag(request, "follow")
        if follow and until is not None:
            raise BadQuery("until cannot be combined with follow")
    except (BadQuery, ValueError) as exc:
        return error(400, str(exc))
    if follow:
        return await _follow(request, feed, name, since, after, zone)
    found = feed.history.query(name, since, until, after, limit)
    body = {
        "events": [change_json(c, zone) for c in found],
        "first_seq": feed.history.first_seq,
        "last_seq": feed.history.last_seq,
        "history_size": feed.history.size,
    }
    return web.json_response(body)


def _frame(kind: str, data: object, seq: int | None = None) -> str:
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def _follow(
    request: web.Request,
    feed: ChangeFeed,
    name: Callable[[str], bool] | None,
    since: float | None,
    after: int,
    zone: str,
) -> web.StreamResponse:
    try:
        follower = feed.follow(lambda change: name is None or name(change.name))
    except TooManyFollowers as exc:
        return error(503, str(exc))
    # No await between follow() and this query: nothing is missed or sent twice.
    replay = feed.history.query(name, since, None, after) if since is not None or after else []
    opening = "retry: 2000\n\n"
    if after and after < feed.history.first_seq - 1:
        opening += _frame("gap", {"after": after, "first_seq": feed.history.first_seq})
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    try:
        await response.prepare(request)
        await _write(response, opening + "".join(_change(c, zone) for c in replay))
        await _stream(response, follower, zone)
    except (ConnectionError, TimeoutError):
        if request.transport is not None:
            request.transport.close()
    finally:
        feed.unfollow(follower)
    return response


async def _stream(response: web.StreamResponse, follower: Follower, zone: str) -> None:
    while not follower.closed:
        batch = await follower.next_batch(KEEPALIVE)
        if follower.dropped:
            message = (
                f"this follower fell more than {follower.limit} changes behind and was dropped; "
                "reconnect with Last-Event-ID to resume from the history"
            )
            await _write(response, _frame("dropped", {"error": message}))
            return
        await _write(response, "".join(_change(c, zone) for c in batch) or ": keepalive\n\n")


def _change(change: Change, zone: str) -> str:
    return _frame("change", change_json(change, zone), change.seq)


async def _write(response: web.StreamResponse, text: str) -> None:
    await asyncio.wait_for(response.write(text.encode()), WRITE_TIMEOUT)


def add_routes(app: web.Application, state: ServerState) -> None:
    """Register GET /v1/events; followers end when the server shuts down."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return await events(request, state)

    async def end_followers(_: Any) -> None:
        if state.changes is not None:
            state.changes.end_followers()

    app.router.add_get("/v1/events", handler, allow_head=False)
    app.on_shutdown.append(end_followers)
