"""Several side-by-side runs (`python -m bench --repeat N`) as tables of ranges, in Markdown.

Each run is a `Report`; this module puts the runs next to each other: the machine's load
average and steal per run, each dnsd row's CPU per query and queries/s ÷ dnsmasq's per run
with the range, each dnsd row ÷ the best dnsd row (is the default install within 10%?), and
latency per run. Formats only; runs nothing and measures nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from bench.report import MAX, RATE, Report, RunResult, find_all, latency_of

Figure = Callable[[RunResult, RunResult], float | None]


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _labels(rounds: Sequence[Report], kind: str) -> list[str]:
    return list(dict.fromkeys(r.label for rep in rounds for r in rep.runs if r.kind == kind))


def _top(report: Report, label: str, scenario: str) -> RunResult | None:
    found = find_all(report.runs, label, scenario, MAX)
    return found[0] if found else None


def _span(values: Sequence[float | None], digits: int = 2) -> tuple[str, str]:
    """(the per-run values "a / b / c", their range "min to max" with an en dash)."""
    each = " / ".join(_fmt(v, digits) for v in values)
    known = [v for v in values if v is not None]
    spread = f"{_fmt(min(known), digits)}\N{EN DASH}{_fmt(max(known), digits)}" if known else "—"
    return each, spread


def conditions(rounds: Sequence[Report]) -> list[str]:
    lines = [
        "| run | started | load average before → after | steal (all CPUs) |",
        "|---|---|---|---:|",
    ]
    for number, rep in enumerate(rounds, 1):
        m = rep.meta
        steal = m.get("steal")
        steal_text = f"{steal:.1%}" if isinstance(steal, float) else "?"
        lines.append(
            f"| {number} | {m.get('started', '?')} | {m.get('load_start', '?')} → "
            f"{m.get('load_end', '?')} | {steal_text} |"
        )
    return lines


def _cpu_ratio(mine: RunResult, ref: RunResult) -> float | None:
    a, b = mine.cpu_us_per_query, ref.cpu_us_per_query
    return None if a is None or not b else a / b


def _qps_ratio(mine: RunResult, ref: RunResult) -> float | None:
    return mine.dnsperf.qps / ref.dnsperf.qps if ref.dnsperf.qps else None


def _per_run(
    rounds: Sequence[Report],
    label: str,
    scenario: str,
    ref: Callable[[Report], str | None],
    f: Figure,
) -> list[float | None]:
    values: list[float | None] = []
    for rep in rounds:
        mine, ref_label = _top(rep, label, scenario), ref(rep)
        other = _top(rep, ref_label, scenario) if ref_label else None
        values.append(f(mine, other) if mine and other else None)
    return values


def against_dnsmasq(rounds: Sequence[Report], titles: Mapping[str, str]) -> list[str]:
    refs = _labels(rounds, "dnsmasq")
    if not refs:
        return []
    lines = [
        "| scenario | dnsd | CPU/query ÷ dnsmasq, each run | range "
        "| q/s ÷ dnsmasq, each run | range |",
        "|---|---|---|---:|---|---:|",
    ]
    for scenario, title in titles.items():
        for label in _labels(rounds, "dnsd"):
            cpu = _per_run(rounds, label, scenario, lambda _: refs[0], _cpu_ratio)
            qps = _per_run(rounds, label, scenario, lambda _: refs[0], _qps_ratio)
            if any(v is not None for v in cpu + qps):
                lines.append(
                    f"| {title} | {label} | " + " | ".join((*_span(cpu), *_span(qps))) + " |"
                )
    return lines


def _best_dnsd(scenario: str) -> Callable[[Report], str | None]:
    def best(rep: Report) -> str | None:
        tops = [
            r for r in rep.runs if r.kind == "dnsd" and r.scenario == scenario and r.mode == MAX
        ]
        tops = [r for r in tops if r.cpu_us_per_query is not None]
        return min(tops, key=lambda r: r.cpu_us_per_query or 0).label if tops else None

    return best


def against_best(rounds: Sequence[Report], titles: Mapping[str, str]) -> list[str]:
    """Each dnsd row's CPU per query ÷ the lowest of any dnsd row in the same run."""
    lines = [
        "| scenario | dnsd | CPU/query ÷ best dnsd row, each run | range |",
        "|---|---|---|---:|",
    ]
    for scenario, title in titles.items():
        for label in _labels(rounds, "dnsd"):
            values = _per_run(rounds, label, scenario, _best_dnsd(scenario), _cpu_ratio)
            if any(v is not None for v in values):
                lines.append(f"| {title} | {label} | " + " | ".join(_span(values)) + " |")
    return lines


def latency(rounds: Sequence[Report], titles: Mapping[str, str]) -> list[str]:
    lines = [
        "| scenario | server | avg (ms), each run | p50 (ms), each run | p99 (ms), each run "
        "| max (ms), each run | steal %, each run |",
        "|---|---|---|---|---|---|---|",
    ]
    servers = _labels(rounds, "dnsmasq") + _labels(rounds, "docker") + _labels(rounds, "dnsd")
    for scenario, title in titles.items():
        for label in servers:
            runs = [find_all(rep.runs, label, scenario, RATE) for rep in rounds]
            summaries = [latency_of(capped) for capped in runs]
            if all(s is None for s in summaries):
                continue
            cells = [
                _span([None if s is None else getattr(s, key) * 1e3 for s in summaries], 3)[0]
                for key in ("avg_s", "p50_s", "p99_s", "max_s")
            ]
            steals = [
                max((r.steal for r in capped if r.steal is not None), default=None)
                for capped in runs
            ]
            cells.append(_span([None if s is None else s * 100 for s in steals], 1)[0])
            lines.append(f"| {title} | {label} | " + " | ".join(cells) + " |")
    return lines


def markdown(rounds: Sequence[Report], titles: Mapping[str, str]) -> str:
    parts = [
        f"### {len(rounds)} side-by-side runs",
        "",
        *conditions(rounds),
        "",
        "CPU per query and queries/s of each dnsd row ÷ dnsmasq's in the same run "
        "(CPU below 1 and q/s above 1 favour dnsd):",
        "",
        *against_dnsmasq(rounds, titles),
        "",
        "CPU per query of each dnsd row ÷ the best dnsd row's in the same run and scenario "
        "(1.00 = the best; the target for a plain `pip install` is ≤ 1.10):",
        "",
        *against_best(rounds, titles),
        "",
        "Latency at the capped rate (each run: median over its capped runs; max the largest):",
        "",
        *latency(rounds, titles),
    ]
    return "\n".join(parts) + "\n"
