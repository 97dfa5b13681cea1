"""CLI client commands: `dnsd ls`, `dnsd explain NAME` (and `dnsd.query`: `dnsd query`).

`ls` and `explain` read a running server's HTTP API; `query` is a tiny dig
(dnslib) for images that have none. Each command is a function `(args) -> int`
registered by `add_client_commands`. Output formatting only: no decisions
about names, which the server makes.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING

from dnsd.config import client_api_url

if TYPE_CHECKING:  # urllib.request (http.client, email) loads when a command runs, not at start
    import urllib.error

TIMEOUT = 5.0


class Unreachable(Exception):
    """The server did not answer; str() is the one-line message for the user."""


class NotFound(Exception):
    """The server answered 404; str() is its error message."""


def fetch(api: str, path: str, query: dict[str, str] | None = None) -> object:
    """GET `path` from the API and decode its JSON."""
    import urllib.error
    import urllib.request

    params = {k: v for k, v in (query or {}).items() if v}
    url = api.rstrip("/") + path + ("?" + urllib.parse.urlencode(params) if params else "")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        message = error_text(exc)
        if exc.code == 404:
            raise NotFound(message) from None
        raise Unreachable(f"dnsd API at {api} answered {exc.code}: {message}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unreachable(
            f"cannot reach the dnsd HTTP API at {api} ({reason}); is `dnsd serve` running? "
            "point --api or DNSD_API at its --http-listen address"
        ) from None


def error_text(exc: urllib.error.HTTPError) -> str:
    """The API's JSON `error`, else the HTTP reason."""
    try:
        return str(json.loads(exc.read())["error"])
    except (ValueError, KeyError, TypeError):
        return str(exc.reason)


# -- dnsd ls -------------------------------------------------------------------


def ls_rows(records: list[dict[str, object]]) -> list[tuple[str, ...]]:
    """One row per (name, endpoint, address): NAME ADDRESS HEALTH CONTAINER STATUS."""
    rows: list[tuple[str, ...]] = []
    for record in records:
        for ep in _dicts(record.get("endpoints")):
            status = "in rotation" if ep.get("in_rotation") else "out"
            reason = str(ep.get("reason") or "")
            status += f" ({reason})" if reason else ""
            for address in _dicts(ep.get("addresses")) or [{"ip": "-"}]:
                rows.append(
                    (
                        str(record["fqdn"]),
                        str(address["ip"]),
                        str(ep.get("health")),
                        _container(ep),
                        status,
                    )
                )
    return rows


def _container(ep: dict[str, object]) -> str:
    """The container name, with `@node` for an endpoint of a cluster node."""
    node = ep.get("node")
    return f"{ep.get('container')}@{node}" if node else str(ep.get("container"))


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def run_ls(args: argparse.Namespace) -> int:
    query = {"name": args.name, "container": args.container, "network": args.network}
    query["node"] = args.node
    query["client"] = args.client
    body = fetch(args.api, "/v1/records", query)
    records = _dicts(body.get("records") if isinstance(body, dict) else None)
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    if not records:
        print("no names registered")
        return 0
    print(table(("NAME", "ADDRESS", "HEALTH", "CONTAINER", "STATUS"), ls_rows(records)))
    return 0


# -- dnsd explain ----------------------------------------------------------------


