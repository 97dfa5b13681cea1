"""DNS over TCP framing (RFC 1035 4.2.2 / RFC 7766): a two-byte length before each message.

Sans-IO: bytes in, whole messages out, and the reverse. No sockets, no asyncio; the TCP
shell (`dnsd.serve.tcp`) feeds it what arrives.
"""

from __future__ import annotations

import struct

MAX_MESSAGE = 65535
_LENGTH = struct.Struct("!H")


class FramingError(ValueError):
    """The peer broke the framing (a zero-length message); the connection should close."""


def frame(message: bytes) -> bytes:
    """`message` with its length prefix; ValueError if it cannot be framed."""
    if not message or len(message) > MAX_MESSAGE:
        raise ValueError(f"a DNS message over TCP must be 1..{MAX_MESSAGE} bytes")
    return _LENGTH.pack(len(message)) + message


class Deframer:
    """Collects bytes and yields each complete message once (pipelining included)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a whole message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add `data`; return every message now complete, in order. Raises FramingError."""
        self._buffer += data
        messages: list[bytes] = []
        offset = 0
        buffer = self._buffer
        while len(buffer) - offset >= 2:
            (length,) = _LENGTH.unpack_from(buffer, offset)
            if length == 0:
                raise FramingError("zero-length DNS message over TCP")
            if len(buffer) - offset - 2 < length:
                break
            messages.append(bytes(buffer[offset + 2 : offset + 2 + length]))
            offset += 2 + length
        if offset:
            del buffer[:offset]
        return messages
