"""Real Compose projects: a client gets its own project's replicas of a shared service name.

The real `docker-compose` (Debian's 1.29) brings up two projects, `<tag>-shop` and
`<tag>-other`, from files written here; both run a service `web` (two replicas) and a
`client`, all on one network the test creates, with `dns:` pointing at a `dnsd serve` the
test runs on that network's gateway. Compose adds the service name as a network alias,
so `web` is claimed twice by every replica (network-alias and compose-service): both
origins must count, and the own-project rule must apply. Images: the local test image.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docker_support import IMAGE, DockerLab, docker, gateway_of, ip_on, lab, test_image
from tests.serve_process import Served, dnsd_serve, wait_until_ready

pytestmark = pytest.mark.docker
__all__ = ["lab", "test_image"]  # fixtures

ANSWER = re.compile(r"^Address(?:\s+\d+)?:\s+([0-9a-fA-F.:]+)\s*$")
COMPOSE_FILE = """\
version: "2.4"
services:
  web:
    image: {image}
    scale: 2
    command: ["sleep", "600"]
    dns: ["{gateway}"]
  client:
    image: {image}
    command: ["sleep", "600"]
    dns: ["{gateway}"]
networks:
  default:
    external:
      name: {network}
"""


def docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        message = "docker-compose is missing (apt-get install -y docker-compose)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@dataclass
class Project:
    name: str
    file: Path

    def compose(self, *args: str) -> str:
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("DNSD_", "DEMO_"))}
        done = subprocess.run(
            [docker_compose(), "-p", self.name, "-f", str(self.file), *args],
            capture_output=True, text=True, timeout=180, env=environ, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"docker-compose {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def containers(self, service: str) -> list[str]:
        ids = self.compose("ps", "-q", service).split()
        return sorted(docker("inspect", "-f", "{{.Name}}", cid).lstrip("/") for cid in ids)


def nslookup(container: str, name: str, server: str = "") -> set[str]:
    """Addresses busybox `nslookup` prints inside `container` (its own resolver, or `server`)."""
    out = docker("exec", container, "nslookup", "-type=a", name, *([server] if server else []),
                 check=False)  # fmt: skip
    _, _, answers = out.partition("Name:")
    return {m.group(1) for line in answers.splitlines() if (m := ANSWER.match(line.strip()))}


@pytest.fixture
def projects(lab: DockerLab, tmp_path: Path) -> Iterator[tuple[str, Project, Project]]:
    docker_compose()
    net = lab.network("shared")
    gateway = gateway_of(net)
    made = []
    try:
        for suffix in ("shop", "other"):
            folder = tmp_path / suffix
            folder.mkdir()
            file = folder / "docker-compose.yml"
            file.write_text(COMPOSE_FILE.format(image=IMAGE, gateway=gateway, network=net))
            project = Project(lab.name(suffix), file)
            made.append(project)
            project.compose("up", "-d")
        yield net, made[0], made[1]
    finally:
        for project in made:
            project.compose("down", "-t", "0")


def records(served: Served, name: str) -> dict[str, object]:
    url = f"http://127.0.0.1:{served.http_port}/v1/records/{name}"
    with urllib.request.urlopen(url, timeout=5) as response:
        view: dict[str, object] = json.loads(response.read())
    return view


def test_a_compose_client_gets_its_own_projects_replicas(
    projects: tuple[str, Project, Project], tmp_path: Path
) -> None:
    net, shop, other = projects
    gateway = gateway_of(net)
    replicas = {p.name: {ip_on(c, net) for c in p.containers("web")} for p in (shop, other)}
    assert all(len(ips) == 2 for ips in replicas.values())
    everyone = replicas[shop.name] | replicas[other.name]
    args = ["--docker", "--dns-listen", f"{gateway}:53"]
    with dnsd_serve(args, tmp_path, http=True) as served:
        wait_until_ready(served)  # the first Docker sync is done: every replica is listed
        view = records(served, "web")
        endpoints = view["endpoints"]
        assert isinstance(endpoints, list) and len(endpoints) == 4
        for endpoint in endpoints:  # both origins of the name are kept and shown
            assert {"network-alias", "compose-service"} <= set(endpoint["origins"])
        for project in (shop, other):
            client = project.containers("client")[0]
            own = replicas[project.name]
            assert nslookup(client, "web.docker.") == own  # through Docker's 127.0.0.11
            assert nslookup(client, "web", gateway) == own  # asking dnsd directly
            assert nslookup(client, f"web.{project.name}.docker.") == own
        theirs = f"web.{other.name}.docker."
        assert nslookup(shop.containers("client")[0], theirs) == replicas[other.name]
        assert {r.to_text() for s in served.query("web.docker.").answer for r in s} == everyone
