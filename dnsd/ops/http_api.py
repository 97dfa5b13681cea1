"""The HTTP API: health, readiness, the explain views, Prometheus metrics, manual records
(validated by `dnsd.ops.static_records`).

`build_app(state)` returns the aiohttp application; `start_http(state, host,
port)` runs it with AppRunner/SockSite inside the current loop, on the sockets
`dnsd.ops.http_listen` binds. Handlers only
read `ServerState`; manual records go into the registry through
`state.store.apply` like any watcher's events. Every error is JSON. It must not
answer DNS or know about Docker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import ipaddress
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from dnsd import __version__
from dnsd.core import explain
from dnsd.ops import events_api, prometheus, status_page
from dnsd.ops.http_bounds import HttpBounds, limit_connections
from dnsd.ops.http_listen import BACKLOG, bind_http
from dnsd.ops.state import ServerState
from dnsd.ops.static_records import API_SOURCE, static_endpoint, static_key
from dnsd.parsers import format_host_port
from registry import ClientView, Remove, Upsert
from registry.snapshot import Snapshot

log = logging.getLogger(__name__)

STATE = web.AppKey("state", ServerState)
BOUNDS = web.AppKey("bounds", HttpBounds)
MAX_FILTER = 255
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def reply(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, default=str))


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's 404/405 and any crash into `{"error": ...}` JSON."""
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        return error(
            405,
            f"method {request.method} is not allowed on {request.path}; allowed: {allowed}",
            {"Allow": allowed},
        )
    except web.HTTPNotFound:
        return error(404, f"no such endpoint: {request.path}")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error(exc.status, exc.reason)
    except Exception:  # one catch-all per shell
        log.exception("HTTP %s %s failed", request.method, request.path)
        return error(500, "internal error; see the dnsd log")


def _state(request: web.Request) -> ServerState:
    return request.app[STATE]


def _filters(request: web.Request) -> explain.Filters:
    """The list filters; each at most 255 characters (a DNS name's length), else 400."""
    keys = ("name", "container", "network", "node")
    values = [request.query.get(key, "") for key in keys]
    if any(len(value) > MAX_FILTER for value in values):
        raise web.HTTPBadRequest(reason=f"filters are at most {MAX_FILTER} characters")
    return explain.Filters(*values)


async def health(request: web.Request) -> web.Response:
    state = _state(request)
    snapshot = state.store.snapshot
    body: dict[str, object] = {
        "status": "ok" if state.dns_bound else "dns listeners not bound",
        "version": __version__,
        "uptime_seconds": round(time.time() - state.started, 3),
        "listeners": list(state.listeners),
        "watchers": [dataclasses.asdict(w) for w in state.watcher_report()],
        "records": len(snapshot.names()),
        "endpoints": len(snapshot.endpoints),
        "registry_version": snapshot.version,
        "forwarder": state.forwarder_stats(),
    }
    if state.cluster_report is not None:
        body["cluster"] = state.cluster_report()
    return reply(body, 200 if state.dns_bound else 503)


async def ready(request: web.Request) -> web.Response:
    state = _state(request)
    if state.ready():
        return reply({"ready": True})
    waiting = [] if state.dns_bound else ["dns listeners"]
    waiting += [w.source for w in state.watcher_report() if not w.synced_once]
    return reply({"ready": False, "waiting_for": waiting}, 503)


def _client(request: web.Request, snapshot: Snapshot) -> ClientView | web.Response:
    """`?client=<container name, id prefix or IP>`: whose view to show (400 when unknown)."""
    text = request.query.get("client", "")[:256]
    found = explain.client_view_of(snapshot, text)
    if found is None:
        return error(400, f"client {text!r}: no such container; give a container or an IP")
    return found


async def records(request: web.Request) -> web.Response:
    state = _state(request)
    snapshot = state.store.snapshot
    client = _client(request, snapshot)
    if isinstance(client, web.Response):
        return client
    views = explain.records_view(
        snapshot, state.config.zone, state.config.unhealthy, _filters(request), client
    )
    body: dict[str, object] = {"records": views}
    who = explain.recognition_view(snapshot, request.query.get("client", "")[:256])
    if who is not None:
        body["client"] = who
    return reply(body)


async def record(request: web.Request) -> web.Response:
    state = _state(request)
    snapshot = state.store.snapshot
    client = _client(request, snapshot)
    if isinstance(client, web.Response):
        return client
    name = request.match_info["name"]
    view = explain.explain_name(snapshot, name, state.config.zone, state.config.unhealthy, client)
    if view is None:
        return error(404, f"no such name: {name}")
    who = explain.recognition_view(snapshot, request.query.get("client", "")[:256])
    scoped = view.get("client")
    if who is not None and isinstance(scoped, dict):
        scoped["recognised_as"] = who
    return reply(view)


