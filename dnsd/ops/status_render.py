"""HTML for the status page: the names table, the summary and the change history.

Pure: a `Snapshot`, facts about the process and change records in, HTML text
out. Every value that came from outside (names, containers, networks, sources,
reasons, errors) goes through `html.escape`. No I/O and no decisions: rotation
is `explain.rotation`, exactly what the explain view shows.
"""

from __future__ import annotations

import functools
import html
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dnsd.core import explain
from dnsd.ops.state import WatcherReport
from dnsd.ops.times import time_text
from registry import Change, Endpoint, Snapshot, UnhealthyPolicy
from registry.names import qualify
from registry.snapshot import Ref

TEMPLATE = Path(__file__).with_name("status_page.html")
CHANGES_SHOWN = 100


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Summary:
    """What the top of the page says about the process."""

    version: str
    zone: str
    started: float
    registry_version: int
    names: int
    endpoints: int
    listeners: Sequence[str]
    watchers: Sequence[WatcherReport]
    per_source: dict[str, int] = field(default_factory=dict)
    history_size: int = 0
    last_seq: int = 0


def render_summary(summary: Summary, now: float | None = None) -> str:
    now = time.time() if now is None else now
    facts = [
        ("zone", summary.zone),
        ("version", summary.version),
        ("up", _duration(now - summary.started)),
        ("names", f"{summary.names:,}"),
        ("endpoints", f"{summary.endpoints:,}"),
        ("registry version", summary.registry_version),
        ("history kept", f"last {summary.history_size:,} changes"),
    ]
    items = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts)
    listeners = "".join(f"<li>{esc(item)}</li>" for item in summary.listeners) or "<li>none</li>"
    return (
        f'<div><h2>Server</h2><dl class="facts">{items}</dl></div>'
        f'<div><h2>Listeners</h2><ul class="listeners">{listeners}</ul></div>'
        f"<div><h2>Sources</h2>{_sources(summary, now)}</div>"
    )


def _sources(summary: Summary, now: float) -> str:
    rows = []
    seen = set()
    for watcher in summary.watchers:
        source, state, last = watcher.source, watcher.state, watcher.last_event
        seen.add(source)
        ago = _duration(now - last) + " ago" if last is not None else "never"
        cells = (
            source, state, summary.per_source.get(source, 0), watcher.events,
            watcher.resyncs, watcher.reconnects, ago, watcher.last_error,
        )  # fmt: skip
        rows.append(_row(cells, f' class="{"ok" if state == "connected" else "bad"}"'))
    for source, count in sorted(summary.per_source.items()):
        if source not in seen:
            rows.append(_row((source, "static", count, "", "", "", "", "")))
    head = _row(
        ("source", "state", "endpoints", "events", "resyncs", "reconnects", "last event", "error"),
        cell="th",
    )
    return f'<table class="sources"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _row(cells: Iterable[object], attrs: str = "", cell: str = "td") -> str:
    return f"<tr{attrs}>" + "".join(f"<{cell}>{esc(c)}</{cell}>" for c in cells) + "</tr>"


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def render_rows(
    snapshot: Snapshot, zone: str, policy: UnhealthyPolicy, keys: Iterable[str] | None = None
) -> str:
    """One `<div class="r" data-n="key">` per name (sorted), or only for `keys` that exist.

    Rows are grid `div`s, not table rows, so the browser can skip laying out the
    ones off screen (`content-visibility: auto`): that keeps 10,000 names fast.
    """
    names = snapshot.names()
    wanted = sorted(names) if keys is None else sorted(k for k in set(keys) if k in names)
    cells: dict[Ref, tuple[str, str, str, str]] = {}  # an endpoint is escaped once per render
    return "".join(_name_row(key, names[key], zone, policy, cells) for key in wanted)


def _name_row(
    key: str,
    endpoints: tuple[Endpoint, ...],
    zone: str,
    policy: UnhealthyPolicy,
    cache: dict[Ref, tuple[str, str, str, str]],
) -> str:
    reasons = explain.rotation(endpoints, policy)
    columns: tuple[list[str], ...] = ([], [], [], [], [])
    for ep in endpoints:
        fixed = cache.get(ep.ref) or cache.setdefault(ep.ref, _endpoint_cells(ep))
        for column, text in zip(columns, (*fixed, _rotation(ep, reasons[ep.ref])), strict=True):
            column.append(text)
    body = "".join(f"<span>{'<br>'.join(c)}</span>" for c in columns)
    return f'<div class="r" data-n="{esc(key)}"><b>{esc(qualify(key, zone))}</b>{body}</div>'


def _endpoint_cells(ep: Endpoint) -> tuple[str, str, str, str]:
    addresses = ", ".join(f"{a.ip} ({a.network})" if a.network else a.ip for a in ep.addresses)
    return esc(ep.name), esc(ep.source), esc(addresses) or "-", esc(ep.health.value)


def _rotation(ep: Endpoint, reason: str) -> str:
    if reason:
        return f'<b class="out">out: {esc(reason)}</b>'
    if not ep.healthy:
        return f'<b class="warn">in: {esc(explain.FAIL_OPEN)}</b>'
    return "in"


def render_changes(changes: Sequence[Change], zone: str) -> str:
    """The newest `CHANGES_SHOWN` changes, newest first."""
    return "".join(_change_row(c, zone) for c in reversed(changes[-CHANGES_SHOWN:]))


def _change_row(change: Change, zone: str) -> str:
    when = time_text(change.time)
    cells = (
        change.detail, change.endpoint, change.source,
        ", ".join(change.answer) or "-", change.reason,
    )  # fmt: skip
    return (
        f'<tr class="{esc(change.kind.value)}"><td title="{esc(when)}">{esc(when[11:23])}</td>'
        f"<td>{esc(qualify(change.name, zone))}</td><td>{esc(change.kind.value)}</td>"
        + "".join(f"<td>{esc(c)}</td>" for c in cells)
        + "</tr>"
    )


def render_page(
    nonce: str, summary: Summary, rows: str, changes: str, count: int, template: str = ""
) -> str:
    """The whole page: the template with its placeholders filled in."""
    parts = {
        "NONCE": esc(nonce),
        "ZONE": esc(summary.zone),
        "SEQ": str(summary.last_seq),
        "COUNT": f"{count:,}",
        "SUMMARY": render_summary(summary),
        "ROWS": rows,
        "CHANGES": changes,
    }
    # One pass, so text inside a filled-in part is never taken for a placeholder.
    return _PLACEHOLDER.sub(lambda m: parts[m.group(1)], template or _template())


_PLACEHOLDER = re.compile(r"@@([A-Z]+)@@")


@functools.cache
def _template() -> str:
    return TEMPLATE.read_text(encoding="utf-8")
