"""The command line: parses arguments and hands off; no logic of its own.

`dnsd serve` runs the server (see `dnsd.app`); client commands talk to a
running server over its HTTP API or DNS.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence

from dnsd import __version__, client, events_cli, query
from dnsd.config import ConfigError, load
from dnsd.eventloop import run_loop
from dnsd.flags import add_serve_arguments
from dnsd.hostdns import add_host_dns_command
from dnsd.ops.logs import setup_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dnsd", description="Service-discovery DNS server for Docker containers."
    )
    parser.add_argument("--version", action="version", version=f"dnsd {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the DNS server",
        description="Run the DNS server. Every flag can also be set as DNSD_<FLAG> "
        "(e.g. DNSD_DNS_LISTEN=127.0.0.1:5353); a flag wins over the environment.",
    )
    add_serve_arguments(serve)
    serve.set_defaults(func=run_serve)
    client.add_client_commands(commands)
    add_host_dns_command(commands)
    events_cli.add_events_command(commands)
    query.add_query_command(commands)
    return parser


def run_serve(args: argparse.Namespace) -> int:
    try:
        config = load(args)
    except ConfigError as exc:
        print(f"dnsd: error: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.log_level, config.log_format)
    from dnsd.app import serve

    status = run_loop(serve(config), config.event_loop)
    exit_now(status)
    return status  # not reached


def exit_now(status: int) -> None:
    """Flush logs and output, then end the process without the interpreter's teardown.

    After a long run the heap holds the forwarding cache, the encoded-reply cache and
    their memos; freeing them object by object at exit took 0.5-2 s of CPU after
    everything had already stopped. Nothing is left to clean up at this point.
    """
    logging.getLogger("dnsd").info("stopped")
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or broken: nothing to flush
            stream.flush()
    os._exit(status)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
