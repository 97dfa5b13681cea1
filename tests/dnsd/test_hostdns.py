"""`dnsd host-dns enable|disable|status` against a temporary root directory and a recorded
command runner that keeps resolvectl's per-link state the way resolved does (and prints it
in resolvectl's format). This machine's /etc/resolv.conf and resolver are never touched:
a fixture checks the real file is byte-for-byte the same afterwards."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dnsd.hostdns import host_dns
from dnsd.hostdns.host import nsswitch_uses_resolve, read_facts
from dnsd.hostdns.resolved import Completed, _server_ip, _values

GATEWAY = "172.17.0.1"
UPLINK = "10.0.0.2"


@dataclass
class LinkSettings:
    servers: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    default_route: str = "yes"


@dataclass
class RecordedRunner:
    """Records every argv; answers `ip` and `resolvectl` like the real ones would."""

    links: dict[str, LinkSettings] = field(default_factory=lambda: {"docker0": LinkSettings()})
    addresses: dict[str, str] = field(default_factory=lambda: {"docker0": GATEWAY})
    calls: list[list[str]] = field(default_factory=list)
    fail: str | None = None  # a resolvectl verb that fails like an unauthorised caller

    def __call__(self, argv: Sequence[str]) -> Completed:
        argv = list(argv)
        self.calls.append(argv)
        if argv[:5] == ["ip", "-4", "-o", "addr", "show"]:
            ip = self.addresses[argv[-1]]
            return Completed(0, f"3: {argv[-1]}    inet {ip}/16 brd 172.17.255.255 scope global\n")
        assert argv[0] == "resolvectl", argv
        verb, args = argv[1], argv[2:]
        if verb == self.fail:
            return Completed(1, "", "Failed to set DNS configuration: Access denied\n")
        if verb == "flush-caches":
            return Completed(0, "")
        link = self.links[args[0]]
        if verb == "revert":
            self.links[args[0]] = LinkSettings()
            return Completed(0, "")
        attribute = {"dns": "servers", "domain": "domains", "default-route": "default_route"}
        name = attribute[verb]
        if len(args) > 1:
            setattr(link, name, args[1] if verb == "default-route" else args[1:])
            return Completed(0, "")
        value = getattr(link, name)
        shown = value if isinstance(value, str) else " ".join(value)
        return Completed(0, f"Link 3 ({args[0]}): {shown}\n".replace(": \n", ":\n"))

    def changes(self) -> list[list[str]]:
        """The calls that change something (not the reads)."""
        reads = {"ip"}
        return [
            c
            for c in self.calls
            if c[0] not in reads and (len(c) > 3 or c[1] in ("revert", "flush-caches"))
        ]


@pytest.fixture(autouse=True)
def real_resolv_conf_untouched() -> Iterator[None]:
    def digest() -> str:
        try:
            return hashlib.sha256(Path("/etc/resolv.conf").read_bytes()).hexdigest()
        except OSError:
            return ""

    before = digest()
    yield
    assert digest() == before


def make_root(
    tmp_path: Path,
    *,
    resolved: bool = True,
    resolv_conf: str | None = None,
    nsswitch: str = "hosts: files dns\n",
    carrier: str | None = "1",
    link: str = "docker0",
) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    if resolved:
        run = root / "run/systemd/resolve"
        run.mkdir(parents=True)
        (run / "stub-resolv.conf").write_text("nameserver 127.0.0.53\noptions edns0 trust-ad\n")
        (run / "resolv.conf").write_text(f"nameserver {UPLINK}\n")
        if resolv_conf is None:
            os.symlink("../run/systemd/resolve/stub-resolv.conf", root / "etc/resolv.conf")
    if resolv_conf is not None:
        (root / "etc/resolv.conf").write_text(resolv_conf)
    (root / "etc/nsswitch.conf").write_text(nsswitch)
    if carrier is not None:
        net = root / "sys/class/net" / link
        net.mkdir(parents=True)
        (net / "carrier").write_text(carrier + "\n")
    return root


def run(action: str, root: Path, runner: RecordedRunner, **options: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = host_dns(
        action,
        root=root,
        link=options.get("link", "docker0"),
        address=options.get("address"),
        zone=options.get("zone", "docker"),
        run=runner,
        out=out,
        err=err,
    )
    return code, out.getvalue(), err.getvalue()


SET_COMMANDS = [
    ["resolvectl", "dns", "docker0", GATEWAY],
    ["resolvectl", "domain", "docker0", "~docker"],
    ["resolvectl", "default-route", "docker0", "no"],
    ["resolvectl", "flush-caches"],
]


def test_enable_routes_only_the_zone_via_docker0_and_is_idempotent(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    files_before = sorted(p.relative_to(root) for p in root.rglob("*"))
    runner = RecordedRunner()
    assert run("status", root, runner)[0] == 3
    code, out, _ = run("enable", root, runner)
    assert code == 0
    assert runner.changes() == SET_COMMANDS
    assert runner.links["docker0"] == LinkSettings([GATEWAY], ["~docker"], "no")
    assert "in effect: names under docker. go to 172.17.0.1 via docker0" in out
    assert "every other name keeps the host's resolvers" in out
    assert "runtime setting" in out
    runner.calls.clear()
    code, out, _ = run("enable", root, runner)
    assert code == 0 and "already enabled: nothing changed" in out
    assert runner.changes() == []  # idempotent: nothing is set again
    code, out, _ = run("status", root, runner)
    assert code == 0
    assert "DNS=172.17.0.1 Domains=~docker DefaultRoute=no" in out
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == files_before  # no files


def test_disable_reverts_the_link_and_is_idempotent(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    runner = RecordedRunner()
    run("enable", root, runner)
    runner.calls.clear()
    code, out, _ = run("disable", root, runner)
    assert code == 0 and "disabled" in out
    assert runner.changes() == [["resolvectl", "revert", "docker0"], ["resolvectl", "flush-caches"]]
    assert runner.links["docker0"] == LinkSettings()
    runner.calls.clear()
    code, out, _ = run("disable", root, runner)
    assert code == 0 and "already disabled: nothing changed" in out
    assert runner.changes() == []
    code, out, _ = run("status", root, runner)
    assert code == 3 and "not in effect: names under docker. are not routed to dnsd" in out


def test_settings_dnsd_did_not_make_are_left_alone(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    runner = RecordedRunner(links={"docker0": LinkSettings(["192.0.2.7"], ["corp.example"])})
    for action in ("enable", "disable"):
        code, _, err = run(action, root, runner)
        assert code == 1
        assert "docker0 has DNS settings dnsd did not make (DNS=192.0.2.7" in err
        assert "resolvectl revert docker0" in err
    assert runner.changes() == []
    assert runner.links["docker0"] == LinkSettings(["192.0.2.7"], ["corp.example"])


def test_an_interrupted_enable_is_completed_or_reverted(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    runner = RecordedRunner(links={"docker0": LinkSettings([GATEWAY], ["~docker"], "yes")})
    code, out, _ = run("status", root, runner)
    assert code == 3 and "docker0 is partly enabled" in out
    assert run("enable", root, runner)[0] == 0
    assert runner.links["docker0"] == LinkSettings([GATEWAY], ["~docker"], "no")
    runner.links["docker0"].default_route = "yes"
    assert run("disable", root, runner)[0] == 0
    assert runner.links["docker0"] == LinkSettings()


@pytest.mark.parametrize(
    ("options", "routing_domain", "address"),
    [
        ({}, "~docker", GATEWAY),
        ({"zone": "corp.internal."}, "~corp.internal", GATEWAY),
        ({"address": "172.17.0.53"}, "~docker", "172.17.0.53"),
        ({"link": "br-shop"}, "~docker", "172.20.0.1"),
    ],
)
def test_zone_address_and_link_options(
    tmp_path: Path, options: dict[str, str], routing_domain: str, address: str
) -> None:
    link = options.get("link", "docker0")
    root = make_root(tmp_path, link=link)
    runner = RecordedRunner(
        links={link: LinkSettings()},
        addresses={link: "172.20.0.1"} if link != "docker0" else {"docker0": GATEWAY},
    )
    assert run("enable", root, runner, **options)[0] == 0
    assert runner.links[link] == LinkSettings([address], [routing_domain], "no")
    assert (["ip", "-4", "-o", "addr", "show", "dev", link] in runner.calls) == (
        "address" not in options
    )


def test_no_carrier_is_warned_about_and_not_in_effect(tmp_path: Path) -> None:
    root = make_root(tmp_path, carrier="0")
    runner = RecordedRunner()
    code, out, _ = run("enable", root, runner)
    assert code == 0 and "warning: docker0 has no carrier" in out
    code, out, _ = run("status", root, runner)
    assert code == 3 and "carrier no" in out and "until a container joins docker0" in out


def test_libc_not_using_resolved_is_warned_about(tmp_path: Path) -> None:
    root = make_root(tmp_path, resolv_conf=f"nameserver {UPLINK}\n")
    runner = RecordedRunner()
    code, out, _ = run("enable", root, runner)
    assert code == 0 and "does not ask it" in out
    assert run("status", root, runner)[0] == 3
    root = make_root(
        tmp_path / "nss",
        resolv_conf=f"nameserver {UPLINK}\n",
        nsswitch="hosts: files resolve [!UNAVAIL=return] dns\n",
    )
    code, out, _ = run("status", root, runner)
    assert code == 0 and "does not ask it" not in out


def test_failing_resolvectl_is_reported(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    runner = RecordedRunner(fail="domain")
    code, _, err = run("status", root, runner)
    assert code == 1
    assert err == (
        "dnsd host-dns status: `resolvectl domain docker0` failed (exit 1): "
        "Failed to set DNS configuration: Access denied\n"
    )


def test_missing_link_is_an_error(tmp_path: Path) -> None:
    root = make_root(tmp_path, carrier=None)
    code, _, err = run("enable", root, RecordedRunner())
    assert code == 1 and "no network interface docker0" in err and "--link" in err


# -- without systemd-resolved ------------------------------------------------------


def test_without_resolved_enable_explains_and_changes_nothing(tmp_path: Path) -> None:
    root = make_root(tmp_path, resolved=False, resolv_conf=f"nameserver {UPLINK}\n")
    before = (root / "etc/resolv.conf").read_text()
    runner = RecordedRunner()
    code, out, _ = run("enable", root, runner)
    assert code == 1
    assert runner.calls == []
    assert (root / "etc/resolv.conf").read_text() == before
    assert f"dnsd serve --upstream {UPLINK}" in out
    assert (
        f"       nameserver 127.0.0.1\n       nameserver {UPLINK}\n       options timeout:1\n"
        in out
    )
    assert "Why dnsd must never be first in /etc/resolv.conf while it forwards to that same" in out
    assert "it forwards to itself" in out and "no upstream" in out


@pytest.mark.parametrize(
    ("resolv_conf", "code", "says"),
    [
        (f"nameserver {UPLINK}\n", 3, "dnsd (127.0.0.1) is not listed"),
        (f"nameserver {UPLINK}\nnameserver 127.0.0.1\n", 3, "listed at position 2"),
        (f"nameserver 127.0.0.1\nnameserver {UPLINK}\n", 0, "make sure it runs with --upstream"),
    ],
)
def test_without_resolved_status(tmp_path: Path, resolv_conf: str, code: int, says: str) -> None:
    root = make_root(tmp_path, resolved=False, resolv_conf=resolv_conf)
    got, out, _ = run("status", root, RecordedRunner())
    assert got == code and says in out
    assert out.startswith("host resolver: /etc/resolv.conf, no systemd-resolved")


def test_without_resolved_disable_says_what_to_remove(tmp_path: Path) -> None:
    root = make_root(tmp_path, resolved=False, resolv_conf="nameserver 127.0.0.1\n")
    code, out, _ = run("disable", root, RecordedRunner())
    assert code == 0 and "remove `nameserver 127.0.0.1` from" in out


# -- the pieces ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "values"),
    [
        ("Link 3 (docker0): 172.17.0.1\n", ["172.17.0.1"]),
        ("Link 3 (docker0):\n", []),
        ("Global: 1.1.1.1\nLink 3 (docker0): ~docker corp\n", ["~docker", "corp"]),
        ("", []),
    ],
)
def test_resolvectl_output(output: str, values: list[str]) -> None:
    assert _values(output) == values


@pytest.mark.parametrize(
    ("server", "address"),
    [
        ("172.17.0.1", "172.17.0.1"),
        ("172.17.0.1#dns.example", "172.17.0.1"),
        ("172.17.0.1:53", "172.17.0.1"),
        ("[fd00::1]:53", "fd00::1"),
        ("fd00::1%3", "fd00::1"),
    ],
)
def test_server_forms(server: str, address: str) -> None:
    assert _server_ip(server) == address


@pytest.mark.parametrize(
    ("text", "uses"),
    [
        ("hosts: files resolve [!UNAVAIL=return] dns myhostname\n", True),
        ("hosts: files dns\n", False),
        ("# hosts: resolve\nhosts: files\n", False),
    ],
)
def test_nsswitch(text: str, uses: bool) -> None:
    assert nsswitch_uses_resolve(text) is uses


def test_absolute_symlink_stays_inside_the_root(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    (root / "etc/resolv.conf").unlink()
    os.symlink("/run/systemd/resolve/resolv.conf", root / "etc/resolv.conf")
    facts = read_facts(root, "docker0")
    assert facts.nameservers == (UPLINK,) and facts.libc_uses_resolved


def test_cli(tmp_path: Path) -> None:
    root = make_root(tmp_path, resolved=False, resolv_conf=f"nameserver {UPLINK}\n")
    base = [sys.executable, "-m", "dnsd", "host-dns"]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DNSD_")}
    done = subprocess.run(
        [*base, "status", "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**environ, "DNSD_DOMAIN": "corp"},
    )
    assert done.returncode == 3
    assert "names under corp. do not resolve on the host" in done.stdout
    done = subprocess.run(
        [*base, "status", "--root", str(root), "--address", "x"],
        capture_output=True,
        text=True,
        timeout=30,
        env=environ,
    )
    assert done.returncode == 2
    assert done.stderr == "dnsd host-dns: error: --address 'x': expected an IPv4 or IPv6 address\n"
