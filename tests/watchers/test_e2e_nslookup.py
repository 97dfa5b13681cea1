"""End to end: `dnsd serve` on a test network's gateway; client containers resolve services.

The test creates a bridge network (Docker picks the subnet), runs the real
`dnsd serve` on that network's gateway:53 (and a loopback port to watch it),
starts Compose-labelled replicas, a plain container and health-checked
replicas, then asks with `nslookup` from a client container started with
`--dns <gateway>`. Only the test's own containers and networks are contacted.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import dns.rcode
import pytest

from tests.docker_support import IMAGE, DockerLab, docker, ip_on
from tests.serve_process import Served, dnsd_serve

pytestmark = pytest.mark.docker

ANSWER = re.compile(r"^Address(?:\s+\d+)?:\s+([0-9a-fA-F.:]+)\s*$")


def gateway_of(network: str) -> str:
    config = json.loads(docker("network", "inspect", "-f", "{{json .IPAM.Config}}", network))
    return str(config[0]["Gateway"])


def nslookup(lab: DockerLab, network: str, gateway: str, name: str, *labels: str) -> set[str]:
    """Addresses `nslookup NAME` prints in a client container using dnsd as its resolver."""
    client = lab.name("client")
    lab.containers.append(client)
    out = docker(
        "run", "--rm", "--name", client, "--network", network, "--dns", gateway,
        "--dns-search", ".", *labels, IMAGE, "nslookup", "-type=a", name,
        check=False,
    )  # fmt: skip
    lab.containers.remove(client)
    _, _, answers = out.partition("Name:")
    return {m.group(1) for line in answers.splitlines() if (m := ANSWER.match(line.strip()))}


def served_a(served: Served, name: str) -> set[str]:
    reply = served.query(name, "A")
    if reply.rcode() != dns.rcode.NOERROR:
        return set()
    return {r.to_text() for rrset in reply.answer for r in rrset}


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            pytest.fail(f"not within {timeout}s: {what}")
        time.sleep(0.05)


def test_client_container_resolves_services_through_dnsd(lab: DockerLab, tmp_path: Path) -> None:
    net = lab.network("e2e")
    gateway = gateway_of(net)
    project = lab.name("shop")
    compose = ("--label", f"com.docker.compose.project={project}")
    web = ("--network", net, *compose, "--label", "com.docker.compose.service=web")
    replicas = [lab.run(f"web-{i}", *web) for i in (1, 2)]
    plain = lab.run("plain", "--network", net)
    check = ("--health-cmd", "test -f /tmp/ok", "--health-interval", "1s", "--health-retries", "1")
    cache = ("--network", net, *compose, "--label", "com.docker.compose.service=cache", *check)
    healthy = lab.run("cache-ok", *cache, cmd=("sh", "-c", "touch /tmp/ok; exec sleep 600"))
    lab.run("cache-bad", *cache)

    web_ips = {ip_on(c, net) for c in replicas}
    args = ["--docker", "--dns-listen", f"{gateway}:53", "--upstream", "127.0.0.1:9"]
    with dnsd_serve(args, tmp_path) as served:
        wait_until(lambda: served_a(served, f"web.{project}.docker.") == web_ips, served.log())
        wait_until(
            lambda: served_a(served, f"cache.{project}.docker.") == {ip_on(healthy, net)},
            "only the healthy cache replica is in rotation",
        )
        assert nslookup(lab, net, gateway, "web", *compose) == web_ips
        assert nslookup(lab, net, gateway, "web.docker", *compose) == web_ips
        assert nslookup(lab, net, gateway, f"web.{project}.docker") == web_ips
        assert nslookup(lab, net, gateway, f"{plain}.docker") == {ip_on(plain, net)}
        assert nslookup(lab, net, gateway, f"cache.{project}.docker") == {ip_on(healthy, net)}
        assert nslookup(lab, net, gateway, f"{lab.name('nothing')}.docker") == set()

        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=10) == 0, served.log()