def explain_text(view: dict[str, object]) -> str:
    """The human-readable why-view of one name."""
    answer = ", ".join(str(a) for a in _list(view.get("answer"))) or "no addresses (NODATA)"
    lines = [f"{view['fqdn']} (name key {view['name']!r})"]
    client = view.get("client")
    if isinstance(client, dict):
        networks = ", ".join(str(n) for n in _list(client.get("networks")))
        project = f", Compose project {client['project']}" if client.get("project") else ""
        lines.append(f"  for a client on network(s) {networks}{project}")
        who = client.get("recognised_as")
        if isinstance(who, dict) and who.get("text"):
            lines.append(f"  client: {who['text']}")
        if view.get("exists_for_client") is False:
            answer = "NXDOMAIN (no address on a network this client is on)"
    lines.append(f"  answers: {answer}")
    embedded = ", ".join(str(n) for n in _list(view.get("docker_answers_bare_name_on")))
    if embedded:
        lines.append(
            f"  warning: on {embedded} Docker's embedded DNS (127.0.0.11) answers "
            f"{view['name']!r} itself (TTL 600, every replica, no health checks, random "
            f"order); containers there should ask {view['fqdn']!r} to get this answer"
        )
    if view.get("fail_open"):
        lines.append("  note: every endpoint is unhealthy; serving them anyway (fail-open)")
    for ep in _dicts(view.get("endpoints")):
        origins = ", ".join(str(o) for o in _list(ep.get("origins"))) or "?"
        lines.append(
            f"  {_container(ep)} [{ep.get('source')}/{str(ep.get('id'))[:12]}]"
            f" claims it as {origins}"
        )
        for address in _dicts(ep.get("addresses")):
            network = f" on network {address['network']}" if address.get("network") else ""
            hidden = " (not reachable from this client)" if address.get("visible") is False else ""
            lines.append(f"    address {address['ip']}{network}{hidden}")
        ports = ", ".join(f"{p['port']}/{p['proto']}" for p in _dicts(ep.get("ports")))
        if ports:
            lines.append(f"    ports {ports}")
        details = ep.get("details")
        for key, value in details.items() if isinstance(details, dict) else ():
            lines.append(f"    {key}: {value}")
        state = "in rotation" if ep.get("in_rotation") else "OUT of rotation"
        reason = f": {ep['reason']}" if ep.get("reason") else ""
        lines.append(f"    health {ep.get('health')}, {state}{reason}")
    return "\n".join(lines)


def run_explain(args: argparse.Namespace) -> int:
    path = "/v1/records/" + urllib.parse.quote(args.name, safe="")
    try:
        view = fetch(args.api, path, {"client": args.client})
    except NotFound as exc:
        print(f"dnsd explain: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(view, indent=2))
    elif isinstance(view, dict):
        print(explain_text(view))
    return 0


# -- registration ----------------------------------------------------------------


def _guard(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except Unreachable as exc:
            print(f"dnsd {args.command}: {exc}", file=sys.stderr)
            return 1

    return run


def _add_api(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api",
        default=client_api_url(),
        metavar="URL",
        help="dnsd HTTP API (default $DNSD_API or http://127.0.0.1:8053)",
    )


def add_client_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `ls` and `explain` on the `dnsd` subcommand parser (`dnsd.query` adds `query`)."""
    ls = commands.add_parser(
        "ls",
        help="list names, addresses, health and containers",
        description="List every name dnsd answers, from its HTTP API.",
    )
    _add_api(ls)
    ls.add_argument("--json", action="store_true", help="print the records as JSON")
    ls.add_argument("--name", default="", help="only this name (globs like 'web*' work)")
    ls.add_argument("--container", default="", help="only this container (name or id prefix)")
    ls.add_argument("--network", default="", help="only endpoints on this network")
    ls.add_argument("--node", default="", help="only endpoints of this cluster node")
    ls.add_argument("--client", default="", help="answers as this container or IP gets them")
    ls.set_defaults(func=_guard(run_ls))

    explain = commands.add_parser(
        "explain",
        help="why a name resolves the way it does",
        description="Show where a name comes from and which endpoints are in rotation, and why.",
    )
    explain.add_argument("name", help="a name: web, web.docker or web.docker.")
    _add_api(explain)
    explain.add_argument("--json", action="store_true", help="print the view as JSON")
    explain.add_argument(
        "--client", default="", help="what this container (name, id or IP) gets for the name"
    )
    explain.set_defaults(func=_guard(run_explain))


# -- helpers for loosely typed JSON ---------------------------------------------


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _dicts(value: object) -> list[dict[str, object]]:
    return [item for item in _list(value) if isinstance(item, dict)]
