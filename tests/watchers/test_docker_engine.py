"""The Docker watcher against the real engine: what containers do shows up in the registry.

Each test starts its own uniquely named containers, lets an in-process watcher
(Supervisor + Store) follow the engine, and waits generously for the snapshot
to converge. Fault tests live in test_docker_faults.py.
"""

from __future__ import annotations

import pytest

from registry import Health, Snapshot, UnhealthyPolicy
from tests.docker_support import DockerLab, Watched, cli, docker, eventually, inspect, ip_on

pytestmark = pytest.mark.docker


def answers(
    snapshot: Snapshot, key: str, policy: UnhealthyPolicy = UnhealthyPolicy.EMPTY
) -> set[str]:
    return set(snapshot.resolve(key, policy=policy).addresses)


async def test_running_containers_are_listed_at_start(lab: DockerLab, watched: Watched) -> None:
    early = lab.run("early")
    await eventually(lambda: watched.snapshot.has_name(early), "a started container resolves")
    assert answers(watched.snapshot, early) == {ip_on(early, "bridge")}


async def test_start_stop_die_destroy(lab: DockerLab, watched: Watched) -> None:
    net = lab.network("net")
    web = lab.run("web", "--network", net, "--hostname", "webhost", "--network-alias", "www")
    ip = ip_on(web, net)
    names = (web, "webhost", "www")
    await eventually(
        lambda: all(answers(watched.snapshot, k) == {ip} for k in names), f"{names} -> {ip}"
    )

    await cli("stop", "-t", "0", web)
    await eventually(lambda: not watched.snapshot.has_name(web), "stop removes the name")
    assert not watched.snapshot.has_name("www")

    short = lab.run("short", cmd=("sleep", "2"))
    await eventually(lambda: watched.snapshot.has_name(short), "short-lived container resolves")
    await eventually(lambda: not watched.snapshot.has_name(short), "exit (die) removes the name")

    gone = lab.run("gone")
    await eventually(lambda: watched.snapshot.has_name(gone), "container resolves")
    await cli("rm", "-f", gone)
    await eventually(lambda: not watched.snapshot.has_name(gone), "rm -f (destroy) removes it")


async def test_rename(lab: DockerLab, watched: Watched) -> None:
    old = lab.run("old")
    await eventually(lambda: watched.snapshot.has_name(old), "the old name resolves")
    new = lab.name("new")
    lab.containers.append(new)
    await cli("rename", old, new)
    await eventually(lambda: watched.snapshot.has_name(new), "the new name resolves")
    assert not watched.snapshot.has_name(old)


async def test_pause_leaves_rotation_unpause_returns(lab: DockerLab, watched: Watched) -> None:
    box = lab.run("box")
    ip = ip_on(box, "bridge")
    await eventually(lambda: answers(watched.snapshot, box) == {ip}, "running answers")
    await cli("pause", box)
    await eventually(lambda: answers(watched.snapshot, box) == set(), "paused answers nothing")
    assert watched.snapshot.has_name(box)
    await cli("unpause", box)
    await eventually(lambda: answers(watched.snapshot, box) == {ip}, "unpaused answers again")


async def test_network_connect_and_disconnect(lab: DockerLab, watched: Watched) -> None:
    net = lab.network("net")
    box = lab.run("box")
    await eventually(lambda: watched.snapshot.has_name(box), "box resolves")
    await cli("network", "connect", "--alias", "boxalias", net, box)
    both = {ip_on(box, "bridge"), ip_on(box, net)}
    await eventually(lambda: answers(watched.snapshot, box) == both, "connect adds the address")
    await eventually(lambda: watched.snapshot.has_name("boxalias"), "connect adds the alias")
    await cli("network", "disconnect", net, box)
    only = {ip_on(box, "bridge")}
    await eventually(lambda: answers(watched.snapshot, box) == only, "disconnect drops it")
    assert not watched.snapshot.has_name("boxalias")


async def test_restart_with_a_new_ip(lab: DockerLab, watched: Watched) -> None:
    net = lab.network("net")
    box = lab.run("box", "--network", net)
    first = ip_on(box, net)
    await eventually(lambda: answers(watched.snapshot, box) == {first}, "first address")
    await cli("stop", "-t", "0", box)
    lab.run("filler", "--network", net)  # takes the freed address
    await cli("start", box)
    second = ip_on(box, net)
    assert second != first
    await eventually(lambda: answers(watched.snapshot, box) == {second}, "the new address")


