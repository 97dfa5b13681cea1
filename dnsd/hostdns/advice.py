"""What `dnsd host-dns` tells a person, as text: pure functions of the facts, no I/O.

One job: the explanations. Above all the one for hosts without systemd-resolved, where
dnsd changes nothing and says exactly what to change in /etc/resolv.conf, and why dnsd must
never be first there while it forwards to that same file.
"""

from __future__ import annotations

from collections.abc import Sequence

TIMEOUT_OPTION = "options timeout:1"


def without_resolved(zone: str, address: str, servers: Sequence[str]) -> str:
    """The change to make by hand on a host whose libc reads /etc/resolv.conf directly."""
    upstreams = [s for s in servers if s != address]
    flags = " ".join(f"--upstream {s}" for s in upstreams)
    upstream_flag = (
        f"dnsd serve {flags}   (or DNSD_UPSTREAM={','.join(upstreams)} in /etc/default/dnsd)"
        if upstreams
        else "dnsd serve --upstream <your network's resolvers>   (/etc/resolv.conf lists none)"
    )
    lines = [f"nameserver {address}", *(f"nameserver {s}" for s in upstreams), TIMEOUT_OPTION]
    return f"""\
systemd-resolved is not running on this host, so dnsd changed nothing: /etc/resolv.conf
cannot send one zone to one server. The C library asks its nameservers in order for every
name, and asks the next one only when a server does not answer (never after an NXDOMAIN),
so dnsd has to be first to be asked at all.

To resolve names under {zone} on the host anyway, change two things, in this order:

1. Give dnsd its upstreams explicitly (the servers /etc/resolv.conf lists now):
       {upstream_flag}
2. Then list dnsd first in /etc/resolv.conf, keeping those servers after it:
{chr(10).join("       " + line for line in lines)}
   If a DHCP client, NetworkManager or resolvconf writes that file, make the change in
   their configuration instead (dhclient.conf: `prepend domain-name-servers {address};`).

Why dnsd must never be first in /etc/resolv.conf while it forwards to that same file:
without --upstream, dnsd sends every name outside {zone} to the nameservers it reads from
/etc/resolv.conf at start. With itself listed first:
  - it forwards to itself: each such name goes round until --forward-deadline and ends in
    SERVFAIL, whenever dnsd cannot tell the address is its own (it skips only its exact
    listen addresses; another address of this host or a port-forward looks like a server);
  - when the file lists dnsd alone (a DHCP client rewrote it), dnsd starts with no upstream,
    and every program on the host gets REFUSED for every name outside {zone};
  - every lookup on the host depends on dnsd: a stopped dnsd is skipped at once (the kernel
    refuses), but a hung one makes each lookup wait the resolver's timeout (5 s by
    default; `{TIMEOUT_OPTION}` shortens it).
With --upstream set, dnsd never reads that file, so the first two cannot happen.
"""


def resolv_conf_status(zone: str, address: str, servers: Sequence[str]) -> tuple[str, bool]:
    """One paragraph on /etc/resolv.conf's order and whether names under `zone` reach dnsd."""
    listed = ", ".join(servers) or "(none)"
    head = f"host resolver: /etc/resolv.conf, no systemd-resolved; nameservers: {listed}"
    if address not in servers:
        return (
            f"{head}\nnot in effect: dnsd ({address}) is not listed, so names under {zone} "
            "do not resolve on the host; `dnsd host-dns enable` prints the change to make",
            False,
        )
    if servers[0] != address:
        return (
            f"{head}\nnot in effect: dnsd ({address}) is listed at position "
            f"{servers.index(address) + 1}, so it is asked only when the servers before it "
            f"do not answer; names under {zone} get NXDOMAIN from them first",
            False,
        )
    return (
        f"{head}\nin effect: dnsd ({address}) is first and answers every name on the host; "
        "make sure it runs with --upstream (see `dnsd host-dns enable` for why)",
        True,
    )


def no_carrier(link: str, zone: str) -> str:
    return (
        f"warning: {link} has no carrier (no container is attached to it), and "
        f"systemd-resolved ignores the DNS servers of such a link: names under {zone} fail "
        f"on the host until a container joins {link}. If your containers are only on other "
        "networks, use --link with one of their bridges (br-...)."
    )


def libc_bypasses_resolved() -> str:
    return (
        "warning: systemd-resolved runs, but this host's C library does not ask it "
        "(/etc/resolv.conf is not its stub 127.0.0.53 and /etc/nsswitch.conf has no "
        "`resolve` on its hosts: line), so programs will not see this route until it does."
    )


def runtime_only(link: str) -> str:
    return (
        f"This is a runtime setting of systemd-resolved: it lasts until reboot or until "
        f"{link} is re-created. To re-apply it at every start of dnsd, uncomment the "
        "ExecStartPost=/ExecStopPost= lines of packaging/dnsd.service."
    )
