"""The HTTP API is served once the watchers' first load is applied (or after `HTTP_HOLD`):
its socket is bound before the watchers start, so a request made meanwhile waits in the
backlog and is answered; it is never refused. DNS answers from the start."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from dnsd.app import HTTP_HOLD
from tests.serve_process import dnsd_serve, free_port


def test_a_request_made_before_the_first_load_waits_and_is_answered(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.write_text("10.0.0.7 web\n")
    dead_etcd = f"http://127.0.0.1:{free_port()}"  # nothing listens: the load never ends
    args = ["--no-docker", "--records", str(records), "--cluster-etcd", dead_etcd]
    with dnsd_serve([*args, "--node", "me"], tmp_path, http=True) as served:
        asked = time.monotonic()
        assert served.http_port is not None
        with socket.create_connection(("127.0.0.1", served.http_port), timeout=1) as conn:
            conn.sendall(b"GET /health HTTP/1.0\r\nHost: x\r\n\r\n")
            conn.settimeout(HTTP_HOLD + 10)
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.split()[1] in (b"200", b"503"), head
        health = json.loads(body)
        assert health["cluster"]["state"] in ("connecting", "disconnected")
        assert served.query("web.docker.").answer  # DNS answered all along
        assert time.monotonic() - asked < HTTP_HOLD + 10
