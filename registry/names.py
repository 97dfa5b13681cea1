"""Name keys: how the registry spells a name.

A key is lower-case. A name relative to the served zone (``web``,
``web.shop``) has no trailing dot and is answered under the zone, and as a bare
name when bare names are on. An absolute name (``api.internal.``) ends with a
dot and is answered exactly as written.

Every name rule lives here: the key, how users write a name relative to a zone
(`user_key`), and the absolute name a key is answered as (`qualify`). The zone
is always passed in; this module must not know a default zone, do I/O or log.
"""

import re

_ONE_LABEL = r"(?:(?!-)[a-z0-9_-]{1,63}(?<!-)|\*)"
_LABEL = re.compile(_ONE_LABEL)
_BODY = re.compile(rf"(?:{_ONE_LABEL}\.)*{_ONE_LABEL}")  # every label at once (no backtracking)


def name_key(name: str) -> str:
    """Lower-case `name` and collapse it to a key; raise ValueError if it is not a DNS name."""
    key = name.strip().lower()
    absolute = key.endswith(".")
    body = key[:-1] if absolute else key
    if not body or len(body) > 253:
        raise ValueError(f"not a DNS name: {name!r}")
    if not _BODY.fullmatch(body):
        bad = next((label for label in body.split(".") if not _LABEL.fullmatch(label)), body)
        raise ValueError(f"not a DNS name: {name!r} (bad label {bad!r})")
    return body + "." if absolute else body


def is_absolute(key: str) -> bool:
    """True for a key that names an absolute name, outside the zone's relative space."""
    return key.endswith(".")


def sanitize_label(text: str) -> str:
    """Turn arbitrary text (a container name) into something `name_key` accepts, or ''."""
    cleaned = re.sub(r"[^a-z0-9_.-]+", "-", text.strip().lower().lstrip("/"))
    cleaned = re.sub(r"\.{2,}", ".", cleaned).strip(".-")
    return ".".join(part.strip("-")[:63] for part in cleaned.split(".") if part.strip("-"))


def user_key(text: str, zone: str) -> str:
    """The key for a name as users write it (records files, the HTTP API); raises ValueError.

    `web`, `web.docker` and `web.docker.` mean `web`; any other dotted name is
    absolute (`db.internal` means `db.internal.`).
    """
    bare = name_key(text).rstrip(".")
    suffix = "." + zone.rstrip(".").lower()
    if bare.endswith(suffix):
        return name_key(bare[: -len(suffix)])
    return bare + "." if "." in bare else bare


def qualify(key: str, zone: str) -> str:
    """The absolute name a key is answered as: `web` -> `web.docker.`; absolute keys stay."""
    return key if is_absolute(key) else f"{key}.{zone}"
