"""A real three-member etcd cluster on loopback ports, for tests and benchmarks.

Members run Debian's `etcd` (3.4+) with data directories under a directory the caller
owns; `kill(i)` sends a real signal, `start(i)` brings a member back on its data. Also a
`Relay`: a TCP relay on loopback in front of the cluster that can be cut (every
connection dropped, new ones refused) to cut one dnsd off from etcd. Stops what it starts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.serve_process import free_port

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
ETCDCTL = shutil.which("etcdctl") or "/usr/bin/etcdctl"


@dataclass
class Member:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.client_port}"


@dataclass(frozen=True)
class Tls:
    """Files for an etcd that serves TLS and wants client certificates."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls(directory: Path) -> Tls:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate (openssl)."""

    def run(*args: str) -> None:
        subprocess.run(
            ["openssl", *args], check=True, capture_output=True, cwd=directory, timeout=60
        )

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=dnsd-test-ca")  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for who in ("server", "client"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{who}.key", "-out", f"{who}.csr",
            "-subj", f"/CN={'root' if who == 'client' else 'etcd'}")  # fmt: skip
        run("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{who}.pem", "-days", "2",
            "-extfile", "san.ext")  # fmt: skip
    d = directory
    return Tls(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem", d / "client.key")


@dataclass
class EtcdCluster:
    """Three etcd members on 127.0.0.1; `endpoints` is what dnsd's --cluster-etcd takes."""

    root: Path
    size: int = 3
    tls: Tls | None = None
    members: list[Member] = field(default_factory=list)

    def __post_init__(self) -> None:
        token = "dnsd-test-" + uuid.uuid4().hex[:8]
        self._token = token
        self.root.mkdir(parents=True, exist_ok=True)
        scheme = "https" if self.tls else "http"
        for i in range(self.size):
            self.members.append(
                Member(
                    f"m{i}", free_port(), free_port(), self.root / f"m{i}", self.root / f"m{i}.log",
                    scheme=scheme,
                )
            )  # fmt: skip

    @property
    def endpoints(self) -> str:
        return ",".join(m.url for m in self.members)

    def start(self, index: int | None = None) -> None:
        initial = ",".join(f"{m.name}=http://127.0.0.1:{m.peer_port}" for m in self.members)
        for member in self.members if index is None else [self.members[index]]:
            argv = [
                ETCD, "--name", member.name, "--data-dir", str(member.data_dir),
                "--listen-client-urls", member.url, "--advertise-client-urls", member.url,
                "--listen-peer-urls", f"http://127.0.0.1:{member.peer_port}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{member.peer_port}",
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", self._token,
                "--heartbeat-interval", "50", "--election-timeout", "500",
                "--logger", "zap", "--log-level", "warn",
            ]  # fmt: skip
            if self.tls:
                argv += ["--cert-file", str(self.tls.server_cert), "--key-file",
                         str(self.tls.server_key), "--trusted-ca-file", str(self.tls.ca),
                         "--client-cert-auth"]  # fmt: skip
            log = member.log_path.open("ab")
            member.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
            log.close()

    def wait_healthy(self, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            live = [m for m in self.members if m.process and m.process.poll() is None]
            if (
                live
                and self.ctl(
                    "endpoint", "health", check=False, endpoints=[m.url for m in live]
                ).returncode
                == 0
            ):
                return
            time.sleep(0.2)
        raise RuntimeError("etcd cluster not healthy:\n" + self.logs())

    def kill(self, index: int, sig: int = signal.SIGKILL) -> None:
        process = self.members[index].process
        if process is not None and process.poll() is None:
            process.send_signal(sig)
            process.wait(timeout=10)

    def stop(self) -> None:
        for i in range(self.size):
            self.kill(i, signal.SIGTERM)

    def ctl(
        self, *args: str, check: bool = True, endpoints: list[str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "ETCDCTL_API": "3"}
        urls = ",".join(endpoints or [m.url for m in self.members])
        argv = [
            ETCDCTL,
            "--endpoints",
            urls,
            "--dial-timeout",
            "2s",
            "--command-timeout",
            "5s",
        ]
        if self.tls:
            argv += ["--cacert", str(self.tls.ca), "--cert", str(self.tls.client_cert),
                     "--key", str(self.tls.client_key)]  # fmt: skip
        argv += args
        done = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=30, check=False
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"etcdctl {' '.join(args)}: {done.stderr.strip()}")
        return done

    def revision(self) -> int:
        import json

        out = self.ctl("endpoint", "status", "-w", "json").stdout
        return max(int(item["Status"]["header"]["revision"]) for item in json.loads(out))

    def logs(self) -> str:
        return "\n".join(
            f"== {m.name}\n" + m.log_path.read_text(errors="replace")[-2000:]
            for m in self.members
            if m.log_path.exists()
        )


class Relay:
    """A loopback TCP relay to one etcd member; `cut()` drops everything, `mend()` restores."""

    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.host = host  # where it listens (a bridge address reaches it from containers)
        self.port = free_port(host)
        self.target_port = target_port
        self._open = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.mend()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def mend(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):  # wakes the accept() blocked in another thread
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    close = cut

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    for sock in (source, sink):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
