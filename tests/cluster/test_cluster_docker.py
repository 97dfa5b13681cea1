"""A container on node "a" (the real Docker engine) is answered by node "b", and gone when it
stops. The reachability rule decides what b answers: a published port is the node's
advertised address with the host port in SRV; a container with neither a published port
nor an overlay network is listed as not reachable and not answered."""

from __future__ import annotations

import subprocess
import sys

import pytest

from registry.model import UNREACHABLE
from tests.cluster.conftest import NodeFactory, answer, http_get, wait_for
from tests.docker_support import DockerLab, docker

pytestmark = pytest.mark.docker


def test_container_on_a_is_answered_by_b_then_gone(
    node: NodeFactory, zone: str, lab: DockerLab
) -> None:
    with node("a", "--docker") as a, node("b") as b:
        net = lab.network("net")
        web = lab.run("web", "--network", net, "-p", "127.0.0.1::80")
        quiet = lab.run("quiet", "--network", net)
        host_port = int(docker("port", web, "80/tcp").splitlines()[0].rsplit(":", 1)[1])
        wait_for(lambda: answer(b, f"{web}.{zone}.") == ["127.0.0.1"], "b answers web", a, b)
        assert answer(b, f"{web}.a.{zone}.") == ["127.0.0.1"]  # <name>.<node>.<zone>
        assert answer(b, f"{web}.b.{zone}.") is None
        srv = answer(b, f"_80._tcp.{web}.{zone}.", "SRV")
        assert srv == [f"0 10 {host_port} {web}.{zone}."]
        assert answer(a, f"{web}.{zone}.") != ["127.0.0.1"]  # a answers its bridge address

        wait_for(lambda: answer(b, f"{quiet}.{zone}.") == [], "b lists quiet, no address", b)
        view = http_get(b, f"/v1/records/{quiet}")
        [endpoint] = view["endpoints"]
        assert endpoint["node"] == "a" and endpoint["source"] == "cluster:a"
        assert endpoint["reason"] == UNREACHABLE and endpoint["in_rotation"] is False
        listed = subprocess.run(
            [sys.executable, "-m", "dnsd", "ls", "--api", f"http://127.0.0.1:{b.http_port}",
             "--node", "a", "--name", f"{lab.tag}*"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout  # fmt: skip
        assert f"{web}@a" in listed and f"{quiet}@a" in listed and UNREACHABLE in listed

        docker("stop", "-t", "0", web)
        wait_for(lambda: answer(b, f"{web}.{zone}.") is None, "web gone at b", a, b)
