"""`dnsd host-dns enable|disable|status`: the host's own resolver sends the zone to dnsd.

One job: tie the facts (`host`), the resolvectl steps (`resolved`) and the explanations
(`advice`) into the three actions, print what is in effect, and return the exit status:
0 done / in effect, 3 (status only) not in effect, 1 failed or impossible here. ROOT and
the command runner are parameters so tests use a temporary directory and a recorder.
It must not run resolvectl itself (`resolved` does) nor read files (`host` does).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from dnsd.config import ConfigError, host_dns_domain
from dnsd.hostdns import advice
from dnsd.hostdns.host import HostFacts, read_facts
from dnsd.hostdns.resolved import (
    HostDnsError,
    LinkDns,
    LinkState,
    Runner,
    disable,
    enable,
    link_ipv4,
    read_link,
    run_command,
)
from dnsd.parsers import parse_ip

LOOPBACK = "127.0.0.1"  # dnsd's loopback listener, what /etc/resolv.conf would name
NOT_IN_EFFECT = 3
ACTIONS = ("enable", "disable", "status")


def host_dns(
    action: str,
    *,
    root: Path,
    link: str,
    address: str | None,
    zone: str,
    run: Runner,
    out: TextIO,
    err: TextIO,
) -> int:
    """Run one action; see the module docstring for the exit statuses."""
    zone = zone.rstrip(".") + "."
    facts = read_facts(root, link)
    if not facts.resolved_running:
        return _without_resolved(action, facts, zone, address or LOOPBACK, out)
    if not facts.link_exists:
        print(
            f"dnsd host-dns {action}: no network interface {link} on this host "
            "(is the Docker engine running? choose another with --link)",
            file=err,
        )
        return 1
    try:
        address = address or link_ipv4(run, link)
        if action == "enable":
            after, changed = enable(run, link, address, zone)
        elif action == "disable":
            after, changed = disable(run, link, address, zone)
        else:
            after, changed = read_link(run, link), False
    except HostDnsError as exc:
        print(f"dnsd host-dns {action}: {exc}", file=err)
        return 1
    effective = _report(action, facts, after, changed, address, zone, out)
    return 0 if action != "status" or effective else NOT_IN_EFFECT


def _report(
    action: str,
    facts: HostFacts,
    after: LinkDns,
    changed: bool,
    address: str,
    zone: str,
    out: TextIO,
) -> bool:
    """Print what is in effect now; True when names under the zone reach dnsd."""
    link = after.link
    state = after.state(address, zone)
    uses = "" if facts.libc_uses_resolved else " (but the C library does not use it)"
    print(f"host resolver: systemd-resolved{uses}", file=out)
    print(
        f"link {link}: carrier {'yes' if facts.link_carrier else 'no'}; dnsd at {address}; "
        f"{after.describe()}",
        file=out,
    )
    if action != "status":
        verb = {"enable": "enabled", "disable": "disabled"}[action]
        print(f"{verb}" if changed else f"already {verb}: nothing changed", file=out)
    if state is LinkState.ENABLED:
        print(
            f"in effect: names under {zone} go to {address} via {link}; every other name "
            "keeps the host's resolvers",
            file=out,
        )
    elif state is LinkState.DISABLED:
        print(f"not in effect: names under {zone} are not routed to dnsd", file=out)
    else:
        print(
            f"not in effect: {link} is {state.value} ({after.describe()}); "
            f"expected DNS={address} Domains=~{zone.rstrip('.')} DefaultRoute=no",
            file=out,
        )
    warnings = []
    if state is LinkState.ENABLED and not facts.link_carrier:
        warnings.append(advice.no_carrier(link, zone))
    if state is LinkState.ENABLED and not facts.libc_uses_resolved:
        warnings.append(advice.libc_bypasses_resolved())
    if action == "enable" and changed:
        warnings.append(advice.runtime_only(link))
    for warning in warnings:
        print(warning, file=out)
    return state is LinkState.ENABLED and facts.link_carrier and facts.libc_uses_resolved


def _without_resolved(action: str, facts: HostFacts, zone: str, address: str, out: TextIO) -> int:
    if action == "enable":
        print(advice.without_resolved(zone, address, facts.nameservers), file=out, end="")
        return 1
    text, effective = advice.resolv_conf_status(zone, address, facts.nameservers)
    if action == "disable":
        print(
            "systemd-resolved is not running on this host; dnsd changed nothing to undo.", file=out
        )
        if address in facts.nameservers:
            print(
                f"To stop sending names to dnsd, remove `nameserver {address}` from "
                "/etc/resolv.conf (or from what writes it).",
                file=out,
            )
        return 0
    print(text, file=out)
    return 0 if effective else NOT_IN_EFFECT


def add_host_dns_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "host-dns",
        help="make the host itself resolve container names (systemd-resolved)",
        description="Route names under the zone from the host's resolver to dnsd: with "
        "systemd-resolved, per link (DNS=, Domains=~ZONE, DefaultRoute=no on --link); "
        "without it, print the change to make by hand. Exit status: 0 done or in effect, "
        "3 (status) not in effect, 1 failed.",
    )
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument(
        "--link", default="docker0", help="the link dnsd listens on (default docker0)"
    )
    parser.add_argument(
        "--address",
        default=None,
        help="dnsd's address on that link "
        "(default: the link's IPv4 address; 127.0.0.1 without resolved)",
    )
    parser.add_argument(
        "--domain", default=None, help="the zone (default: DNSD_DOMAIN, else docker)"
    )
    parser.add_argument(
        "--root",
        default="/",
        type=Path,
        help="the host's root directory (for tests and chroots; default /)",
    )
    parser.set_defaults(func=run_host_dns)


def run_host_dns(args: argparse.Namespace) -> int:
    try:
        zone = host_dns_domain(args.domain)
        address = parse_ip(args.address) if args.address is not None else None
    except ConfigError as exc:
        print(f"dnsd host-dns: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"dnsd host-dns: error: --address {args.address!r}: {exc}", file=sys.stderr)
        return 2
    return host_dns(
        args.action,
        root=args.root,
        link=args.link,
        address=address,
        zone=zone,
        run=run_command,
        out=sys.stdout,
        err=sys.stderr,
    )
