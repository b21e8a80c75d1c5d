"""`unmask evaluate --detector` with the real scanner on the bundled sample media."""

from __future__ import annotations

import json

from tests._media import SAMPLES
from unmask.cli import main


def test_evaluate_scans_the_samples_with_the_default_detector(tmp_path, capsys):
    labels = tmp_path / "samples.csv"
    labels.write_text(
        "path,label,method\n"
        "astronaut_pan.mp4,0,\n"
        "astronaut_swapped.mp4,1,blend\n"
        "astronaut.jpg,0,\n"
        "coffee.jpg,0,\n"
    )
    code = main(
        [
            "evaluate", "--labels", str(labels), "--root", str(SAMPLES),
            "--detector", "default", "--frames", "8", "--n-boot", "50",
            "--json", str(tmp_path / "s.json"), "--report", str(tmp_path / "r.html"),
            "--save-predictions", str(tmp_path / "preds.csv"),
        ]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads((tmp_path / "s.json").read_text())
    assert (summary["n"], summary["n_fake"]) == (4, 1)
    assert summary["scan"]["statuses"] == {"ok": 3, "no_face": 1}
    assert summary["scan"]["errors"] == [{"file": "coffee.jpg", "status": "no_face", "error": None}]
    frame = summary["frame_level"]
    assert frame["level"] == "frame"
    assert frame["video_rule"] == "scanner"
    assert frame["n_videos"] == 3  # the three files with a face
    assert frame["n"] >= 3
    assert 0.0 <= summary["log_loss"] < 34.6
    assert summary["inputs"]["detector"] == {"name": "default", "frames": 8}
    preds = (tmp_path / "preds.csv").read_text().splitlines()
    assert preds[0] == "filename,label"
    assert preds[4] == "coffee.jpg,0.500000"
    assert "video level: n=4" in out
    assert (tmp_path / "r.html").read_text().count("data:image/png;base64,") >= 4