async def containers(request: web.Request) -> web.Response:
    state = _state(request)
    return reply({"containers": explain.containers_view(state.store.snapshot, _filters(request))})


async def metrics(request: web.Request) -> web.Response:
    body = prometheus.render(_state(request))
    return web.Response(body=body.encode(), headers={"Content-Type": prometheus.CONTENT_TYPE})


# -- manual records (only with --api-token) -----------------------------------


def _static_count(state: ServerState) -> int:
    return sum(1 for source, _ in state.store.snapshot.endpoints if source == API_SOURCE)


def _authorized(request: web.Request) -> bool:
    token = _state(request).config.api_token or ""
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def _unauthorized() -> web.Response:
    return error(
        401,
        "missing or wrong bearer token (Authorization: Bearer <--api-token>)",
        {"WWW-Authenticate": 'Bearer realm="dnsd"'},
    )


async def put_static(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _unauthorized()
    state, bounds = _state(request), request.app[BOUNDS]
    try:
        async with asyncio.timeout(bounds.body_seconds):
            body = await request.json()
    except TimeoutError:
        return error(408, f"the body did not arrive within {bounds.body_seconds:g}s")
    except ValueError:
        return error(400, "the body is not valid JSON")
    try:
        key = static_key(request.match_info["name"], state.config.zone)
        endpoint = static_endpoint(key, body, bounds)
    except ValueError as exc:
        return error(400, str(exc))
    existed = endpoint.ref in state.store.snapshot.endpoints
    if not existed and _static_count(state) >= bounds.max_static_records:
        return error(507, f"{bounds.max_static_records} manual records exist; delete some first")
    state.store.apply(Upsert(endpoint, f"PUT /v1/static/{key} (HTTP API)"))
    view = explain.record_view(state.store.snapshot, key, state.config.zone, state.config.unhealthy)
    return reply(view, 200 if existed else 201)


async def delete_static(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _unauthorized()
    state = _state(request)
    name = request.match_info["name"]
    try:
        key = static_key(name, state.config.zone)
    except ValueError as exc:
        return error(400, str(exc))
    if (API_SOURCE, key) not in state.store.snapshot.endpoints:
        return error(404, f"no manual record named {name}")
    state.store.apply(Remove(API_SOURCE, key, f"DELETE /v1/static/{key} (HTTP API)"))
    return reply({"deleted": key})


# -- assembly ------------------------------------------------------------------


def build_app(state: ServerState, bounds: HttpBounds | None = None) -> web.Application:
    """The aiohttp application; PUT/DELETE /v1/static exist only when a token is set."""
    bounds = bounds or HttpBounds()
    app = web.Application(middlewares=[json_errors], client_max_size=bounds.max_body)
    app[STATE] = state
    app[BOUNDS] = bounds
    app.router.add_get("/health", health, allow_head=False)
    app.router.add_get("/ready", ready, allow_head=False)
    app.router.add_get("/v1/records", records, allow_head=False)
    app.router.add_get("/v1/records/{name}", record, allow_head=False)
    app.router.add_get("/v1/containers", containers, allow_head=False)
    app.router.add_get("/metrics", metrics, allow_head=False)
    events_api.add_routes(app, state)
    status_page.add_routes(app, state)
    if state.config.api_token:
        app.router.add_put("/v1/static/{name}", put_static)
        app.router.add_delete("/v1/static/{name}", delete_static)
    return app


def exposure_warning(host: str, token: str | None) -> str | None:
    """A warning when the API listens beyond loopback without a token, else None."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback or token:
        return None
    return (
        f"HTTP API on {host} is reachable from other hosts and has no --api-token: "
        "anyone who can reach it can read every name and address"
    )


async def start_http(
    state: ServerState,
    host: str,
    port: int,
    bounds: HttpBounds | None = None,
    *,
    sockets: list[socket.socket] | None = None,
) -> tuple[web.AppRunner, list[str]]:
    """Serve the API on host:port (0 = any free port), or on `sockets` already bound there
    (`dnsd.ops.http_listen`); returns the runner and the bound addresses."""
    warning = exposure_warning(host, state.config.api_token)
    if warning:
        log.warning("%s", warning)
    bounds = bounds or HttpBounds()
    listening = sockets if sockets is not None else bind_http(host, port)
    runner = web.AppRunner(
        build_app(state, bounds), access_log=None, handle_signals=False, **bounds.runner_options()
    )
    await runner.setup()
    assert runner.server is not None
    limit_connections(runner.server, bounds.max_connections)
    try:
        for sock in listening:
            await web.SockSite(runner, sock, backlog=BACKLOG).start()
    except OSError:
        await runner.cleanup()
        for sock in listening:
            sock.close()
        raise
    addresses = [format_host_port(*sock.getsockname()[:2]) for sock in listening]
    log.info("HTTP API on %s", ", ".join(f"http://{a}" for a in addresses))
    return runner, addresses
