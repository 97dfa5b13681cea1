"""Who holds a local port: the process names and ids behind a UDP or TCP socket, from /proc.

Used only to explain a failed bind ("held by dnsmasq (pid 812)"). Reads
/proc/net/{udp,udp6,tcp,tcp6} for sockets bound to the port (TCP: listening ones) and
/proc/<pid>/fd for the processes owning them; a process it may not inspect is skipped.
Bounded: at most `MAX_PROCESSES` processes are looked at. It must not bind, connect or log.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
TCP_LISTEN = "0A"
MAX_PROCESSES = 4096
MAX_FDS = 4096


def port_holders(proto: str, port: int, proc: Path = PROC) -> list[str]:
    """'name (pid N)' for each process with a `proto` ('udp'/'tcp') socket bound to `port`."""
    inodes = _socket_inodes(proto, port, proc)
    if not inodes:
        return []
    found: list[str] = []
    for pid_dir in _processes(proc):
        if _holds_any(pid_dir, inodes):
            found.append(f"{_command(pid_dir)} (pid {pid_dir.name})")
    return found


def _socket_inodes(proto: str, port: int, proc: Path) -> set[str]:
    inodes: set[str] = set()
    for table in (proc / "net" / proto, proc / "net" / f"{proto}6"):
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            local, state, inode = fields[1], fields[3], fields[9]
            if int(local.rpartition(":")[2], 16) != port or inode == "0":
                continue
            if proto == "tcp" and state != TCP_LISTEN:
                continue
            inodes.add(inode)
    return inodes


def _processes(proc: Path) -> list[Path]:
    try:
        pids = [entry for entry in proc.iterdir() if entry.name.isdigit()]
    except OSError:
        return []
    return sorted(pids, key=lambda p: int(p.name))[:MAX_PROCESSES]


def _holds_any(pid_dir: Path, inodes: set[str]) -> bool:
    wanted = {f"socket:[{inode}]" for inode in inodes}
    try:
        fds = os.listdir(pid_dir / "fd")[:MAX_FDS]
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(pid_dir / "fd" / fd) in wanted:
                return True
        except OSError:
            continue
    return False


def _command(pid_dir: Path) -> str:
    try:
        return (pid_dir / "comm").read_text().strip() or "?"
    except OSError:
        return "?"
