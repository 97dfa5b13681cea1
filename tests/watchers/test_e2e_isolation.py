"""End to end: each client container gets only what it can reach (the isolation rule).

Two user-defined networks `a` and `b` and the default bridge. `dnsd serve` (started by the
test) listens on both networks' gateways; clients use it as `--dns` and ask with busybox
`nslookup` — through Docker's 127.0.0.11 on user-defined networks, directly on the default
bridge. `only-b` is on b, `both` on a and b, `only-a` on a with an SRV port. A client on a
gets a's addresses only; `only-b` does not exist for it (A, SRV and PTR alike); a default-bridge
client sees neither network; a container asking in its very first instant on b is scoped like
one dnsd already knows (and one dnsd never registers, too).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.docker_support import IMAGE, DockerLab, docker, gateway_of, ip_on
from tests.serve_process import dnsd_serve
from tests.watchers.test_e2e_nslookup import ANSWER, served_a, wait_until

pytestmark = pytest.mark.docker


def lookup(lab: DockerLab, network: str, dns: str, *question: str, hidden: bool = False) -> str:
    """busybox nslookup's output in a fresh client container (its resolver as Docker sets it);
    `hidden`: the client has `dnsd.enable=false`, so dnsd never registers it."""
    client = lab.name("client")
    lab.containers.append(client)
    label = ["--label", "dnsd.enable=false"] if hidden else []
    try:
        return docker(
            "run", "--rm", "--name", client, "--network", network, "--dns", dns, *label,
            "--dns-search", ".", IMAGE, "nslookup", *question, check=False,
        )  # fmt: skip
    finally:
        lab.containers.remove(client)


def addresses(output: str) -> set[str]:
    _, _, answers = output.partition("Name:")
    return {m.group(1) for line in answers.splitlines() if (m := ANSWER.match(line.strip()))}


def test_clients_get_only_what_they_can_reach(lab: DockerLab, tmp_path: Path) -> None:
    net_a, net_b = lab.network("a"), lab.network("b")
    gw_a, gw_b = gateway_of(net_a), gateway_of(net_b)
    only_a = lab.run("only-a", "--network", net_a, "--label", "dnsd.port.http=80")
    only_b = lab.run("only-b", "--network", net_b, "--label", "dnsd.port.http=80")
    both = lab.run("both", "--network", net_a)
    resident = lab.run("resident", "--network", net_a)  # a known client for the explain view
    docker("network", "connect", net_b, both)
    a_of_both, b_of_both = ip_on(both, net_a), ip_on(both, net_b)
    args = ["--docker", "--dns-listen", f"{gw_a}:53", "--dns-listen", f"{gw_b}:53"]
    with dnsd_serve(args, tmp_path, http=True) as served:
        wait_until(lambda: served_a(served, f"{both}.docker.") == {a_of_both, b_of_both},
                   served.log())  # fmt: skip
        wait_until(lambda: bool(served_a(served, f"{only_b}.docker.")), served.log())

        # a client on a (through 127.0.0.11)
        assert addresses(lookup(lab, net_a, gw_a, "-type=a", f"{both}.docker")) == {a_of_both}
        assert addresses(lookup(lab, net_a, gw_a, "-type=a", f"{only_a}.docker")) == {
            ip_on(only_a, net_a)
        }
        hidden = lookup(lab, net_a, gw_a, "-type=a", f"{only_b}.docker")
        assert addresses(hidden) == set() and "NXDOMAIN" in hidden
        srv = lookup(lab, net_a, gw_a, "-type=srv", f"_http._tcp.{only_b}.docker")
        assert "NXDOMAIN" in srv and "service =" not in srv
        own_srv = lookup(lab, net_a, gw_a, "-type=srv", f"_http._tcp.{only_a}.docker")
        assert re.search(rf"0 10 80 {re.escape(only_a)}\.docker", own_srv), own_srv
        ptr = lookup(lab, net_a, gw_a, ip_on(only_b, net_b))
        assert f"{only_b}.docker" not in ptr and "NXDOMAIN" in ptr

        # a client on the default bridge sees neither user-defined network
        for name in (f"{both}.docker", f"{only_a}.docker", only_a):
            assert addresses(lookup(lab, "bridge", gw_a, "-type=a", name)) == set(), name

        # a container asking in its first instant on b: scoped by b's subnet, whether or not
        # dnsd has processed its start yet (and one dnsd never registers: the same)
        first = lookup(lab, net_b, gw_b, "-type=a", f"{both}.docker")
        assert addresses(first) == {b_of_both}
        unseen = lookup(lab, net_b, gw_b, "-type=a", f"{both}.docker", hidden=True)
        assert addresses(unseen) == {b_of_both}
        unseen_a = lookup(lab, net_b, gw_b, "-type=a", f"{only_a}.docker", hidden=True)
        assert addresses(unseen_a) == set() and "NXDOMAIN" in unseen_a

        # the host (loopback) sees everything
        assert served_a(served, f"{both}.docker.") == {a_of_both, b_of_both}

        # the explain view for one client, by container name: what its DNS answers are
        api = f"http://127.0.0.1:{served.http_port}"
        wait_until(lambda: bool(served_a(served, f"{resident}.docker.")), served.log())
        with urllib.request.urlopen(f"{api}/v1/records/{both}?client={resident}") as response:
            view = json.loads(response.read())
        assert view["answer"] == [a_of_both] and view["client"]["networks"] == [net_a]
        explained = subprocess.run(
            [sys.executable, "-m", "dnsd", "explain", only_b, "--client", resident, "--api", api],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert explained.returncode == 0, explained.stderr
        assert f"for a client on network(s) {net_a}" in explained.stdout
        assert "answers: NXDOMAIN" in explained.stdout
