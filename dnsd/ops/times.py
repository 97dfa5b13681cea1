"""Points in time as users write them and as the API shows them; no I/O, no aiohttp.

`parse_time` reads epoch seconds, ISO 8601, `14:02` (UTC, today) or a duration such as
`10m` (that long ago); `time_text` writes UTC ISO 8601 with milliseconds. Shared by the
events API and `dnsd events`, which must not import the HTTP server to check a flag.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

MAX_TEXT = 300  # how much of a user's text an error message repeats
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_CLOCK = re.compile(r"^\d{1,2}:\d\d(:\d\d(\.\d+)?)?$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
TIME_FORMS = "epoch seconds, 2026-11-28T14:02:00Z, 14:02 (UTC, today) or a duration like 10m"


def parse_time(text: str, now: float) -> float:
    """A point in time from what a user typed; raises ValueError naming the accepted forms."""
    text = text.strip()
    try:
        return _parse_time(text, now)
    except (ValueError, OverflowError):
        raise ValueError(f"{text[:MAX_TEXT]!r} is not a time; use {TIME_FORMS}") from None


def _parse_time(text: str, now: float) -> float:
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    duration = _DURATION.match(text)
    if duration:
        return now - float(duration.group(1)) * _UNITS[duration.group(2)]
    today = datetime.fromtimestamp(now, tz=UTC)
    if _CLOCK.match(text):
        clock = datetime.fromisoformat(f"{today.date().isoformat()}T{text.zfill(5)}+00:00")
        return (clock - timedelta(days=1) if clock.timestamp() > now else clock).timestamp()
    when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def time_text(seconds: float) -> str:
    """UTC ISO 8601 with milliseconds: 2026-11-28T14:02:03.412Z."""
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
