"""systemd's readiness protocol (sd_notify) over a plain AF_UNIX datagram socket.

One job: send `READY=1`, `STOPPING=1`, `RELOADING=1` and `STATUS=...` lines to the socket
systemd names in `NOTIFY_SOCKET` (a path, or an abstract name starting with '@'). The socket
is connected once, at construction, so sending keeps working after dnsd drops privileges.
A missing or unusable socket is never fatal: dnsd serves DNS whether or not anyone listens.
It must not read the environment (`dnsd.config.notify_socket` does) nor decide *when* to
send (the composition root does).
"""

from __future__ import annotations

import logging
import socket

log = logging.getLogger(__name__)

MAX_STATUS = 200  # STATUS= lines are for humans (`systemctl status`); keep them short


def socket_address(name: str) -> str | bytes:
    """The connect() address for a NOTIFY_SOCKET value: '@x' is the abstract name "\\0x"."""
    if name.startswith("@"):
        return b"\0" + name[1:].encode()
    return name


class Notifier:
    """Sends sd_notify messages; a no-op when `NOTIFY_SOCKET` was not set."""

    def __init__(self, name: str | None) -> None:
        self.name = name
        self._sock: socket.socket | None = None
        if not name:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.connect(socket_address(name))
        except OSError as exc:
            sock.close()
            log.warning("NOTIFY_SOCKET %s: %s; not telling systemd about readiness", name, exc)
            return
        sock.setblocking(False)
        self._sock = sock

    @property
    def active(self) -> bool:
        return self._sock is not None

    def send(self, *fields: str) -> bool:
        """Send one datagram of newline-separated `KEY=VALUE` fields; False if it was not sent."""
        if self._sock is None:
            return False
        try:
            self._sock.send("\n".join(fields).encode() + b"\n")
        except OSError as exc:
            log.warning("NOTIFY_SOCKET %s: cannot send %s: %s", self.name, fields[0], exc)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", status_field(status))

    def status(self, status: str) -> bool:
        return self.send(status_field(status))

    def stopping(self) -> bool:
        return self.send("STOPPING=1", status_field("shutting down"))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def status_field(text: str) -> str:
    """`STATUS=text` on one line, bounded."""
    line = " ".join(text.split())
    return "STATUS=" + line[:MAX_STATUS]
