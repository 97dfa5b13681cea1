"""Cluster faults against a real three-member etcd cluster and real `dnsd serve` processes.

Two dnsd processes act as hosts "a" and "b" (records files as their local sources, published
with --cluster-publish file); etcd members are killed with real signals; a loopback relay in
front of etcd cuts one node off.
"""

from __future__ import annotations

import signal
import threading
import time
from functools import partial
from pathlib import Path

from tests.cluster.conftest import (
    LEASE_TTL,
    NodeFactory,
    answer,
    cluster_health,
    http_get,
    records,
    wait_for,
)
from tests.cluster.etcd_cluster import EtcdCluster, Relay
from tests.serve_process import Served

PUBLISH = ("--cluster-publish", "file")


def disconnected(served: Served) -> bool:
    return bool(cluster_health(served)["state"] == "disconnected")


def test_one_member_killed_no_interruption_nothing_lost(
    etcd: EtcdCluster, node: NodeFactory, zone: str, tmp_path: Path
) -> None:
    file_a = records(tmp_path, "a", "10.1.0.1 web\n")
    file_b = records(tmp_path, "b", "10.2.0.1 db\n")
    with (
        node("a", "--records", str(file_a), *PUBLISH) as a,
        node("b", "--records", str(file_b), *PUBLISH) as b,
    ):
        wait_for(lambda: answer(b, f"web.{zone}.") == ["10.1.0.1"], "b answers a's web", a, b)
        victim = next(
            i for i, m in enumerate(etcd.members) if m.url == cluster_health(a)["etcd_endpoint"]
        )
        failures: list[object] = []
        stop = threading.Event()

        def ask() -> None:
            for _ in range(2000):  # bounded: at most 2000 queries
                if stop.is_set():
                    return
                got = answer(b, f"web.{zone}.")
                if got != ["10.1.0.1"]:
                    failures.append(got)
                time.sleep(0.005)

        asker = threading.Thread(target=ask)
        asker.start()
        try:
            etcd.kill(victim)
            wait_for(
                lambda: cluster_health(a)["etcd_endpoint"] != etcd.members[victim].url,
                "a moves on",
                a,
            )
            file_a.write_text("10.1.0.1 web\n10.1.0.2 api\n")
            wait_for(
                lambda: answer(b, f"api.{zone}.") == ["10.1.0.2"], "a change after the kill", a, b
            )
        finally:
            stop.set()
            asker.join()
            etcd.start(victim)
        assert failures == []
        assert cluster_health(b)["state"] == "connected"
        etcd.wait_healthy()


def test_sigkill_node_records_leave_within_lease_ttl_plus_one_second(
    node: NodeFactory, zone: str, tmp_path: Path
) -> None:
    file_a = records(tmp_path, "a", "10.1.0.1 web\n")
    with node("a", "--records", str(file_a), *PUBLISH) as a, node("b") as b:
        wait_for(lambda: answer(b, f"web.{zone}.") == ["10.1.0.1"], "b answers a's web", a, b)
        a.process.send_signal(signal.SIGKILL)
        a.process.wait()
        took = wait_for(lambda: answer(b, f"web.{zone}.") is None, "a's web leaves b", b)
        assert took <= LEASE_TTL + 1, took
        assert cluster_health(b)["nodes"] == {}


