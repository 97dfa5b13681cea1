"""The ctypes binding of recvmmsg/sendmmsg, kept only as the measured alternative to the C one.

`bench.batch_io` compares it with `dnsd.serve._mmsg` and with one recvfrom/sendto per datagram.
No per-datagram ctypes objects: headers and buffers are preallocated and read or written through
memoryviews with `struct`. Linux x86-64/arm64 layouts only; not used by dnsd.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import socket
import struct

MSG_DONTWAIT = 0x40
NAME_SIZE = 28  # sockaddr_in6


class _Iovec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("length", ctypes.c_size_t))


class _Msghdr(ctypes.Structure):
    _fields_ = (
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.c_void_p),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    )


class _Mmsghdr(ctypes.Structure):
    _fields_ = (("hdr", _Msghdr), ("length", ctypes.c_uint))


_LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_recvmmsg = _LIBC.recvmmsg
_recvmmsg.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p)
_sendmmsg = _LIBC.sendmmsg
_sendmmsg.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int)
HDR = ctypes.sizeof(_Mmsghdr)
NAMELEN_AT = _Msghdr.namelen.offset
LENGTH_AT = _Mmsghdr.length.offset
U32 = struct.Struct("I")
SIZE_T = struct.Struct("N")
V4 = struct.Struct("=HH4s")  # family (host order), port (network order: htons), address


class _Side:
    """Preallocated headers, buffers and addresses for one direction, with byte views."""

    def __init__(self, count: int, size: int) -> None:
        self.buffers = ctypes.create_string_buffer(count * size)
        self.names = ctypes.create_string_buffer(count * NAME_SIZE)
        self.iov = (_Iovec * count)()
        self.msgs = (_Mmsghdr * count)()
        for i in range(count):
            self.iov[i].base = ctypes.addressof(self.buffers) + i * size
            self.iov[i].length = size
            self.msgs[i].hdr.name = ctypes.addressof(self.names) + i * NAME_SIZE
            self.msgs[i].hdr.namelen = NAME_SIZE
            self.msgs[i].hdr.iov = ctypes.addressof(self.iov[i])
            self.msgs[i].hdr.iovlen = 1
        self.headers_view = memoryview(self.msgs).cast("B")
        self.iov_view = memoryview(self.iov).cast("B")
        self.buffers_view = memoryview(self.buffers).cast("B")
        self.names_view = memoryview(self.names).cast("B")


class CtypesBatch:
    """Same interface as `dnsd.serve._mmsg.Batch` (IPv4 only)."""

    def __init__(self, fd: int, count: int = 32, size: int = 4096) -> None:
        self.fd, self.count, self.size = fd, count, size
        self._in = _Side(count, size)
        self._out = _Side(count, size)
        self._reset = bytes(self._in.headers_view)

    def recv(self) -> list[tuple[bytes, tuple[str, int]]]:
        side = self._in
        headers, bufs, names = side.headers_view, side.buffers_view, side.names_view
        headers[:] = self._reset
        got = _recvmmsg(self.fd, side.msgs, self.count, MSG_DONTWAIT, None)
        out = []
        unpack, size, ntoa = U32.unpack_from, self.size, socket.inet_ntoa
        for i in range(max(got, 0)):
            length = unpack(headers, i * HDR + LENGTH_AT)[0]
            _, port, ip = V4.unpack_from(names, i * NAME_SIZE)
            out.append(
                (bufs[i * size : i * size + length].tobytes(), (ntoa(ip), socket.ntohs(port)))
            )
        return out

    def send(self, items: list[tuple[bytes, tuple[str, int]]], start: int = 0) -> tuple[int, int]:
        side = self._out
        headers, bufs, names, iov = (
            side.headers_view,
            side.buffers_view,
            side.names_view,
            side.iov_view,
        )
        pack, size, aton, htons = V4.pack_into, self.size, socket.inet_aton, socket.htons
        n = min(len(items) - start, self.count)
        for i in range(n):
            data, (host, port) = items[start + i]
            bufs[i * size : i * size + len(data)] = data
            SIZE_T.pack_into(iov, i * 16 + 8, len(data))
            pack(names, i * NAME_SIZE, socket.AF_INET, htons(port), aton(host))
            U32.pack_into(headers, i * HDR + NAMELEN_AT, 16)
        sent = _sendmmsg(self.fd, side.msgs, n, MSG_DONTWAIT)
        return (max(sent, 0), 0 if sent == n else ctypes.get_errno())
