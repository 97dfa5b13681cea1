"""TCP length-prefix framing without sockets."""

from __future__ import annotations

import pytest

from dnsd.core.framing import Deframer, FramingError, frame


def test_frame_prefixes_the_length() -> None:
    assert frame(b"abc") == b"\x00\x03abc"


@pytest.mark.parametrize("message", [b"", b"x" * 65536])
def test_frame_rejects_sizes_dns_cannot_carry(message: bytes) -> None:
    with pytest.raises(ValueError):
        frame(message)


def test_pipelined_messages_come_out_in_order() -> None:
    deframer = Deframer()
    assert deframer.feed(frame(b"one") + frame(b"two") + frame(b"three")) == [
        b"one",
        b"two",
        b"three",
    ]
    assert deframer.pending == 0


def test_a_message_split_byte_by_byte_comes_out_once() -> None:
    deframer = Deframer()
    stream = frame(b"hello") + frame(b"world")
    out: list[bytes] = []
    for i in range(len(stream)):
        out += deframer.feed(stream[i : i + 1])
    assert out == [b"hello", b"world"]


def test_a_partial_message_waits() -> None:
    deframer = Deframer()
    assert deframer.feed(frame(b"abcdef")[:4]) == []
    assert deframer.pending == 4
    assert deframer.feed(b"cdef") == [b"abcdef"]


def test_a_zero_length_message_breaks_the_framing() -> None:
    with pytest.raises(FramingError):
        Deframer().feed(b"\x00\x00")


def test_largest_message_round_trips() -> None:
    big = bytes(range(256)) * 255 + b"x" * 255
    assert Deframer().feed(frame(big)) == [big]