def test_every_member_down_keeps_answering_then_converges(
    etcd: EtcdCluster, node: NodeFactory, zone: str, tmp_path: Path
) -> None:
    file_a = records(tmp_path, "a", "10.1.0.1 web\n10.1.0.9 old\n")
    file_b = records(tmp_path, "b", "10.2.0.1 db\n")
    with (
        node("a", "--records", str(file_a), *PUBLISH) as a,
        node("b", "--records", str(file_b), *PUBLISH, "--cluster-keep-remote", "4") as b,
    ):
        wait_for(lambda: answer(b, f"old.{zone}.") == ["10.1.0.9"], "b knows a", a, b)
        wait_for(lambda: answer(a, f"db.{zone}.") == ["10.2.0.1"], "a knows b", a, b)
        etcd.stop()
        try:
            for served in (a, b):
                wait_for(partial(disconnected, served), "disconnected", served)
                assert http_get(served, "/health")["status"] == "ok"
            assert answer(a, f"web.{zone}.") == ["10.1.0.1"] and answer(a, f"db.{zone}.") == [
                "10.2.0.1"
            ]
            assert answer(b, f"db.{zone}.") == ["10.2.0.1"] and answer(b, f"web.{zone}.") == [
                "10.1.0.1"
            ]
            file_a.write_text("10.1.0.1 web\n10.1.0.3 new\n")  # changed while etcd is away
            wait_for(lambda: answer(a, f"new.{zone}.") == ["10.1.0.3"], "a's own change", a)
            # b keeps remote names for 4 s (--cluster-keep-remote), a for the default 300 s
            wait_for(lambda: answer(b, f"web.{zone}.") is None, "b forgets a's names", b)
            assert answer(b, f"db.{zone}.") == ["10.2.0.1"]
            assert answer(a, f"db.{zone}.") == ["10.2.0.1"]
        finally:
            etcd.start()
        etcd.wait_healthy()
        back = time.monotonic()
        wait_for(lambda: answer(b, f"new.{zone}.") == ["10.1.0.3"], "b sees a's change", a, b)
        wait_for(lambda: answer(b, f"old.{zone}.") is None, "nothing stale at b", a, b)
        wait_for(lambda: answer(b, f"web.{zone}.") == ["10.1.0.1"], "nothing missing at b", a, b)
        converged = time.monotonic() - back
        assert converged <= 1.0, converged
        assert cluster_health(a)["state"] == cluster_health(b)["state"] == "connected"


def test_node_cut_off_longer_than_its_lease_leaves_and_returns(
    etcd: EtcdCluster, node: NodeFactory, zone: str, tmp_path: Path
) -> None:
    relay = Relay(etcd.members[0].client_port)
    file_a = records(tmp_path, "a", "10.1.0.1 web\n")
    file_b = records(tmp_path, "b", "10.2.0.1 db\n")
    try:
        with (
            node("a", "--records", str(file_a), *PUBLISH, etcd_urls=relay.url) as a,
            node("b", "--records", str(file_b), *PUBLISH) as b,
        ):
            wait_for(lambda: answer(b, f"web.{zone}.") == ["10.1.0.1"], "b answers a's web", a, b)
            wait_for(lambda: answer(a, f"db.{zone}.") == ["10.2.0.1"], "a answers b's db", a, b)
            relay.cut()
            took = wait_for(lambda: answer(b, f"web.{zone}.") is None, "a's web leaves b", a, b)
            assert took <= LEASE_TTL + 1, took
            assert cluster_health(a)["state"] == "disconnected"
            assert answer(a, f"db.{zone}.") == ["10.2.0.1"]  # a keeps what it knew
            relay.mend()
            took = wait_for(
                lambda: answer(b, f"web.{zone}.") == ["10.1.0.1"], "a republishes", a, b
            )
            assert took <= 1.0, took
    finally:
        relay.close()


def test_bad_values_are_skipped_with_a_warning_naming_the_key(
    etcd: EtcdCluster, node: NodeFactory, zone: str, tmp_path: Path
) -> None:
    file_b = records(tmp_path, "b", "10.2.0.1 db\n")
    with node("b", "--records", str(file_b), *PUBLISH) as b:
        wait_for(lambda: cluster_health(b)["state"] == "connected", "b connected", b)
        head = f"/dnsd/v1/{zone}/nodes/evil/docker"
        bad = {
            f"{head}/json": "{not json",
            f"{head}/zone": '{"v":1,"name":"x.example.","names":[]}',
            f"{head}/ip": '{"v":1,"name":"x","addresses":[{"ip":"1.2.3.999"}]}',
            f"{head}/big": '{"v":1,"name":"' + "x" * 20000 + '"}',
        }
        for key, value in bad.items():
            etcd.ctl("put", key, value)
        wait_for(lambda: cluster_health(b)["rejected_values"] >= len(bad), "all four refused", b)
        for key in bad:
            assert f"skipping etcd key {key}" in b.log()
        assert answer(b, f"db.{zone}.") == ["10.2.0.1"]
        assert cluster_health(b)["state"] == "connected"