async def test_healthcheck_in_rotation_only_while_healthy(lab: DockerLab, watched: Watched) -> None:
    check = ("--health-cmd", "test -f /tmp/ok", "--health-interval", "1s", "--health-retries", "1")
    box = lab.run("box", *check)
    ip = ip_on(box, "bridge")

    def health() -> Health | None:
        found = watched.snapshot.resolve(box).endpoints
        return found[0].health if found else None

    await eventually(lambda: watched.snapshot.has_name(box), "registered while starting")
    assert health() in (Health.STARTING, Health.UNHEALTHY)
    assert answers(watched.snapshot, box) == set()
    await cli("exec", box, "touch", "/tmp/ok")
    await eventually(lambda: answers(watched.snapshot, box) == {ip}, "healthy is in rotation")
    await cli("exec", box, "rm", "/tmp/ok")
    await eventually(lambda: health() is Health.UNHEALTHY, "unhealthy is noticed")
    assert answers(watched.snapshot, box) == set()
    assert answers(watched.snapshot, box, UnhealthyPolicy.SERVE_ALL) == {ip}


async def test_compose_service_names_cover_every_replica(lab: DockerLab, watched: Watched) -> None:
    service, project = lab.name("web"), lab.name("shop")
    labels = (
        *("--label", f"com.docker.compose.service={service}"),
        *("--label", f"com.docker.compose.project={project}"),
    )
    one, two = lab.run("web-1", *labels), lab.run("web-2", *labels)
    ips = {ip_on(one, "bridge"), ip_on(two, "bridge")}
    await eventually(lambda: answers(watched.snapshot, service) == ips, "<service> has both")
    assert answers(watched.snapshot, f"{service}.{project}") == ips
    assert watched.snapshot.resolve(service).endpoints[0].project == project


async def test_our_labels_and_exposed_ports(lab: DockerLab, watched: Watched) -> None:
    api = lab.name("api")
    box = lab.run(
        "box",
        "--label", f"dnsd.name={api},{api}.internal.",
        "--label", "dnsd.port.http=80",
        "--expose", "8080",
    )  # fmt: skip
    hidden = lab.run("hidden", "--label", "dnsd.enable=false")
    ip = ip_on(box, "bridge")
    await eventually(lambda: answers(watched.snapshot, api) == {ip}, "dnsd.name adds a name")
    assert answers(watched.snapshot, f"{api}.internal.") == {ip}
    srv = watched.snapshot.srv_names()
    assert {(r.target, r.port) for r in srv[f"_http._tcp.{api}"]} == {(box, 80)}
    assert {(r.target, r.port) for r in srv[f"_8080._tcp.{box}"]} == {(box, 8080)}
    assert f"_80._tcp.{box}" not in srv
    assert not watched.snapshot.has_name(hidden)


async def test_host_and_none_networks(lab: DockerLab, watched: Watched) -> None:
    host = lab.run("host", "--network", "host")
    none = lab.run("none", "--network", "none")
    marker = lab.run("marker")  # started last: once it shows, the others were handled
    await eventually(lambda: watched.snapshot.has_name(marker), "marker resolves")
    await eventually(lambda: watched.snapshot.has_name(host), "host-network container resolves")
    gateway = inspect(marker)["NetworkSettings"]["Networks"]["bridge"]["Gateway"]
    assert answers(watched.snapshot, host) == {gateway}
    assert not watched.snapshot.has_name(none)


async def test_two_containers_claiming_one_name_are_both_in_rotation(
    lab: DockerLab, watched: Watched
) -> None:
    shared = lab.name("shared")
    one = lab.run("one", "--label", f"dnsd.name={shared}")
    two = lab.run("two", "--label", f"dnsd.name={shared}")
    ips = {ip_on(one, "bridge"), ip_on(two, "bridge")}
    await eventually(lambda: answers(watched.snapshot, shared) == ips, "both answer")
    await cli("stop", "-t", "0", one)
    await eventually(lambda: answers(watched.snapshot, shared) == {ip_on(two, "bridge")}, "one")


async def test_subnets_follow_network_create(lab: DockerLab, watched: Watched) -> None:
    bridge = docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "bridge")
    assert bridge in watched.watcher.subnets()
    net = lab.network("net")
    subnet = docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", net)
    await eventually(lambda: subnet in watched.watcher.subnets(), "new network's subnet listed")
