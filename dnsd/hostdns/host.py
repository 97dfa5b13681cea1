"""What the host's resolver set-up looks like, read from files under a root directory.

One job: read `/etc/resolv.conf`, `/etc/nsswitch.conf`, `/run/systemd/resolve/` and
`/sys/class/net/<link>/` below ROOT (`/` normally, a temporary directory in tests) into one
frozen `HostFacts`. Absolute symlinks are followed inside ROOT. It must not write anything,
run commands or talk to the network.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dnsd.forward.resolvconf import nameservers

RESOLVED_STUB = "127.0.0.53"
RESOLVED_RUN = "run/systemd/resolve"
MAX_FILE = 64 * 1024  # resolv.conf and nsswitch.conf are tiny; a bigger file is not read whole


@dataclass(frozen=True)
class HostFacts:
    """The host's resolver configuration as far as `dnsd host-dns` needs it."""

    resolved_running: bool  # systemd-resolved has written its files under /run
    libc_uses_resolved: bool  # /etc/resolv.conf is its stub, or nsswitch has `resolve`
    nameservers: tuple[str, ...]  # from /etc/resolv.conf, in order
    link_exists: bool
    link_carrier: bool  # the kernel says the link has carrier (bridges: a port is up)


def read_facts(root: Path, link: str) -> HostFacts:
    text = read_text(root, "/etc/resolv.conf")
    servers = tuple(nameservers(text))
    target = _link_target(root, "/etc/resolv.conf")
    stub = servers == (RESOLVED_STUB,) or target.startswith("/" + RESOLVED_RUN + "/")
    net = root / "sys/class/net" / link
    return HostFacts(
        resolved_running=(root / RESOLVED_RUN / "stub-resolv.conf").exists()
        or (root / RESOLVED_RUN / "resolv.conf").exists(),
        libc_uses_resolved=stub or nsswitch_uses_resolve(read_text(root, "/etc/nsswitch.conf")),
        nameservers=servers,
        link_exists=net.exists(),
        link_carrier=read_text(root, f"/sys/class/net/{link}/carrier").strip() == "1",
    )


def nsswitch_uses_resolve(text: str) -> bool:
    """True when the `hosts:` line of nsswitch.conf lists the `resolve` module."""
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if fields and fields[0] == "hosts:":
            return "resolve" in (f.split("[", 1)[0] for f in fields[1:])
    return False


def read_text(root: Path, path: str) -> str:
    """The text of `path` under `root` ("" when absent or unreadable), bounded."""
    target = _inside(root, path)
    try:
        with target.open("r", encoding="utf-8", errors="replace") as handle:
            return handle.read(MAX_FILE)
    except OSError:  # absent, unreadable, or a down link's carrier (EINVAL)
        return ""


def _link_target(root: Path, path: str) -> str:
    """Where symlink `path` points, as an absolute path of the host ("" if not a symlink)."""
    try:
        target = os.readlink(root / path.lstrip("/"))
    except OSError:
        return ""
    return os.path.normpath(os.path.join(os.path.dirname(path), target))


def _inside(root: Path, path: str, depth: int = 0) -> Path:
    """`path` under `root`, following symlinks inside `root` (a few levels)."""
    target = _link_target(root, path)
    if target and depth < 8:
        return _inside(root, target, depth + 1)
    return root / path.lstrip("/")
