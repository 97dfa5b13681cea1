"""`dnsd events`: a running server's change history, one line per change, like `docker events`.

`dnsd events [--name N] [--since T] [--until T]` prints what the history
holds; `-f` keeps following (server-sent events from `/v1/events?follow=1`)
and, if the server drops it for falling behind, resumes after the last change
it printed. Output formatting only: the server decides what changed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Iterator

from dnsd.client import Unreachable, error_text, fetch
from dnsd.config import client_api_url
from dnsd.ops.times import parse_time

READ_TIMEOUT = 60.0  # the server sends a keepalive every 15 s
RESUMES = 20  # how many times -f reconnects after being dropped, in a row


def event_line(change: dict[str, object]) -> str:
    """`TIME NAME CHANGE DETAIL (endpoint=..., source=..., answers=..., why=...)`."""
    detail = str(change.get("detail") or "")
    answer = ", ".join(str(a) for a in _list(change.get("answer"))) or "nothing"
    ident = str(change.get("id") or "")[:12]
    return (
        f"{change.get('time_text')} {change.get('fqdn')} {change.get('change')}"
        + (f" {detail}" if detail else "")
        + f" (endpoint={change.get('endpoint')}, source={change.get('source')}/{ident}, "
        f"answers={answer}, why={change.get('reason')})"
    )


def sse_events(lines: Iterable[bytes]) -> Iterator[tuple[str, str]]:
    """(event, data) pairs from a text/event-stream; comments and `retry:` are skipped."""
    kind, data = "message", list[str]()
    for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield kind, "\n".join(data)
            kind, data = "message", []
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


def _print(change: object, as_json: bool) -> None:
    if isinstance(change, dict):
        print(json.dumps(change) if as_json else event_line(change), flush=True)


def _query(args: argparse.Namespace) -> dict[str, str]:
    return {"name": args.name, "since": args.since, "until": args.until}


def _bad_time(args: argparse.Namespace) -> str:
    """The message for an unreadable --since/--until, or ''."""
    for flag, text in (("--since", args.since), ("--until", args.until)):
        try:
            if text:
                parse_time(text, time.time())
        except ValueError as exc:
            return f"dnsd events: {flag}: {exc}"
    return ""


def run_events(args: argparse.Namespace) -> int:
    problem = _bad_time(args)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if not args.follow:
        body = fetch(args.api, "/v1/events", _query(args))
        for change in _list(body.get("events") if isinstance(body, dict) else None):
            _print(change, args.json)
        return 0
    if args.until:
        print("dnsd events: --until cannot be combined with -f", file=sys.stderr)
        return 2
    return follow(args)


def follow(args: argparse.Namespace) -> int:
    """Print changes as they happen; resume after the last one when the server drops us."""
    query = {k: v for k, v in _query(args).items() if v}
    query["follow"] = "1"
    for _ in range(RESUMES):
        outcome, last = _follow_once(args, query)
        if outcome != "dropped":
            return 0 if outcome == "closed" else 1
        print("dnsd events: fell behind; resuming from the history", file=sys.stderr)
        query["after"] = str(last)
        query.pop("since", None)
    return 1


def _follow_once(args: argparse.Namespace, query: dict[str, str]) -> tuple[str, int]:
    import urllib.error
    import urllib.parse
    import urllib.request

    url = args.api.rstrip("/") + "/v1/events?" + urllib.parse.urlencode(query)
    last = int(query.get("after", "0"))
    try:
        with urllib.request.urlopen(url, timeout=READ_TIMEOUT) as stream:
            for kind, data in sse_events(stream):
                payload = json.loads(data)
                if kind == "change":
                    _print(payload, args.json)
                    last = int(payload.get("seq", last))
                elif kind == "gap":
                    print("dnsd events: some changes left the history before", file=sys.stderr)
                elif kind == "dropped":
                    return "dropped", last
        return "closed", last
    except urllib.error.HTTPError as exc:
        message = error_text(exc)
        raise Unreachable(f"dnsd API at {args.api} answered {exc.code}: {message}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise Unreachable(
            f"lost the dnsd HTTP API at {args.api} ({getattr(exc, 'reason', exc)}); "
            "is `dnsd serve` running? point --api or DNSD_API at its --http-listen address"
        ) from None


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _run(args: argparse.Namespace) -> int:
    try:
        return run_events(args)
    except Unreachable as exc:
        print(f"dnsd events: {exc}", file=sys.stderr)
        return 1


def add_events_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `dnsd events` on the `dnsd` subcommand parser."""
    parser = commands.add_parser(
        "events",
        help="what changed in the registry, when and why (like docker events)",
        description="Print the registry's change history; -f follows new changes live.",
    )
    parser.add_argument(
        "--api",
        default=client_api_url(),
        metavar="URL",
        help="dnsd HTTP API (default $DNSD_API or http://127.0.0.1:8053)",
    )
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new changes")
    parser.add_argument("--name", default="", help="only this name (globs like 'web*' work)")
    parser.add_argument(
        "--since",
        default="",
        metavar="TIME",
        help="epoch seconds, 2026-11-28T14:02:00Z, 14:02 (UTC, today) or a duration like 10m",
    )
    parser.add_argument("--until", default="", metavar="TIME", help="same forms as --since")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(func=_run)
