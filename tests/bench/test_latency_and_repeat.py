"""The benchmark's latency percentiles, steal time and multi-run tables (no servers run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import dnsperf, latency, procfs, profile, repeat
from bench.dnsperf import DnsperfResult
from bench.dnsperf_args import parse_args
from bench.dnsperf_compare import Running, interleaved
from bench.plan import Group
from bench.report import MAX, RATE, Report, RunResult, markdown
from bench.scenarios import Spelling
from bench.targets import Target

VERBOSE = """DNS Performance Testing Tool
[Status] Sending queries (to 127.0.0.1:53)
> NOERROR target.docker A 0.000050
> NOERROR target.docker A 0.000040
> NXDOMAIN missing-0.docker A 0.000030
> NOERROR target.docker A 0.012000
Statistics:
"""


def test_verbose_lines_give_every_latency() -> None:
    assert latency.parse_latencies(VERBOSE) == [0.00005, 0.00004, 0.00003, 0.012]


@pytest.mark.parametrize(
    ("share", "expected"),
    [(0.0, 1), (0.5, 50), (0.9, 90), (0.99, 99), (0.999, 100), (1.0, 100)],
)
def test_nearest_rank_percentile(share: float, expected: int) -> None:
    assert latency.percentile([float(i) for i in range(1, 101)], share) == expected


def test_stats_and_summary_over_runs() -> None:
    one = latency.latency_stats([0.001, 0.002, 0.003, 0.100])
    assert one is not None
    assert (one.count, one.p50_s, one.max_s) == (4, 0.002, 0.100)
    assert one.avg_s == pytest.approx(0.0265)
    two = latency.latency_stats([0.001] * 10)
    three = latency.latency_stats([0.004] * 10)
    assert two is not None and three is not None
    summary = latency.summarize([one, two, three])
    assert summary is not None
    assert summary.avg_s == 0.004  # the median run's average, not the mean of all
    assert summary.max_s == 0.100
    assert summary.avg_range_s == (0.001, one.avg_s)
    assert latency.summarize([]) is None


def test_capped_runs_are_verbose_and_realtime() -> None:
    load = dnsperf.Load("127.0.0.1", 53, Path("q"), 2, 10, 10_000, cpu=1, verbose=True, realtime=10)
    argv = dnsperf.command(load)
    assert argv[:5] == ["taskset", "-c", "1", "chrt", "-r"]
    assert argv[-1] == "-v"


def test_steal_share_of_the_pinned_cores() -> None:
    #        user nice system idle iowait irq softirq steal guest guest_nice
    before = {"cpu0": [100, 0, 0, 100, 0, 0, 0, 0, 5, 0], "cpu1": [0] * 10}
    after = {"cpu0": [150, 0, 0, 130, 0, 0, 0, 20, 9, 0], "cpu1": [0, 0, 0, 100, 0, 0, 0, 0, 0, 0]}
    assert procfs.steal_share(before, after, [0]) == pytest.approx(20 / 100)
    assert procfs.steal_share(before, after, [0, 1]) == pytest.approx(20 / 200)
    assert procfs.steal_share(before, before, [0]) is None
    assert set(procfs.cpu_ticks()) >= {"cpu", "cpu0"}


def test_perf_report_lines_become_frames() -> None:
    text = (
        "# comment 1.0%\n    36.53%  [.] __GI___libc_write\n    30.51%  [k] do_syscall_64\n"
        "     9.60%  [k] vfs_write\n"
    )
    frames = profile.parse_perf_report(text, count=2)
    assert [f.name for f in frames] == [
        "kernel (all [k])",
        "user (all [.])",
        "[.] __GI___libc_write",
        "[k] do_syscall_64",
    ]
    assert [f.self_share for f in frames] == pytest.approx([0.4011, 0.3653, 0.3653, 0.3051])


@pytest.mark.parametrize(
    ("argv", "seconds", "runs"),
    [([], 10.0, 3), (["--repeat", "3"], 4.0, 3), (["--quick", "--repeat", "2"], 2.0, 2)],
)
def test_run_lengths(argv: list[str], seconds: float, runs: int) -> None:
    opts = parse_args(argv)
    assert (opts.seconds, opts.latency_runs, opts.realtime) == (seconds, runs, True)


@pytest.mark.parametrize("argv", [["--repeat", "0"], ["--repeat", "x"], ["--latency-runs", "11"]])
def test_bad_flags_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2
    assert argv[0] in capsys.readouterr().err


def _run(label: str, kind: str, cpu_s: float, mode: str = MAX, avg: float = 0.0) -> RunResult:
    stats = latency.latency_stats([avg] * 3) if mode == RATE else None
    result = DnsperfResult(100_000, 100_000, 0, 50_000.0, 2.0, avg, avg, latency=stats)
    return RunResult(label, kind, "single", mode, result, cpu_s, steal=0.02)


def _report(dnsd_cpu: float, started: str) -> Report:
    runs = [
        _run("dnsmasq", "dnsmasq", 0.5),
        _run("dnsd (uvloop)", "dnsd", dnsd_cpu),
        _run("dnsd (pip install .)", "dnsd", dnsd_cpu * 1.05),
        _run("dnsmasq", "dnsmasq", 0.0, RATE, 0.0001),
        _run("dnsmasq", "dnsmasq", 0.0, RATE, 0.0003),
        _run("dnsd (uvloop)", "dnsd", 0.0, RATE, 0.0002),
    ]
    meta = {"started": started, "load_start": "0.5", "load_end": "1.5", "steal": 0.01}
    meta |= {"seconds": 5, "clients": 10, "rate": 10_000, "server_cpu": 0, "client_cpu": 1}
    return Report(meta=meta | {"host": "test", "latency_runs": 2, "realtime": True}, runs=runs)


def test_repeat_tables_show_each_run_and_the_range() -> None:
    rounds = [_report(0.55, "run one"), _report(0.6, "run two")]
    text = repeat.markdown(rounds, {"single": "one name"})
    assert "| 1 | run one | 0.5 → 1.5 | 1.0% |" in text
    assert "| one name | dnsd (uvloop) | 1.10 / 1.20 | 1.10\N{EN DASH}1.20 |" in text
    assert "| one name | dnsd (pip install .) | 1.05 / 1.05 | 1.05\N{EN DASH}1.05 |" in text
    # latency: dnsmasq's two capped runs give a median average of 0.2 ms
    assert "| one name | dnsmasq | 0.200 / 0.200 |" in text


def test_one_run_table_has_latency_percentiles_and_steal() -> None:
    text = markdown(_report(0.55, "now"), {"single": "one name"})
    assert (
        "| one name | dnsmasq | 50,000 | 5.0 | 0 | 0.200 | 0.200 | 0.200 | 0.30 | 2.0 | 0 |" in text
    )
    assert "under SCHED_RR" in text


def test_capped_runs_repeat_round_by_round_across_servers() -> None:
    def running(label: str) -> Running:
        group = Group(label, lambda _w: None, (("single", MAX), ("single", RATE)))  # type: ignore[arg-type, return-value]
        target = Target(label, "dnsd", "127.0.0.1", 53, 1, Spelling.ZONE, False)
        return Running(group, target, 0)

    steps = interleaved([running("a"), running("b")], latency_runs=3)
    assert [(r.group.label, mode) for r, _scenario, mode in steps] == [
        ("a", MAX),
        ("b", MAX),
        *[(label, RATE) for _round in range(3) for label in ("a", "b")],
    ]
