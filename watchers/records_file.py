"""A records file as a source: hosts-format lines become static endpoints.

Format: `ADDRESS NAME [NAME...]` per line, `#` starts a comment. A name on
several lines gets all those addresses, in rotation. A single-label name, or a
name under the zone (`web.docker`), is relative to the zone; any other dotted
name is absolute (`db.internal` answers as `db.internal.`). The file is polled
for changes and every change is sent as one `Resync` of the file's source;
`reload()` (dnsd calls it on SIGHUP) re-reads it at once, changed or not.
Parsing is pure (`parse_records`); only `RecordsFile.watch` touches the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from registry import Address, Endpoint, Event, NameClaim, Origin, Resync
from registry.names import user_key

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2


@dataclass(frozen=True)
class ParseResult:
    endpoints: tuple[Endpoint, ...]
    errors: tuple[str, ...]


def record_key(name: str, zone: str) -> str:
    """The registry key for a name written in a records file (`registry.names.user_key`)."""
    return user_key(name, zone)


def parse_records(text: str, source: str, zone: str) -> ParseResult:
    """Parse hosts-format `text` into one endpoint per line; bad lines become errors."""
    endpoints: list[Endpoint] = []
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split("#", 1)[0].split()
        if not fields:
            continue
        try:
            endpoints.append(_endpoint(fields, source, zone, number))
        except ValueError as exc:
            errors.append(f"line {number}: {exc}")
    return ParseResult(tuple(endpoints), tuple(errors))


def _endpoint(fields: list[str], source: str, zone: str, number: int) -> Endpoint:
    if len(fields) < 2:
        raise ValueError(f"expected 'ADDRESS NAME [NAME...]', got {' '.join(fields)!r}")
    try:
        ip = str(ipaddress.ip_address(fields[0]))
    except ValueError:
        raise ValueError(f"{fields[0]!r} is not an IPv4 or IPv6 address") from None
    keys = [record_key(name, zone) for name in fields[1:]]
    claims = tuple(NameClaim(key, Origin.STATIC) for key in dict.fromkeys(keys))
    return Endpoint(
        source=source,
        id=f"line-{number}",
        name=keys[0],
        claims=claims,
        addresses=(Address(ip, "static"),),
    )


class RecordsFile:
    """Watches one records file; every change is one `Resync` of `file:<path>`."""

    def __init__(self, path: Path, zone: str, poll: float = POLL_SECONDS) -> None:
        self.path = path
        self.zone = zone
        self.poll = poll
        self.source = f"file:{path}"
        self._reload = asyncio.Event()
        self.where = str(path)
        self.unit = "records"  # what the sync summary line counts

    def reload(self) -> None:
        """Re-read the file now, even if its size, mtime and inode look unchanged."""
        self._reload.set()

    async def watch(self) -> AsyncIterator[Event]:
        seen: tuple[int, int, int] | None = None
        while True:
            stamp = await asyncio.to_thread(self._stamp)
            if stamp != seen or self._reload.is_set():
                self._reload.clear()
                text = await asyncio.to_thread(self.path.read_text, "utf-8", "replace")
                result = parse_records(text, self.source, self.zone)
                for error in result.errors:
                    log.warning("%s %s (line skipped)", self.path, error)
                log.info("%s: loaded %d records", self.path, len(result.endpoints))
                reason = f"records file {self.path} {'loaded' if seen is None else 'changed'}"
                seen = stamp
                yield Resync(self.source, result.endpoints, reason)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll):  # not wait_for: see swarm_watcher
                    await self._reload.wait()

    def _stamp(self) -> tuple[int, int, int]:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise OSError(f"cannot read records file {self.path}: {exc.strerror}") from None
        return (st.st_mtime_ns, st.st_size, st.st_ino)
