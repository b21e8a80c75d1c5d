"""Code submissions: unpack an archive safely and run its entry point in a sandbox.

The archive (zip or tar, optionally gzip/bz2/xz) holds ``predict.py`` at its top level (or
in its single top folder). It is run as::

    python predict.py VIDEOS_DIR OUTPUT_CSV

with the worker's own Python (numpy, onnxruntime and unmask are importable), inside the
folder it was unpacked in, and must write a DFDC CSV (``filename,label``) to OUTPUT_CSV.

Limits: a wall-clock limit (the challenge's), rlimits on CPU time, address space, file size,
open files and processes; no network; read-only test data; no privileges. See ``_jail.py``
for how. Isolation needs a Linux worker running as root (in a container or VM, as DFDC's
kernels did). Where it is not available, ``sandbox="strict"`` (the default) refuses to run
code and the submission ends with status ``error`` saying why; ``sandbox="permissive"``
runs it with the rlimits and the time limit only, and the submission's log says so.

    >>> result = run_entry_point(code_dir, videos_dir, limits=SandboxLimits(wall_s=60))  # doctest: +SKIP
    >>> result.exit_code, result.isolation                                                # doctest: +SKIP
    (0, 'full')
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import select
import shutil
import signal
import site
import stat
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from unmask.errors import InvalidSubmissionError

log = logging.getLogger("unmask.arena")

ENTRY_POINT = "predict.py"
OUTPUT_NAME = "predictions.csv"
JAIL = Path(__file__).with_name("_jail.py")
SETUP_FAILED = 125  # _jail.py's exit code when it could not set the sandbox up
NOBODY = 65534
MAX_FILES = 10_000
LOG_EXCERPT_CHARS = 4000


@dataclass(frozen=True)
class SandboxLimits:
    """What one run may use. ``cpu_s`` defaults to the wall limit times the CPU count."""

    wall_s: float
    cpu_s: int | None = None
    memory_bytes: int = 4 << 30
    file_bytes: int = 1 << 30
    open_files: int = 1024
    processes: int = 512
    tmpfs_bytes: int = 512 << 20

    def rlimits(self) -> dict[str, int | None]:
        cpu = self.cpu_s or int(self.wall_s * (os.cpu_count() or 1)) + 1
        return {
            "cpu_s": cpu,
            "memory_bytes": self.memory_bytes,
            "file_bytes": self.file_bytes,
            "open_files": self.open_files,
            "processes": self.processes,
        }


@dataclass(frozen=True)
class RunResult:
    exit_code: int | None  # None when killed at the time limit
    timed_out: bool
    wall_s: float
    isolation: str  # "full" | "none" | "failed"
    reason: str = ""  # why isolation is not full
    log_tail: str = ""
    output: bytes | None = None  # the CSV written, if any
    output_problem: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def setup_failed(self) -> bool:
        return self.isolation == "failed"


# --- archives -----------------------------------------------------------------------------


def _safe_member(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or name.startswith(("/", "\\")) or "\\" in name:
        raise InvalidSubmissionError(
            [f"archive member {name!r}: paths must be relative, without '..'"]
        )
    return path


def _listing(data: bytes) -> tuple[str, list[tuple[PurePosixPath, int, bool]]]:
    """(kind, [(path, size, is_dir)]) of a zip or tar archive; rejects links and devices."""
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            out = []
            for info in zf.infolist():
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise InvalidSubmissionError(
                        [f"archive member {info.filename!r}: links are not allowed"]
                    )
                out.append((_safe_member(info.filename), info.file_size, info.is_dir()))
            return "zip", out
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
            out = []
            for member in tf.getmembers():
                if not (member.isfile() or member.isdir()):
                    raise InvalidSubmissionError(
                        [f"archive member {member.name!r}: only files and folders are allowed"]
                    )
                out.append((_safe_member(member.name), member.size, member.isdir()))
            return "tar", out
    except tarfile.TarError as err:
        raise InvalidSubmissionError(
            [
                f"line 1: expected a zip or tar archive holding {ENTRY_POINT}; could not read it ({err})"
            ]
        ) from None


def check_archive(data: bytes, *, max_unpacked_bytes: int) -> PurePosixPath:
    """Validate a code archive without unpacking it; returns the folder holding the entry point.

    >>> check_archive(zip_bytes, max_unpacked_bytes=1 << 30)   # doctest: +SKIP
    PurePosixPath('.')
    """
    _, members = _listing(data)
    if len(members) > MAX_FILES:
        raise InvalidSubmissionError([f"archive has {len(members)} members; at most {MAX_FILES}"])
    total = sum(size for _, size, _ in members)
    if total > max_unpacked_bytes:
        raise InvalidSubmissionError(
            [f"archive unpacks to {total} bytes; at most {max_unpacked_bytes}"]
        )
    files = {p for p, _, is_dir in members if not is_dir}
    if PurePosixPath(ENTRY_POINT) in files:
        return PurePosixPath(".")
    tops = {p.parts[0] for p, _, _ in members if p.parts}
    if len(tops) == 1 and PurePosixPath(next(iter(tops)), ENTRY_POINT) in files:
        return PurePosixPath(next(iter(tops)))
    raise InvalidSubmissionError(
        [f"archive has no {ENTRY_POINT} at its top level (nor in a single top folder)"]
    )


def unpack_archive(data: bytes, dest: Path, *, max_unpacked_bytes: int) -> Path:
    """Unpack into ``dest`` and return the folder holding ``predict.py``."""
    root = check_archive(data, max_unpacked_bytes=max_unpacked_bytes)
    kind, _ = _listing(data)
    if kind == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            zf.extractall(dest)
    else:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
            tf.extractall(dest, filter="data")
    return dest / root


# --- running ------------------------------------------------------------------------------


def _runtime_paths() -> list[str]:
    """What the child's Python needs to see: its install, the venv, site-packages, unmask."""
    import unmask

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.update(site.getsitepackages())
    paths.add(str(Path(sys.executable).parent))
    paths.add(str(Path(unmask.__file__).resolve().parents[1]))
    out = set()
    for p in paths:
        if os.path.isdir(p):
            out.add(p)
            out.add(os.path.realpath(p))
    return sorted(out)


