"""BatchedDatagramTransport on real loopback sockets: order, refused replies, full buffers."""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
from collections.abc import AsyncIterator, Callable

import pytest

from dnsd.serve.batch import BatchedDatagramTransport, bind_batched, binding

FACTORY = binding()
pytestmark = pytest.mark.skipif(FACTORY is None, reason="recvmmsg extension not built")
HOST = "127.0.0.1"
Address = tuple[str, int]


class Echo(asyncio.DatagramProtocol):
    """Replies with the datagram itself, or sends it where `redirect` says."""

    def __init__(self, redirect: Callable[[bytes, Address], Address] | None = None) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.errors: list[OSError] = []
        self.redirect = redirect or (lambda data, addr: addr)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        assert self.transport is not None
        if data == b"boom":
            raise RuntimeError("a bug while handling one datagram")
        self.transport.sendto(data, self.redirect(data, addr))

    def error_received(self, exc: Exception) -> None:
        assert isinstance(exc, OSError)
        self.errors.append(exc)


async def serve(protocol: Echo, count: int = 32) -> BatchedDatagramTransport:
    assert FACTORY is not None
    return bind_batched(asyncio.get_running_loop(), FACTORY, protocol, HOST, 0, count)


def client() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.setblocking(False)
    return sock


async def receive(sock: socket.socket, count: int) -> list[bytes]:
    loop = asyncio.get_running_loop()
    return [await asyncio.wait_for(loop.sock_recv(sock, 4096), 5.0) for _ in range(count)]


def numbered(who: int, n: int) -> bytes:
    return struct.pack("!HH", who, n) + b"query"


@pytest.fixture
async def clients() -> AsyncIterator[list[socket.socket]]:
    socks = [client() for _ in range(3)]
    yield socks
    for sock in socks:
        sock.close()


async def test_one_receive_call_takes_every_waiting_datagram_and_replies_keep_order(
    clients: list[socket.socket],
) -> None:
    transport = await serve(Echo())
    address = transport.get_extra_info("sockname")
    try:
        for n in range(10):  # interleaved, all queued before the loop runs the transport
            for who, sock in enumerate(clients):
                sock.sendto(numbered(who, n), address)
        for who, sock in enumerate(clients):
            assert await receive(sock, 10) == [numbered(who, n) for n in range(10)]
        assert (transport.receives, transport.received) == (1, 30)
    finally:
        transport.close()


async def test_a_batch_larger_than_the_buffers_is_taken_in_several_calls(
    clients: list[socket.socket],
) -> None:
    transport = await serve(Echo(), count=4)
    address = transport.get_extra_info("sockname")
    try:
        for n in range(10):
            clients[0].sendto(numbered(0, n), address)
        assert await receive(clients[0], 10) == [numbered(0, n) for n in range(10)]
        assert (transport.receives, transport.received) == (3, 10)
    finally:
        transport.close()


async def test_a_refused_reply_and_a_failing_datagram_cost_only_themselves(
    clients: list[socket.socket],
) -> None:
    def redirect(data: bytes, addr: Address) -> Address:
        # broadcast without SO_BROADCAST: the kernel refuses this one datagram (EACCES)
        if data == b"by-name":
            return ("localhost", addr[1])  # not an address the kernel call takes
        return ("255.255.255.255", addr[1]) if data.endswith(b"refuse") else addr

    protocol = Echo(redirect)
    transport = await serve(protocol)
    address = transport.get_extra_info("sockname")
    sent = [b"a", b"b-refuse", b"c", b"boom", b"d", b"by-name", b"e-refuse", b"f"]
    try:
        for data in sent:
            clients[0].sendto(data, address)
        assert await receive(clients[0], 4) == [b"a", b"c", b"d", b"f"]
        assert [e.errno for e in protocol.errors] == [errno.EACCES, errno.EINVAL, errno.EACCES]
        assert transport.receives == 1
    finally:
        transport.close()


class Stalling:
    """The real binding, except that its first send stops after 3 datagrams with EAGAIN, as a
    full socket buffer would (loopback never fills one: the receiver is charged, not us)."""

    def __init__(self, fd: int, count: int, size: int) -> None:
        assert FACTORY is not None
        self.real = FACTORY(fd, count, size)
        self.stalls = 1
        self.backlog_seen: list[int] = []

    def recv(self) -> list[tuple[bytes, tuple[str, int]]]:
        return self.real.recv()

    def send(self, items: list[tuple[bytes, tuple[str, int]]], start: int = 0) -> tuple[int, int]:
        if self.stalls:
            self.stalls -= 1
            sent, _ = self.real.send(items[: start + 3], start)
            return sent, errno.EAGAIN
        return self.real.send(items, start)


async def test_replies_the_kernel_cannot_take_yet_wait_for_writability_in_order(
    clients: list[socket.socket],
) -> None:
    made: list[Stalling] = []

    def factory(fd: int, count: int, size: int) -> Stalling:
        made.append(Stalling(fd, count, size))
        return made[-1]

    loop = asyncio.get_running_loop()
    transport = bind_batched(loop, factory, Echo(), HOST, 0, 32)
    address = transport.get_extra_info("sockname")
    try:
        for n in range(20):
            clients[0].sendto(numbered(0, n), address)
        while transport.received < 20:
            await asyncio.sleep(0)
        assert transport.get_write_buffer_size() == 17  # waiting for writability
        for n in range(20, 25):  # new replies queue behind them, never overtake
            clients[0].sendto(numbered(0, n), address)
        assert await receive(clients[0], 25) == [numbered(0, n) for n in range(25)]
        assert transport.get_write_buffer_size() == 0
    finally:
        transport.close()


async def test_replies_sent_outside_a_batch_go_out_at_once(
    clients: list[socket.socket],
) -> None:
    protocol = Echo()
    transport = await serve(protocol)
    try:
        transport.sendto(b"later", clients[1].getsockname())  # e.g. a forwarded answer
        assert await receive(clients[1], 1) == [b"later"]
    finally:
        transport.close()
    await asyncio.sleep(0)
    assert transport.is_closing()
    assert transport.get_extra_info("socket").fileno() == -1  # closed after connection_lost


async def test_ipv6_clients_get_their_replies() -> None:
    assert FACTORY is not None
    loop = asyncio.get_running_loop()
    try:
        transport = bind_batched(loop, FACTORY, Echo(), "::1", 0, 8)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.bind(("::1", 0))
    sock.setblocking(False)
    try:
        for n in range(3):
            sock.sendto(numbered(6, n), transport.get_extra_info("sockname")[:2])
        assert await receive(sock, 3) == [numbered(6, n) for n in range(3)]
    finally:
        sock.close()
        transport.close()
