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


class CtypesBatch:
    """Same interface as `dnsd.serve._mmsg.Batch` (IPv4 only)."""

    def __init__(self, fd: int, count: int = 32, size: int = 4096) -> None:
        self.fd, self.count, self.size = fd, count, size
        self._recv = self._side(count, size)
        self._send = self._side(count, size)
        self._reset = bytes(self._recv[3])

    @staticmethod
    def _side(count: int, size: int) -> tuple[ctypes.Array[ctypes.c_char], ...]:
        bufs = ctypes.create_string_buffer(count * size)
        names = ctypes.create_string_buffer(count * NAME_SIZE)
        iov = (_Iovec * count)()
        msgs = (_Mmsghdr * count)()
        for i in range(count):
            iov[i].base = ctypes.addressof(bufs) + i * size
            iov[i].length = size
            msgs[i].hdr.name = ctypes.addressof(names) + i * NAME_SIZE
            msgs[i].hdr.namelen = NAME_SIZE
            msgs[i].hdr.iov = ctypes.addressof(iov[i])
            msgs[i].hdr.iovlen = 1
        views = (memoryview(bufs).cast("B"), memoryview(names).cast("B"))
        return (msgs, iov, bufs, memoryview(msgs).cast("B"), *views)  # type: ignore[return-value]

    def recv(self) -> list[tuple[bytes, tuple[str, int]]]:
        msgs, _, _, headers, bufs, names = self._recv
        headers[:] = self._reset  # type: ignore[index]
        got = _recvmmsg(self.fd, msgs, self.count, MSG_DONTWAIT, None)
        out = []
        unpack, size, ntoa = U32.unpack_from, self.size, socket.inet_ntoa
        for i in range(max(got, 0)):
            length = unpack(headers, i * HDR + LENGTH_AT)[0]  # type: ignore[arg-type]
            _, port, ip = V4.unpack_from(names, i * NAME_SIZE)  # type: ignore[arg-type]
            out.append((bytes(bufs[i * size : i * size + length]), (ntoa(ip), socket.ntohs(port))))  # type: ignore[index]
        return out

    def send(self, items: list[tuple[bytes, tuple[str, int]]], start: int = 0) -> tuple[int, int]:
        msgs, _, _, headers, bufs, names = self._send
        iov = memoryview(self._send[1]).cast("B")
        pack, size, aton = V4.pack_into, self.size, socket.inet_aton
        n = min(len(items) - start, self.count)
        for i in range(n):
            data, (host, port) = items[start + i]
            bufs[i * size : i * size + len(data)] = data  # type: ignore[index]
            SIZE_T.pack_into(iov, i * 16 + 8, len(data))
            pack(names, i * NAME_SIZE, socket.AF_INET, socket.htons(port), aton(host))  # type: ignore[arg-type]
            U32.pack_into(headers, i * HDR + NAMELEN_AT, 16)  # type: ignore[arg-type]
        sent = _sendmmsg(self.fd, msgs, n, MSG_DONTWAIT)
        return (max(sent, 0), 0 if sent == n else ctypes.get_errno())