def _readable_by(path: Path, uid: int, gid: int) -> bool:
    st = path.stat()
    want = (
        (stat.S_IRUSR, stat.S_IXUSR)
        if st.st_uid == uid
        else ((stat.S_IRGRP, stat.S_IXGRP) if st.st_gid == gid else (stat.S_IROTH, stat.S_IXOTH))
    )
    if path.is_dir():
        return bool(st.st_mode & want[0]) and bool(st.st_mode & want[1])
    return bool(st.st_mode & want[0])


def unreadable_data(videos_dir: Path, *, uid: int = NOBODY, gid: int = NOBODY) -> Path | None:
    """The first file or folder under ``videos_dir`` the sandbox user could not read."""
    for dirpath, dirnames, filenames in os.walk(videos_dir):
        for name in [".", *dirnames, *filenames]:
            path = Path(dirpath) / name
            if not _readable_by(path, uid, gid):
                return path
    return None


def _read_output(path: Path, *, max_bytes: int) -> tuple[bytes | None, str]:
    """The CSV the code wrote, read without following links it may have planted."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, f"the entry point wrote no {OUTPUT_NAME}"
    except OSError as err:
        return None, f"{OUTPUT_NAME} cannot be read ({err.strerror}); it must be a plain file"
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            return None, f"{OUTPUT_NAME} must be a plain file"
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        return None, f"{OUTPUT_NAME} is over {max_bytes} bytes"
    return data, ""


def _tail(path: Path, chars: int = LOG_EXCERPT_CHARS) -> str:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - chars * 4))
        text = f.read().decode("utf-8", errors="replace")
    return text[-chars:]


def jail_spec(
    *,
    work: Path,
    data: Path,
    argv: list[str],
    limits: SandboxLimits,
    isolate: bool,
    require_isolation: bool,
    report_fd: int,
    uid: int = NOBODY,
    gid: int = NOBODY,
) -> dict[str, Any]:
    """The JSON handed to ``_jail.py``. ``{work}`` and ``{data}`` in argv/env are filled in there."""
    bindir = str(Path(sys.executable).parent)
    return {
        "argv": argv,
        "work": str(work),
        "data": str(data),
        "isolate": isolate,
        "require_isolation": require_isolation,
        "uid": uid,
        "gid": gid,
        "expose": _runtime_paths(),
        "limits": limits.rlimits(),
        "tmpfs_bytes": limits.tmpfs_bytes,
        "report_fd": report_fd,
        "env": {
            "PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": "{work}",
            "TMPDIR": "/tmp" if isolate else "{work}",
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "NO_PROXY": "*",
        },
    }


def run_entry_point(
    code_dir: Path,
    videos_dir: Path,
    *,
    limits: SandboxLimits,
    log_path: Path,
    max_output_bytes: int,
    require_isolation: bool = True,
    isolate: bool = True,
) -> RunResult:
    """Run ``python predict.py VIDEOS OUTPUT`` from ``code_dir`` in the sandbox; never raises
    for what the code does (crash, time-out, bad output): that is in the result."""
    output = code_dir / OUTPUT_NAME
    output.unlink(missing_ok=True)
    if isolate and os.geteuid() == 0:  # the code runs as nobody and writes its output here
        for path in [code_dir, *code_dir.rglob("*")]:
            os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
    argv = [sys.executable, "-s", "-E", ENTRY_POINT, "{data}", "{work}/" + OUTPUT_NAME]
    read_end, write_end = os.pipe()
    spec = jail_spec(
        work=code_dir, data=videos_dir, argv=argv, limits=limits, isolate=isolate,
        require_isolation=require_isolation, report_fd=write_end,
    )  # fmt: skip
    start = time.monotonic()
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-s", "-E", str(JAIL), json.dumps(spec)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            pass_fds=(write_end,),
            start_new_session=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        )
    os.close(write_end)
    timed_out = False
    try:
        code: int | None = proc.wait(timeout=limits.wall_s)
    except subprocess.TimeoutExpired:
        timed_out, code = True, None
    with contextlib.suppress(ProcessLookupError):  # the whole group: strays too
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    wall = time.monotonic() - start
    report = _read_report(read_end)
    data, problem = (None, "")
    if not timed_out and code == 0:
        data, problem = _read_output(output, max_bytes=max_output_bytes)
    return RunResult(
        exit_code=code,
        timed_out=timed_out,
        wall_s=wall,
        isolation=report.get("isolation", "failed"),
        reason=report.get("reason", "" if report else "the sandbox did not start"),
        log_tail=_tail(log_path),
        output=data,
        output_problem=problem,
        notes=report.get("notes", []),
    )


def _read_report(fd: int, timeout_s: float = 5.0) -> dict[str, Any]:
    chunks = []
    deadline = time.monotonic() + timeout_s
    try:
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    line = b"".join(chunks).decode("utf-8", errors="replace").strip().splitlines()
    try:
        return dict(json.loads(line[0])) if line else {}
    except json.JSONDecodeError:
        return {}


def probe_isolation() -> tuple[bool, str]:
    """Whether this worker can run code fully isolated, and if not, why."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="arena-probe-") as tmp:
        work, data = Path(tmp, "work"), Path(tmp, "data")
        work.mkdir()
        data.mkdir()
        os.chmod(tmp, 0o755)
        (work / ENTRY_POINT).write_text(
            "import pathlib, sys\npathlib.Path(sys.argv[2]).write_text('filename,label\\n')\n"
        )
        result = run_entry_point(
            work, data, limits=SandboxLimits(wall_s=60), log_path=Path(tmp, "log.txt"),
            max_output_bytes=1024,
        )  # fmt: skip
    if result.isolation == "full" and result.exit_code == 0 and result.output is not None:
        return True, "full isolation (namespaces, read-only filesystem, no network, no privileges)"
    return False, result.reason or result.log_tail.strip()[-300:] or "the sandbox did not start"


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
