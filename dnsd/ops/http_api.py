"""The HTTP API: health, readiness, the explain views, Prometheus metrics, manual records.

`build_app(state)` returns the aiohttp application; `start_http(state, host,
port)` runs it with AppRunner/TCPSite inside the current loop. Handlers only
read `ServerState`; manual records go into the registry through
`state.store.apply` like any watcher's events. Every error is JSON. It must not
answer DNS or know about Docker.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from dnsd import __version__
from dnsd.core import explain
from dnsd.ops import prometheus
from dnsd.ops.state import ServerState
from dnsd.parsers import format_host_port
from registry import Address, Endpoint, NameClaim, Origin, Port, Remove, Upsert
from registry.names import user_key

log = logging.getLogger(__name__)

STATE = web.AppKey("state", ServerState)
API_SOURCE = "api"
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
    query = request.query
    return explain.Filters(
        query.get("name", ""), query.get("container", ""), query.get("network", "")
    )


async def health(request: web.Request) -> web.Response:
    state = _state(request)
    snapshot = state.store.snapshot
    body = {
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
    return reply(body, 200 if state.dns_bound else 503)


async def ready(request: web.Request) -> web.Response:
    state = _state(request)
    if state.ready():
        return reply({"ready": True})
    waiting = [] if state.dns_bound else ["dns listeners"]
    waiting += [w.source for w in state.watcher_report() if not w.synced_once]
    return reply({"ready": False, "waiting_for": waiting}, 503)


async def records(request: web.Request) -> web.Response:
    state = _state(request)
    views = explain.records_view(
        state.store.snapshot, state.config.zone, state.config.unhealthy, _filters(request)
    )
    return reply({"records": views})


async def record(request: web.Request) -> web.Response:
    state = _state(request)
    name = request.match_info["name"]
    view = explain.explain_name(
        state.store.snapshot, name, state.config.zone, state.config.unhealthy
    )
    if view is None:
        return error(404, f"no such name: {name}")
    return reply(view)


async def containers(request: web.Request) -> web.Response:
    state = _state(request)
    return reply({"containers": explain.containers_view(state.store.snapshot, _filters(request))})


async def metrics(request: web.Request) -> web.Response:
    body = prometheus.render(_state(request))
    return web.Response(body=body.encode(), headers={"Content-Type": prometheus.CONTENT_TYPE})


# -- manual records (only with --api-token) -----------------------------------


def static_key(text: str, zone: str) -> str:
    """A manual record's key, as in records files: `web.docker.` -> `web`; raises ValueError."""
    return user_key(text, zone)


def parse_port(item: object) -> Port:
    if isinstance(item, int) and not isinstance(item, bool):
        item = {"port": item}
    if not isinstance(item, dict) or not isinstance(item.get("port"), int):
        raise ValueError('each port is a number or {"port": 80, "proto": "tcp", "name": "http"}')
    proto, label = item.get("proto", "tcp"), item.get("name", "")
    if not 1 <= item["port"] <= 65535 or proto not in ("tcp", "udp") or not isinstance(label, str):
        raise ValueError("port must be 1-65535, proto tcp or udp, name a string")
    return Port(item["port"], proto, label)


def static_endpoint(key: str, body: object) -> Endpoint:
    """Validate a PUT body and build the endpoint; raises ValueError with the user's mistake."""
    if not isinstance(body, dict):
        raise ValueError('expected a JSON object like {"addresses": ["10.1.2.3"]}')
    unknown = set(body) - {"addresses", "ports"}
    if "ttl" in unknown:
        raise ValueError('"ttl" is not supported: local answers use the server\'s --ttl')
    if unknown:
        raise ValueError(
            f"unknown fields: {', '.join(sorted(unknown))}; accepted: addresses, ports"
        )
    addresses = body.get("addresses")
    if not isinstance(addresses, list) or not addresses:
        raise ValueError('"addresses" must be a non-empty list of IP addresses')
    try:
        ips = [str(ipaddress.ip_address(str(a))) for a in addresses]
    except ValueError as exc:
        raise ValueError(f'"addresses": {exc}') from None
    ports = body.get("ports", [])
    if not isinstance(ports, list):
        raise ValueError('"ports" must be a list')
    return Endpoint(
        source=API_SOURCE,
        id=key,
        name=key,
        claims=(NameClaim(key, Origin.STATIC),),
        addresses=tuple(Address(ip) for ip in dict.fromkeys(ips)),
        ports=tuple(parse_port(p) for p in ports),
    )


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
    state = _state(request)
    try:
        body = await request.json()
    except ValueError:
        return error(400, "the body is not valid JSON")
    try:
        key = static_key(request.match_info["name"], state.config.zone)
        endpoint = static_endpoint(key, body)
    except ValueError as exc:
        return error(400, str(exc))
    existed = endpoint.ref in state.store.snapshot.endpoints
    state.store.apply(Upsert(endpoint))
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
    state.store.apply(Remove(API_SOURCE, key))
    return reply({"deleted": key})


# -- assembly ------------------------------------------------------------------


def build_app(state: ServerState) -> web.Application:
    """The aiohttp application; PUT/DELETE /v1/static exist only when a token is set."""
    app = web.Application(middlewares=[json_errors])
    app[STATE] = state
    app.router.add_get("/health", health, allow_head=False)
    app.router.add_get("/ready", ready, allow_head=False)
    app.router.add_get("/v1/records", records, allow_head=False)
    app.router.add_get("/v1/records/{name}", record, allow_head=False)
    app.router.add_get("/v1/containers", containers, allow_head=False)
    app.router.add_get("/metrics", metrics, allow_head=False)
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


async def start_http(state: ServerState, host: str, port: int) -> tuple[web.AppRunner, list[str]]:
    """Serve the API on host:port (0 = any free port); returns the runner and bound addresses."""
    warning = exposure_warning(host, state.config.api_token)
    if warning:
        log.warning("%s", warning)
    runner = web.AppRunner(build_app(state), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    addresses = [_format(sock.getsockname()) for sock in _sockets(site)]
    log.info("HTTP API on %s", ", ".join(f"http://{a}" for a in addresses))
    return runner, addresses


def _sockets(site: web.TCPSite) -> list[Any]:
    server = site._server  # aiohttp keeps the asyncio.Server here
    return list(getattr(server, "sockets", None) or [])


def _format(sockname: Any) -> str:
    return format_host_port(sockname[0], sockname[1])
