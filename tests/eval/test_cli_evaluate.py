"""`unmask evaluate`: outputs, and one clear line with exit code 1 for each bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest

from tests.conftest import REPO, cli_env
from tests.eval.ffpp_tree import scores_for, write_csv
from unmask.cli import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_predictions_to_json_and_report(ffpp, tmp_path, capsys):
    root, rows = ffpp
    preds = write_csv(tmp_path / "preds.csv", scores_for(rows))
    code, out, err = run_cli(
        capsys,
        "evaluate",
        "--labels",
        str(root),
        "--predictions",
        str(preds),
        "--json",
        str(tmp_path / "s.json"),
        "--report",
        str(tmp_path / "r.html"),
        "--n-boot",
        "100",
    )
    assert (code, err) == (0, "")
    assert "video level: n=12 (6 FAKE, 6 REAL)" in out
    assert "Deepfakes" in out
    summary = json.loads((tmp_path / "s.json").read_text())
    for key in ("n", "log_loss", "auc", "ap", "eer", "accuracy", "ece"):
        assert key in summary
        for group in ("by_method", "by_perturbation", "by_dataset"):
            assert all(key in g for g in summary[group].values())
    assert summary["level"] == "video"
    assert summary["inputs"]["predictions"] == str(preds)
    assert (tmp_path / "r.html").read_text().count("data:image/png;base64,") == 4


def one_line_error(capsys, *argv: str) -> str:
    code, _out, err = run_cli(capsys, *argv)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("unmask: error: ")
    assert "Traceback" not in err
    return lines[0]


def test_bad_inputs_each_give_one_clear_line(ffpp, tmp_path, capsys):
    root, rows = ffpp
    scores = scores_for(rows)
    labels = ["evaluate", "--labels", str(root), "--predictions"]

    (tmp_path / "cols.csv").write_text("filename\nx.mp4\n")
    msg = one_line_error(capsys, *labels, str(tmp_path / "cols.csv"))
    assert (
        "cols.csv: line 1: expected the header 'filename,label' or 'filename,frame,label'; got 'filename'"
        in msg
    )

    (tmp_path / "prob.csv").write_text("file,prob\nx.mp4,0.5\n")
    assert "got 'file,prob'" in one_line_error(capsys, *labels, str(tmp_path / "prob.csv"))

    (tmp_path / "empty.csv").write_text("")
    msg = one_line_error(capsys, *labels, str(tmp_path / "empty.csv"))
    assert "empty.csv: empty file; expected the header 'filename,label'" in msg

    (tmp_path / "header_only.csv").write_text("filename,label\n")
    assert "no rows after the header" in one_line_error(
        capsys, *labels, str(tmp_path / "header_only.csv")
    )

    unknown = write_csv(tmp_path / "unknown.csv", dict(scores, **{"other/zzz.mp4": 0.5}))
    assert "line 14: unknown filename 'other/zzz.mp4'" in one_line_error(
        capsys, *labels, str(unknown)
    )

    missing = write_csv(tmp_path / "missing.csv", dict(list(scores.items())[:5]))
    msg = one_line_error(capsys, *labels, str(missing))
    assert "missing 7 of 12 labelled files" in msg
    assert "--allow-missing" in msg

    bad_value = write_csv(tmp_path / "value.csv", dict(scores, **{rows[0][0]: "high"}))  # type: ignore[dict-item]
    assert "label must be a number in [0, 1] (P(FAKE)); got 'high'" in one_line_error(
        capsys, *labels, str(bad_value)
    )

    msg = one_line_error(capsys, *labels, str(tmp_path / "nope.csv"))
    assert "predictions file" in msg
    assert "not found" in msg

    msg = one_line_error(
        capsys, "evaluate", "--labels", str(tmp_path / "nolabels"), "--predictions", str(unknown)
    )
    assert "nolabels' not found; expected a dataset folder or a labels file" in msg

    (tmp_path / "plain").mkdir()
    msg = one_line_error(
        capsys, "evaluate", "--labels", str(tmp_path / "plain"), "--predictions", str(unknown)
    )
    assert "no dataset layout recognised (tried forge:" in msg

    msg = one_line_error(
        capsys, "evaluate", "--labels", str(root), "--split", "test", "--predictions", str(unknown)
    )
    assert "no labelled file is in split test" in msg

    msg = one_line_error(
        capsys, *labels, str(unknown), "--save-predictions", str(tmp_path / "x.csv")
    )
    assert "--save-predictions needs --detector" in msg

    msg = one_line_error(capsys, *labels, str(unknown), "--prevalence", "2")
    assert "prevalence is out of range: 2.0" in msg


def test_subprocess_error_has_no_traceback(ffpp, tmp_path):
    root, _ = ffpp
    (tmp_path / "empty.csv").write_text("")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "unmask",
            "evaluate",
            "--labels",
            str(root),
            "--predictions",
            str(tmp_path / "empty.csv"),
        ],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "unmask: error: invalid submission: empty.csv: empty file; expected the header "
        "'filename,label' and one row per file"
    ]


class _Result:
    def __init__(self, p: float, status: str = "ok", error: str | None = None) -> None:
        self.p_fake, self.status, self.error = p, status, error
        face = types.SimpleNamespace(video_frame=0, p_fake=p)
        self.tracks = [types.SimpleNamespace(faces=[face])] if status == "ok" else []


class _Scanner:
    def __init__(self, detector: str = "default", frames: int = 32) -> None:
        self.detector, self.frames = detector, frames

    def scan(self, path: str) -> _Result:
        name = path.rsplit("/", 1)[-1]
        if name == "106.mp4":
            return _Result(0.5, "no_face")
        return _Result(0.9 if "_" in name else 0.2)


def test_detector_scans_then_scores(ffpp, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "unmask.scanner", types.SimpleNamespace(Scanner=_Scanner))
    root, _rows = ffpp
    code, _out, err = run_cli(
        capsys,
        "evaluate",
        "--labels",
        str(root),
        "--detector",
        "stub",
        "--frames",
        "4",
        "--json",
        str(tmp_path / "s.json"),
        "--save-predictions",
        str(tmp_path / "scored.csv"),
        "--n-boot",
        "0",
    )
    assert code == 0, err
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["inputs"]["detector"] == {"name": "stub", "frames": 4}
    assert summary["scan"]["statuses"] == {"ok": 11, "no_face": 1}
    assert summary["auc"] == 1.0
    assert summary["frame_level"]["n"] == 11
    saved = (tmp_path / "scored.csv").read_text().splitlines()
    assert saved[0] == "filename,label"
    assert len(saved) == 13
    # the saved predictions evaluate to the same numbers
    code, _, err = run_cli(
        capsys,
        "evaluate",
        "--labels",
        str(root),
        "--predictions",
        str(tmp_path / "scored.csv"),
        "--json",
        str(tmp_path / "again.json"),
        "--n-boot",
        "0",
    )
    assert code == 0, err
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["log_loss"] == pytest.approx(summary["log_loss"], abs=1e-6)


def test_help_opens_with_examples(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out
    assert "unmask evaluate --labels" in out


def test_cli_defaults_mirror_the_metrics_module():
    from unmask.cli import _evaluate
    from unmask.eval import metrics

    assert _evaluate.DFDC_EPS == metrics.DFDC_EPS
    assert set(_evaluate.VIDEO_RULES) == set(metrics.VIDEO_RULES)


def test_help_does_not_import_numpy():
    code = "import sys; from unmask.cli import build_parser; build_parser(); print('numpy' in sys.modules)"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), timeout=60
    )
    assert proc.stdout.strip() == "False", proc.stderr
