"""Run one command in a sandbox: Linux namespaces, a read-only view, rlimits, no privileges.

Standard library only: ``sandbox.py`` runs this file by its path (``python _jail.py SPEC``), so
it works whatever the child's ``sys.path``. SPEC is JSON (see ``sandbox.jail_spec``).

With ``isolate`` (needs root: CAP_SYS_ADMIN to create namespaces):

1. new mount, network, PID, IPC and UTS namespaces; the network namespace has no
   interface up, so the command has no network at all;
2. the whole filesystem is remounted read-only and nosuid (``mount_setattr``, Linux >= 5.12);
   fresh ``/proc`` for the new PID namespace; empty tmpfs on ``/tmp``, ``/dev/shm``, ``/run``,
   ``/var/tmp`` (hiding sockets and other jobs' files);
3. directories the target user cannot traverse (a home directory holding the Python
   install, say) are hidden under an empty tmpfs, and only the paths in ``expose`` (the
   Python runtime) are bound back, read-only;
4. the job folder is bound read-write at ``/tmp/work`` (the working directory) and the test
   data read-only at ``/tmp/data``;
5. a small init (PID 1) reaps processes; the command runs as its child with rlimits
   (CPU, address space, file size, open files, processes, no core dumps), as the
   unprivileged ``uid``/``gid``, with ``no_new_privs``. Killing this launcher's process group
   (or the launcher alone: parent-death signal) ends the whole PID namespace.

A one-line JSON report (what isolation was achieved, or why not) goes to ``report_fd``
before the command starts; setup failures exit with code 125.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import stat
import sys
from typing import Any

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
SYS_MOUNT_SETATTR = 442  # the same number on every architecture Linux added it to
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SETUP_FAILED = 125
SCRATCH_DIRS = ("/tmp", "/dev/shm", "/run", "/var/tmp")
WORK, DATA = "/tmp/work", "/tmp/data"


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    enc = [None if v is None else v.encode() for v in (source, target, fstype, data)]
    _check(_libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {target}")


def _setattr(path: str, *, set_: int = 0, clear: int = 0, recursive: bool = True) -> None:
    attr = _MountAttr(set_, clear, 0, 0)
    flags = AT_RECURSIVE if recursive else 0
    res = _libc.syscall(
        SYS_MOUNT_SETATTR, AT_FDCWD, path.encode(), flags, ctypes.byref(attr), ctypes.sizeof(attr)
    )
    _check(res, f"mount_setattr {path} (needs Linux >= 5.12)")


def _can_traverse(st: os.stat_result, uid: int, gid: int) -> bool:
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _hidden_ancestor(path: str, uid: int, gid: int) -> str | None:
    """The topmost directory above ``path`` that ``uid`` cannot pass through, if any."""
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        ancestor = "/" + "/".join(parts[:i])
        if not _can_traverse(os.stat(ancestor), uid, gid):
            return ancestor
    return None


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _setup_filesystem(spec: dict[str, Any]) -> list[str]:
    """Steps 2-4 of the module docstring; returns notes for the report."""
    uid, gid = spec["uid"], spec["gid"]
    notes: list[str] = []
    expose = sorted({os.path.realpath(p) for p in spec["expose"] if os.path.isdir(p)})
    covers = [d for d in SCRATCH_DIRS if os.path.isdir(d) and not os.path.islink(d)]
    for p in expose:
        hidden = _hidden_ancestor(p, uid, gid)
        if hidden and hidden != "/" and not any(_under(hidden, c) for c in covers):
            covers.append(hidden)
    fds = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in [*expose, spec["work"], spec["data"]]}

    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _setattr("/", set_=MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)
    size = int(spec["tmpfs_bytes"])
    for d in covers:
        scratch = d in SCRATCH_DIRS
        opts = f"size={size},mode=1777" if scratch else "size=1m,mode=0755"
        _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, opts)
        if not scratch:
            notes.append(f"hid {d}")

    def bind(fd: int, target: str) -> None:
        os.makedirs(target, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)

    for p in expose:
        if any(_under(p, c) for c in covers):
            bind(fds[p], p)
            _setattr(p, set_=MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID)
    bind(fds[spec["work"]], WORK)
    _setattr(
        WORK, set_=MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, clear=MOUNT_ATTR_RDONLY, recursive=False
    )
    bind(fds[spec["data"]], DATA)
    _setattr(DATA, set_=MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)
    for fd in fds.values():
        os.close(fd)
    _check(_libc.sethostname(b"arena-sandbox", 13), "sethostname")
    return notes


def _set_limits(limits: dict[str, int | None], *, own_uid: bool) -> None:
    """Apply the rlimits; the process cap only with a uid of our own (it counts per user)."""
    table = {
        "cpu_s": resource.RLIMIT_CPU,
        "memory_bytes": resource.RLIMIT_AS,
        "file_bytes": resource.RLIMIT_FSIZE,
        "open_files": resource.RLIMIT_NOFILE,
        "processes": resource.RLIMIT_NPROC,
    }
    for key, which in table.items():
        value = limits.get(key)
        if value is not None and (own_uid or key != "processes"):
            # CPU: SIGXCPU at the soft limit, SIGKILL a little later at the hard one.
            hard = value + 5 if which == resource.RLIMIT_CPU else value
            resource.setrlimit(which, (value, hard))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _report(fd: int, report: dict[str, Any]) -> None:
    os.write(fd, (json.dumps(report) + "\n").encode())
    os.close(fd)


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code  # killed by signal n -> 128 + n, as shells do


def _exec(spec: dict[str, Any], report: dict[str, Any], *, drop: bool) -> None:
    """Limits, privileges, report, then exec the command (never returns)."""
    fd = spec["report_fd"]
    try:
        _set_limits(spec["limits"], own_uid=drop)
        if drop:
            os.setgroups([])
            os.setresgid(spec["gid"], spec["gid"], spec["gid"])
            os.setresuid(spec["uid"], spec["uid"], spec["uid"])
            _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        paths = (
            {"work": WORK, "data": DATA} if drop else {"work": spec["work"], "data": spec["data"]}
        )
        os.chdir(paths["work"])
        argv = [a.format(**paths) for a in spec["argv"]]
        env = {k: v.format(**paths) for k, v in spec["env"].items()}
    except OSError as err:
        _report(fd, {**report, "isolation": "failed", "reason": f"dropping privileges: {err}"})
        os._exit(SETUP_FAILED)
    _report(fd, report)
    os.closerange(3, 65536)
    try:
        os.execve(argv[0], argv, env)
    except OSError as err:
        os.write(2, f"arena sandbox: cannot start {argv[0]}: {err}\n".encode())
        os._exit(SETUP_FAILED)


def _init(spec: dict[str, Any], notes: list[str]) -> None:
    """PID 1 of the sandbox: start the command, reap every process, exit with its status."""
    child = os.fork()
    if child == 0:
        _exec(spec, {"isolation": "full", "notes": notes}, drop=True)
    os.close(spec["report_fd"])
    while True:
        pid, status = os.wait()
        if pid == child:
            os._exit(_exit_code(status))


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    fd = spec["report_fd"]
    if not spec["isolate"]:
        _exec(spec, {"isolation": "none", "reason": "isolation not requested"}, drop=False)
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    try:
        _check(_libc.unshare(flags), "unshare")
    except OSError as err:
        reason = f"cannot create namespaces ({err.strerror}); the worker must run as root"
        if spec["require_isolation"]:
            _report(fd, {"isolation": "failed", "reason": reason})
            return SETUP_FAILED
        _exec(spec, {"isolation": "none", "reason": reason}, drop=False)
    pid = os.fork()  # the child is PID 1 of the new PID namespace
    if pid == 0:
        try:
            _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
            notes = _setup_filesystem(spec)
        except OSError as err:
            _report(fd, {"isolation": "failed", "reason": str(err)})
            os._exit(SETUP_FAILED)
        _init(spec, notes)
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return _exit_code(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
