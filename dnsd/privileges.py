"""Least privilege: after the listeners are bound, dnsd gives up everything it no longer needs.

One job: change the process's identity and capability sets, once, with no way back.

- Started as root with `--user NAME`: set no_new_privs, empty the capability bounding set,
  set the supplementary groups (the user's own plus the Docker socket's group, so the Docker
  watcher can still connect), then setresgid and setresuid to the user (real, effective and
  saved IDs alike), which empties the permitted and effective sets; then prove that
  setuid(0) fails.
- Started unprivileged (e.g. by systemd with `AmbientCapabilities=CAP_NET_BIND_SERVICE`): set
  no_new_privs and clear the ambient, effective, permitted and inheritable sets.
- Started as root without `--user`: nothing changes (README: "Least privilege").

no_new_privs and the bounding set are per thread and inherited by new threads, so `prepare`
runs first, before any thread exists: it sets no_new_privs and (as root with `--user`) keeps
in the bounding set only what binding and switching need. Threads started while binding
(uvloop resolves listen addresses in libuv's pool) inherit that; `drop` then empties the
main thread's bounding set, and setresuid (which glibc applies to every thread) empties
every thread's permitted and effective sets.

It must not bind sockets, read the environment or decide when to run (the composition root
calls `prepare` first and `drop` between binding and starting the watchers). Linux only; no
dependencies beyond libc via ctypes.
"""

from __future__ import annotations

import ctypes
import grp
import logging
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522
CAP_LAST_CAP_FILE = Path("/proc/sys/kernel/cap_last_cap")
CAP_SETGID, CAP_SETUID, CAP_SETPCAP, CAP_NET_BIND_SERVICE = 6, 7, 8, 10
NEEDED_UNTIL_DROP = frozenset({CAP_SETGID, CAP_SETUID, CAP_SETPCAP, CAP_NET_BIND_SERVICE})


class PrivilegeError(RuntimeError):
    """Privileges could not be dropped as asked; str() says which setting and why."""


@dataclass(frozen=True)
class Account:
    """Who dnsd becomes: uid, primary gid and every supplementary gid."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]

    def describe(self) -> str:
        names = ",".join(_group_name(g) for g in self.groups)
        return f"{self.name} (uid {self.uid}, gid {self.gid}, groups {names})"


def account_for(user: str, extra_gids: tuple[int, ...] = ()) -> Account:
    """The account `user` (a name or a numeric uid) with its groups plus `extra_gids`."""
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except (KeyError, OverflowError):
        raise PrivilegeError(f"--user {user!r}: no such user on this host") from None
    gids = [entry.pw_gid, *os.getgrouplist(entry.pw_name, entry.pw_gid), *extra_gids]
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, tuple(sorted(set(gids))))


def socket_gid(docker_url: str | None) -> tuple[int, ...]:
    """The group owning the Docker socket (unix:// URLs only), or () when there is none."""
    path = (docker_url or "unix:///var/run/docker.sock").removeprefix("unix://")
    if docker_url is not None and not docker_url.startswith("unix://"):
        return ()
    try:
        return (os.stat(path).st_gid,)
    except OSError as exc:
        log.warning("cannot stat the Docker socket %s (%s): its group is not kept", path, exc)
        return ()


def prepare(user: str | None) -> None:
    """Before any thread exists: no_new_privs, and a bounding set of only what is still needed."""
    if os.geteuid() == 0 and user is None:
        return
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    if os.geteuid() == 0:
        _empty_bounding_set(keep=NEEDED_UNTIL_DROP)


def switches_user(user: str | None) -> bool:
    """Whether `drop` will make the process another user (who may not read what root can)."""
    return os.geteuid() == 0 and user is not None


def drop(user: str | None, docker_gids: tuple[int, ...]) -> str:
    """Drop privileges as described in the module docstring; returns what was done."""
    if switches_user(user):
        assert user is not None
        account = account_for(user, docker_gids)
        become(account)
        return f"dropped privileges to {account.describe()}"
    if os.geteuid() == 0:
        return "running as root (use --user NAME to drop privileges after binding)"
    if user is not None and account_for(user).uid != os.geteuid():
        raise PrivilegeError(
            f"--user {user!r}: dnsd is not running as root (uid {os.geteuid()}), so it cannot "
            "switch users; start it as root, or leave --user out"
        )
    if not _has_capabilities():
        return f"running as uid {os.geteuid()} without capabilities"
    clear_capabilities()
    return f"running as uid {os.geteuid()}; all capabilities cleared after binding"


def become(account: Account) -> None:
    """As root: bounding set emptied, groups, gid and uid switched, no way back."""
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    _empty_bounding_set(keep=frozenset())
    os.setgroups(list(account.groups))
    os.setresgid(account.gid, account.gid, account.gid)
    os.setresuid(account.uid, account.uid, account.uid)
    clear_capabilities()
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise PrivilegeError(f"--user {account.name}: setuid(0) still works after dropping; stopping")


def _empty_bounding_set(keep: frozenset[int]) -> None:
    """Drop every capability but `keep` from the bounding set (needs CAP_SETPCAP)."""
    try:
        for cap in range(_cap_last_cap() + 1):
            if cap not in keep:
                _prctl(PR_CAPBSET_DROP, cap)
    except PrivilegeError as exc:  # e.g. a container started with --cap-drop SETPCAP
        log.warning("cannot empty the capability bounding set (%s); no_new_privs still holds", exc)


def clear_capabilities() -> None:
    """no_new_privs, then empty the ambient, effective, permitted and inheritable sets."""
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if _libc().capset(ctypes.byref(header), data) != 0:
        errno = ctypes.get_errno()
        raise PrivilegeError(f"capset: cannot clear capabilities: {os.strerror(errno)}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _has_capabilities() -> bool:
    """True if this thread holds any capability (ambient ones are also permitted)."""
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if _libc().capget(ctypes.byref(header), data) != 0:
        return True  # cannot tell: clear them to be safe
    return any(d.effective or d.permitted or d.inheritable for d in data)  # ambient ⊆ these


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, arg: int) -> None:
    result = _libc().prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0),
                           ctypes.c_ulong(0), ctypes.c_ulong(0))  # fmt: skip
    if result != 0:
        errno = ctypes.get_errno()
        raise PrivilegeError(f"prctl({option}, {arg}): {os.strerror(errno)}")


def _cap_last_cap() -> int:
    try:
        return int(CAP_LAST_CAP_FILE.read_text())
    except (OSError, ValueError):
        return 40  # CAP_CHECKPOINT_RESTORE on Linux 5.9+; PR_CAPBSET_DROP of an unknown cap fails


def _group_name(gid: int) -> str:
    try:
        return f"{grp.getgrgid(gid).gr_name}({gid})"
    except KeyError:
        return str(gid)
