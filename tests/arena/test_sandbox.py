"""Code submissions: archive checks and the sandbox (namespaces, limits, no network, read-only data)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from unmask.arena.sandbox import (
    JAIL,
    SETUP_FAILED,
    SandboxLimits,
    _runtime_paths,
    check_archive,
    jail_spec,
    probe_isolation,
    run_entry_point,
    unpack_archive,
    unreadable_data,
)
from unmask.errors import InvalidSubmissionError

GiB = 1 << 30


def zip_bytes(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def tar_bytes(files: dict[str, str], *, links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)
    return buf.getvalue()


def test_archive_with_entry_point_at_top_or_in_one_folder() -> None:
    assert (
        str(check_archive(zip_bytes({"predict.py": "", "lib/x.py": ""}), max_unpacked_bytes=GiB))
        == "."
    )
    assert (
        str(
            check_archive(
                tar_bytes({"team/predict.py": "", "team/w.onnx": ""}), max_unpacked_bytes=GiB
            )
        )
        == "team"
    )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (zip_bytes({"main.py": ""}), "no predict.py"),
        (zip_bytes({"a/predict.py": "", "b/x.py": ""}), "no predict.py"),
        (zip_bytes({"predict.py": "", "../evil.py": ""}), "without '..'"),
        (tar_bytes({"predict.py": "", "/etc/evil": ""}), "paths must be relative"),
        (tar_bytes({"predict.py": ""}, links={"data": "/etc"}), "only files and folders"),
        (zip_bytes({"predict.py": "x" * 2000}), "unpacks to 2000 bytes"),
        (b"this is not an archive", "zip or tar archive"),
    ],
)
def test_bad_archives_are_refused(data: bytes, problem: str) -> None:
    with pytest.raises(InvalidSubmissionError, match=problem):
        check_archive(data, max_unpacked_bytes=1000)


def test_unpack_returns_the_entry_point_folder(tmp_path: Path) -> None:
    root = unpack_archive(
        tar_bytes({"team/predict.py": "print(1)", "team/m/w.txt": "w"}),
        tmp_path,
        max_unpacked_bytes=GiB,
    )
    assert root == tmp_path / "team" and (root / "m" / "w.txt").read_text() == "w"


def test_unreadable_data_is_found(tmp_path: Path) -> None:
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "a.mp4").write_bytes(b"x")
    (tmp_path / "v" / "a.mp4").chmod(0o600)
    (tmp_path / "v").chmod(0o755)
    assert unreadable_data(tmp_path / "v") == tmp_path / "v" / "a.mp4"
    (tmp_path / "v" / "a.mp4").chmod(0o644)
    assert unreadable_data(tmp_path / "v") is None


# --- running code --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def isolation() -> None:
    ok, why = probe_isolation()
    if not ok:
        pytest.skip(f"full isolation unavailable here: {why}")


def _code(tmp_path: Path, source: str) -> Path:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "predict.py").write_text(textwrap.dedent(source))
    return code


def _data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "public").mkdir(parents=True)
    (data / "public" / "a.mp4").write_bytes(b"video")
    (data / "public" / "a.mp4").chmod(0o666)  # even world-writable, it must stay read-only
    return data


def _run(tmp_path: Path, source: str, **limits: object) -> object:
    return run_entry_point(
        _code(tmp_path, source), _data(tmp_path), limits=SandboxLimits(**{"wall_s": 30, **limits}),  # type: ignore[arg-type]
        log_path=tmp_path / "log.txt", max_output_bytes=10_000,
    )  # fmt: skip


PROBES = """
    import json, os, socket, sys
    out = {"uid": os.getuid(), "pid": os.getpid(), "cwd": os.getcwd(), "argv": sys.argv[1:]}
    def attempt(fn):
        try:
            fn(); return "ok"
        except OSError as e:
            return e.strerror
    out["write_data"] = attempt(lambda: open(os.path.join(sys.argv[1], "public/a.mp4"), "ab").write(b"x"))
    out["write_system"] = attempt(lambda: open(sys.executable + ".evil", "wb").write(b"x"))
    out["tcp"] = attempt(lambda: socket.create_connection(("127.0.0.1", 5432), timeout=2))
    out["dns"] = attempt(lambda: socket.getaddrinfo("example.org", 80))
    out["processes"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    out["tmp"] = sorted(os.listdir("/tmp"))
    out["data"] = sorted(os.listdir(os.path.join(sys.argv[1], "public")))
    print(json.dumps(out))
    open(sys.argv[2], "w").write("filename,label\\npublic/a.mp4,0.5\\n")
"""


def _under_tmp(path: str) -> bool:
    return path.startswith("/tmp/") and path != "/tmp/"


def test_isolated_run(tmp_path: Path, isolation: None) -> None:
    result = _run(tmp_path, PROBES)
    assert result.exit_code == 0 and result.isolation == "full", result.log_tail  # type: ignore[attr-defined]
    seen = json.loads(result.log_tail.strip().splitlines()[-1])  # type: ignore[attr-defined]
    assert seen["uid"] == 65534 and seen["cwd"] == "/tmp/work"
    assert seen["argv"] == ["/tmp/data", "/tmp/work/predictions.csv"]
    assert seen["write_data"] == "Read-only file system"
    assert seen["write_system"] in ("Read-only file system", "Permission denied")
    assert seen["tcp"] == "Network is unreachable" and seen["dns"] != "ok"
    assert seen["processes"] == [1, 2]  # its own PID namespace: init and itself
    # /tmp is an empty tmpfs; only the job's folders and, when the checkout or its venv
    # lives under /tmp, the runtime it needs (bound read-only at its own path) show there
    runtime = {Path(p).relative_to("/tmp").parts[0] for p in _runtime_paths() if _under_tmp(p)}
    assert set(seen["tmp"]) == {"data", "work", *runtime} and seen["data"] == ["a.mp4"]
    assert result.output == b"filename,label\npublic/a.mp4,0.5\n"  # type: ignore[attr-defined]
    assert (tmp_path / "data" / "public" / "a.mp4").read_bytes() == b"video"


def _alive(marker: str) -> bool:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


def test_time_limit_kills_the_whole_tree(tmp_path: Path, isolation: None) -> None:
    marker = f"arena-test-{os.getpid()}-{time.monotonic_ns()}"
    source = f"""
        import subprocess, sys, time, os
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "{marker}"], start_new_session=True)
        print("started", flush=True)
        time.sleep(120)
    """
    result = _run(tmp_path, source, wall_s=2)
    assert result.timed_out and result.exit_code is None and "started" in result.log_tail  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10  # the kernel tears the namespace down asynchronously
    while _alive(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(marker)


def test_crash_keeps_the_log(tmp_path: Path, isolation: None) -> None:
    result = _run(tmp_path, "import sys\nprint('loading model')\nraise SystemExit(3)\n")
    assert result.exit_code == 3 and "loading model" in result.log_tail  # type: ignore[attr-defined]


def test_memory_limit(tmp_path: Path, isolation: None) -> None:
    result = _run(tmp_path, "x = bytearray(1 << 30)\n", memory_bytes=256 << 20)
    assert result.exit_code != 0 and "MemoryError" in result.log_tail  # type: ignore[attr-defined]


def test_cpu_limit(tmp_path: Path, isolation: None) -> None:
    result = _run(tmp_path, "while True:\n    pass\n", cpu_s=1, wall_s=30)
    assert not result.timed_out and result.exit_code in (128 + 24, 128 + 9)  # type: ignore[attr-defined]  # SIGXCPU/SIGKILL


def test_a_planted_link_is_not_followed(tmp_path: Path, isolation: None) -> None:
    source = "import os, sys\nos.symlink('/etc/passwd', sys.argv[2])\n"
    result = _run(tmp_path, source)
    assert result.exit_code == 0 and result.output is None  # type: ignore[attr-defined]
    assert "plain file" in result.output_problem  # type: ignore[attr-defined]


def _jail_without_privileges(
    tmp_path: Path, *, require: bool
) -> tuple[int, dict[str, object], str]:
    """Run the launcher without CAP_SYS_ADMIN (what a non-root worker gets)."""
    if shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to take the capability away")
    code, data = (
        _code(tmp_path, "import sys\nopen(sys.argv[2], 'w').write('ok')\n"),
        _data(tmp_path),
    )
    read_end, write_end = os.pipe()
    argv = [sys.executable, "predict.py", "{data}", "{work}/predictions.csv"]
    spec = jail_spec(work=code, data=data, argv=argv, limits=SandboxLimits(wall_s=30), isolate=True,
                     require_isolation=require, report_fd=write_end)  # fmt: skip
    proc = subprocess.run(
        ["setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin", sys.executable, str(JAIL), json.dumps(spec)],
        pass_fds=(write_end,), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    os.close(write_end)
    report = json.loads(os.read(read_end, 65536).decode().splitlines()[0])
    os.close(read_end)
    return (
        proc.returncode,
        report,
        (code / "predictions.csv").read_text() if (code / "predictions.csv").exists() else "",
    )


def test_strict_mode_refuses_to_run_without_isolation(tmp_path: Path) -> None:
    code, report, output = _jail_without_privileges(tmp_path, require=True)
    assert code == SETUP_FAILED and report["isolation"] == "failed"
    assert "must run as root" in str(report["reason"]) and output == ""


def test_permissive_mode_runs_without_isolation_and_says_so(tmp_path: Path) -> None:
    code, report, output = _jail_without_privileges(tmp_path, require=False)
    assert code == 0 and report["isolation"] == "none" and output == "ok"
    assert "cannot create namespaces" in str(report["reason"])
