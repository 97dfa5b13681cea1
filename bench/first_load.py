"""Benchmark: what a cluster first load costs the registry and every store listener (not a test).

  python -m bench.first_load measure [--nodes 5] [--endpoints 2000] [--rounds 3]
  python -m bench.first_load change [--endpoints 10000] [--changes 500]
  python -m bench.first_load compare --old DIR [--runs 5] [--endpoints 2000]

`measure` (in process): the serve process's `App` built for cluster mode (nothing started,
no connection), its fast path's pipeline attached, then one `Resync` per remote node applied
through `store.apply`, so the change history, the fast path's invalidation, the cluster
publisher and the change log all run (log level warning); prints µs of process CPU per
endpoint (median of the rounds), and the ms the first read of the change history costs
after the load (records are made when read).
`change`: a registry of `--endpoints` remote endpoints (20 nodes) in the same process shape,
then single `Upsert`s; µs per change. `compare` runs `measure` and `change` (10,000 and
100,000 endpoints) in turn against the tree `--old` and this one, `--runs` times each,
interleaved (`--old` is a checkout of the code to compare with, e.g. `git archive` of a
commit), and prints the medians and ranges. Traffic: none.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from bench.cluster_scale import synthetic
from dnsd.app import App
from dnsd.config import parse_serve_args
from dnsd.core.zone import zone_settings
from dnsd.ops.logs import setup_logging
from dnsd.serve.pipeline import Pipeline
from registry import Address, Endpoint, Resync, Upsert
from watchers.cluster.codec import cluster_source, decode, encode

HERE = Path(__file__).resolve().parent.parent


def _app(log_level: str = "warning") -> App:
    argv = ["--dns-listen", "127.0.0.1:0", "--domain", "bench.test", "--node", "b",
            "--advertise-ip", "127.0.0.1", "--cluster-etcd", "http://127.0.0.1:9",
            "--no-docker", "--log-level", log_level]  # fmt: skip
    config = parse_serve_args(argv)
    setup_logging(config.log_level, stream=open(os.devnull, "w"))  # noqa: SIM115  # kept open
    app = App(config, [("127.0.0.1", 0)])
    settings = zone_settings(config, ["127.0.0.1"], recursion=True)
    Pipeline(app.store, settings, app.metrics, app.forwarder)  # its fast path subscribes
    return app


def _remote(node: int, i: int, generation: int = 0) -> Endpoint:
    """Endpoint `i` of node `node` as a member decodes it (its local address is not
    published, so any valid one does)."""
    local = replace(synthetic(node, i, generation), addresses=(Address("10.0.0.1", "net"),))
    return decode(encode(local, f"127.0.{node}.1"), f"n{node}", f"docker/id{i}")


def measure(nodes: int, endpoints: int, rounds: int) -> dict[str, float]:
    """µs of CPU per endpoint to apply the load (median of `rounds`), and ms to read the
    history once after it (what /v1/events or the status page would pay first)."""
    loads = [tuple(_remote(n, i) for i in range(endpoints)) for n in range(nodes)]
    applying, reading = [], []
    for _ in range(rounds):
        app = _app()
        gc.collect()
        gc.freeze()
        started = time.process_time()
        for n in range(nodes):
            app.store.apply(Resync(cluster_source(f"n{n}"), loads[n]))
            gc.freeze()  # what the bulk load does after each applied event
        applied = time.process_time()
        assert app.state.changes is not None
        app.state.changes.history.query()
        reading.append((time.process_time() - applied) * 1e3)
        applying.append((applied - started) / (nodes * endpoints) * 1e6)
        del app
        gc.unfreeze()
    return {"apply": statistics.median(applying), "read": statistics.median(reading)}


def change(endpoints: int, changes: int) -> dict[str, float]:
    """µs of CPU per single upsert (mean of `changes`) in a registry of `endpoints`."""
    app = _app()
    nodes = 20
    for n in range(nodes):
        load = tuple(_remote(n, i) for i in range(n, endpoints, nodes))
        app.store.apply(Resync(cluster_source(f"n{n}"), load))
    gc.collect()
    gc.freeze()
    step = max(1, endpoints // changes)
    upserts = [Upsert(_remote(i % nodes, i, 1)) for i in range(0, endpoints, step)]
    started = time.process_time()
    for event in upserts:
        app.store.apply(event)
    return {"upsert": (time.process_time() - started) / len(upserts) * 1e6}


def _child(tree: Path, args: list[str]) -> dict[str, float]:
    """`args` measured in a child that imports dnsd, registry and watchers from `tree` (this
    file is loaded by its path, so `tree` needs no copy of it)."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    code = (
        "import importlib.util as u, sys; sys.argv[0] = 'first_load'; "
        f"s = u.spec_from_file_location('first_load', {__file__!r}); "
        "m = u.module_from_spec(s); s.loader.exec_module(m); m.main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, cwd=tree, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(done.stderr)
    result: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return result


def compare(old: Path, runs: int, endpoints: int) -> None:
    trees = {"old": old.resolve(), "new": HERE}
    jobs = {
        "load": ["measure", "--endpoints", str(endpoints), "--json"],
        "10,000": ["change", "--endpoints", "10000", "--json"],
        "100,000": ["change", "--endpoints", "100000", "--json"],
    }
    labels = {
        ("load", "apply"): f"first load of 5 x {endpoints}: µs per endpoint",
        ("load", "read"): "then the first read of the history: ms",
        ("10,000", "upsert"): "one upsert at 10,000 endpoints: µs",
        ("100,000", "upsert"): "one upsert at 100,000 endpoints: µs",
    }
    found: dict[tuple[str, str, str], list[float]] = {}
    for _ in range(runs):
        for job, args in jobs.items():
            for which, tree in trees.items():
                for what, value in _child(tree, args).items():
                    found.setdefault((job, what, which), []).append(value)
    print("| measure | old median (range) | new median (range) |\n|---|---:|---:|")
    for (job, what), label in labels.items():
        cells = []
        for which in trees:
            values = found[(job, what, which)]
            cells.append(f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})")
        print(f"| {label} | {cells[0]} | {cells[1]} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["measure", "change", "compare"])
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--endpoints", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--changes", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--old", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.what == "compare":
        compare(args.old, args.runs, args.endpoints)
        return
    if args.what == "measure":
        values = measure(args.nodes, args.endpoints, args.rounds)
    else:
        values = change(args.endpoints, args.changes)
    print(json.dumps(values) if args.json else ", ".join(f"{k} {v:.1f}" for k, v in values.items()))


if __name__ == "__main__":
    main()
