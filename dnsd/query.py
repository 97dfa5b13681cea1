"""`dnsd query`: a tiny dig (dnslib) for images that have none.

Picks the server to ask (--server, else $DNSD_DNS_LISTEN, else the running server's first
UDP listener from its HTTP API, else 127.0.0.1:53), turns `-x ADDRESS` (or an address
asked as PTR) into its reverse name, sends one query and prints the reply in dig's
layout. Output formatting only: no decisions about names.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

from dnslib import QTYPE, RCODE, DNSRecord

from dnsd.client import NotFound, Unreachable, fetch
from dnsd.config import client_api_url, client_dns_listen
from dnsd.parsers import HostPort, parse_host_port

DEFAULT_DNS_SERVER = "127.0.0.1:53"


def query_server(server: str | None, api: str) -> tuple[str, str]:
    """(HOST:PORT to ask, where that came from): --server, else $DNSD_DNS_LISTEN, else the
    running server's first UDP listener (from its API), else 127.0.0.1:53."""
    if server:
        return server, "--server"
    listen = client_dns_listen()
    if listen:
        return _reachable(listen), "DNSD_DNS_LISTEN"
    try:
        health = fetch(api, "/health")
    except (Unreachable, NotFound):
        return DEFAULT_DNS_SERVER, "default"
    listeners = health.get("listeners") if isinstance(health, dict) else None
    for listener in listeners if isinstance(listeners, list) else []:
        proto, _, address = str(listener).partition(" ")
        if proto == "udp" and address:
            return _reachable(address), f"the server at {api}"
    return DEFAULT_DNS_SERVER, "default"


def _reachable(address: str) -> str:
    """A listen address as something to send to: a wildcard host becomes loopback."""
    try:
        host, port = parse_host_port(address, 53)
    except ValueError:
        return address
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def question_of(args: argparse.Namespace) -> tuple[str, str] | str:
    """(name, type) to ask, or an error line. `-x ADDRESS`, or an address asked as PTR,
    becomes its reverse name."""
    kind = args.type or (args.name if args.reverse else "")  # `-x ADDRESS PTR` works too
    qtype = kind.upper() if kind else ("PTR" if args.reverse else "A")
    if qtype not in QTYPE.reverse:
        return f"unknown record type {kind!r} (e.g. A, AAAA, SRV, PTR)"
    name = args.reverse or args.name
    if not name:
        return "give a NAME, or -x ADDRESS for a reverse lookup"
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        if args.reverse:
            return f"-x {name!r}: expected an IPv4 or IPv6 address"
        return name, qtype
    return (address.reverse_pointer + ".", qtype) if qtype == "PTR" else (name, qtype)


def run_query(args: argparse.Namespace) -> int:
    asked = question_of(args)
    if isinstance(asked, str):
        print(f"dnsd query: {asked}", file=sys.stderr)
        return 2
    name, qtype = asked
    server, origin = query_server(args.server, args.api)
    try:
        host, port = parse_host_port(server, 53)
    except ValueError as exc:
        print(f"dnsd query: server {server!r} (from {origin}): {exc}", file=sys.stderr)
        return 2
    return _ask(args, name, qtype, (host, port))


def _ask(args: argparse.Namespace, name: str, qtype: str, server: HostPort) -> int:
    host, port = server
    question = DNSRecord.question(name, qtype)
    transport = "TCP" if args.tcp else "UDP"
    try:
        wire = question.send(host, port, tcp=args.tcp, timeout=args.timeout, ipv6=":" in host)
        reply = DNSRecord.parse(wire)
    except (TimeoutError, OSError) as exc:
        print(
            f"dnsd query: no reply from {host}:{port} over {transport} ({exc or 'timed out'}); "
            "is a DNS server listening there? use --server HOST:PORT",
            file=sys.stderr,
        )
        return 1
    except Exception as exc:  # dnslib raises its own errors on a malformed reply
        print(f"dnsd query: unreadable reply from {host}:{port}: {exc}", file=sys.stderr)
        return 1
    print(str(reply))
    print(f";; SERVER: {host}#{port} ({transport}), status {RCODE[reply.header.rcode]}")
    return 0


def add_query_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `query` on the `dnsd` subcommand parser."""
    query = commands.add_parser(
        "query",
        help="send one DNS query (a tiny dig)",
        description="Send one DNS query and print the reply.",
    )
    query.add_argument("name", nargs="?", default="", help="the name to ask for")
    query.add_argument("type", nargs="?", default="", help="record type (default A)")
    query.add_argument(
        "-x",
        dest="reverse",
        default="",
        metavar="ADDRESS",
        help="reverse lookup: the PTR record of this IP address",
    )
    query.add_argument(
        "--server",
        default=None,
        metavar="HOST:PORT",
        help="DNS server to ask (default: $DNSD_DNS_LISTEN, else the running server's "
        "listener from its API, else 127.0.0.1:53)",
    )
    query.add_argument(
        "--api",
        default=client_api_url(),
        metavar="URL",
        help="dnsd HTTP API, asked for the listener when no server is given",
    )
    query.add_argument("--tcp", action="store_true", help="use TCP instead of UDP")
    query.add_argument("--timeout", type=float, default=3.0, help="seconds to wait (default 3)")
    query.set_defaults(func=run_query)
