"""The status page: `GET /` and the two fragments its script fetches to stay live.

`GET /` is one self-contained HTML page (no external assets, no build step):
zone, listeners, sources and their state, every name with its endpoints, and
the change history; a little plain JavaScript filters the names as you type
and follows `/v1/events` to update them. `GET /status/rows?name=KEY...` returns
the table rows of those names (all rows without `name`), `GET /status/summary`
the summary block; both server-rendered by `dnsd.ops.status_render`. Each page
gets a fresh CSP nonce: only its own inline script and style run. It must not
answer DNS or decide anything about names.
"""

from __future__ import annotations

import secrets
from collections import Counter

from aiohttp import web

from dnsd import __version__
from dnsd.ops.state import ServerState
from dnsd.ops.status_render import Summary, render_changes, render_page, render_rows, render_summary

MAX_NAMES = 500
MAX_NAME_LENGTH = 300


def summary_of(state: ServerState) -> Summary:
    snapshot = state.store.snapshot
    history = state.changes.history if state.changes is not None else None
    return Summary(
        version=__version__,
        zone=state.config.zone,
        started=state.started,
        registry_version=snapshot.version,
        names=len(snapshot.names()),
        endpoints=len(snapshot.endpoints),
        listeners=list(state.listeners),
        watchers=state.watcher_report(),
        per_source=dict(Counter(source for source, _ in snapshot.endpoints)),
        history_size=history.size if history else 0,
        last_seq=history.last_seq if history else 0,
    )


def _headers(nonce: str = "") -> dict[str, str]:
    own = f"'nonce-{nonce}'" if nonce else "'none'"
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": (
            f"default-src 'none'; script-src {own}; style-src {own}; connect-src 'self'; "
            "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
    }


def _html(text: str, request: web.Request, nonce: str = "") -> web.Response:
    response = web.Response(body=text.encode(), headers=_headers(nonce))
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response.enable_compression()
    return response


async def page(request: web.Request, state: ServerState) -> web.Response:
    snapshot, config = state.store.snapshot, state.config
    nonce = secrets.token_urlsafe(16)
    changes = state.changes.history.query() if state.changes is not None else []
    text = render_page(
        nonce,
        summary_of(state),
        render_rows(snapshot, config.zone, config.unhealthy),
        render_changes(changes, config.zone),
        len(snapshot.names()),
    )
    return _html(text, request, nonce)


async def rows(request: web.Request, state: ServerState) -> web.Response:
    keys = request.query.getall("name", [])
    if len(keys) > MAX_NAMES or any(len(k) > MAX_NAME_LENGTH for k in keys):
        return web.json_response(
            {"error": f"at most {MAX_NAMES} names of up to {MAX_NAME_LENGTH} characters"},
            status=400,
        )
    config = state.config
    text = render_rows(state.store.snapshot, config.zone, config.unhealthy, keys or None)
    return _html(text, request)


async def summary(request: web.Request, state: ServerState) -> web.Response:
    return _html(render_summary(summary_of(state)), request)


def add_routes(app: web.Application, state: ServerState) -> None:
    """Register GET /, /status/rows and /status/summary."""

    async def get_page(request: web.Request) -> web.Response:
        return await page(request, state)

    async def get_rows(request: web.Request) -> web.Response:
        return await rows(request, state)

    async def get_summary(request: web.Request) -> web.Response:
        return await summary(request, state)

    app.router.add_get("/", get_page, allow_head=False)
    app.router.add_get("/status/rows", get_rows, allow_head=False)
    app.router.add_get("/status/summary", get_summary, allow_head=False)
