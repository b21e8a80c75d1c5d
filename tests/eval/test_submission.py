"""Label sets and DFDC submissions: every problem reported with its line number."""

from __future__ import annotations

import pytest

from unmask.errors import DatasetError, InvalidSubmissionError
from unmask.eval.submission import (
    parse_predictions,
    read_label_splits,
    read_label_table,
    read_labels,
    validate_submission,
)

LABELS = {"a.mp4": 1, "b.mp4": 0, "c.mp4": 1}


def problems_of(data: bytes, labels=LABELS, **kw) -> list[str]:
    with pytest.raises(InvalidSubmissionError) as info:
        validate_submission(data, labels, **kw)
    return info.value.problems


def test_valid_submission_any_order_crlf_bom_and_header_case():
    data = "\ufeffFileName , LABEL\r\nc.mp4,1\r\na.mp4, 0.25\r\nb.mp4,0\r\n\r\n".encode()
    assert validate_submission(data, LABELS) == {"c.mp4": 1.0, "a.mp4": 0.25, "b.mp4": 0.0}


def test_quoted_filenames_with_commas():
    labels = {"x,y.mp4": 0, "z.mp4": 1}
    data = b'filename,label\n"x,y.mp4",0.1\nz.mp4,1e-3\n'
    assert validate_submission(data, labels) == {"x,y.mp4": 0.1, "z.mp4": 0.001}


def test_duplicates_name_both_lines():
    data = b"filename,label\na.mp4,0.5\nb.mp4,0.5\nc.mp4,0.5\na.mp4,0.7\n"
    assert problems_of(data) == ["line 5: duplicate filename 'a.mp4' (first on line 2)"]


def test_missing_and_unknown():
    data = b"filename,label\na.mp4,0.5\nd.mp4,0.5\n"
    assert problems_of(data) == [
        "line 3: unknown filename 'd.mp4'",
        "missing 2 of 3 labelled filenames, e.g. 'b.mp4', 'c.mp4'",
    ]


def test_unknown_filename_hints_at_the_label_set_form():
    labels = {"public/a.mp4": 1}
    (first, _) = problems_of(b"filename,label\na.mp4,0.5\n", labels)
    assert first == "line 2: unknown filename 'a.mp4' (the label set has 'public/a.mp4')"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "label must be a number in [0, 1] (P(FAKE)); got 'abc'"),
        ("", "label must be a number in [0, 1] (P(FAKE)); got ''"),
        ("nan", "label must be a finite probability in [0, 1]; got 'nan'"),
        ("-inf", "label must be a finite probability in [0, 1]; got '-inf'"),
        ("Infinity", "label must be a finite probability in [0, 1]; got 'Infinity'"),
        ("1.5", "label must be in [0, 1] (P(FAKE)); got 1.5"),
        ("-0.1", "label must be in [0, 1] (P(FAKE)); got -0.1"),
        ("1_0", "label must be a number in [0, 1] (P(FAKE)); got '1_0'"),
    ],
)
def test_bad_values(value, message):
    data = f"filename,label\na.mp4,0.5\nb.mp4,{value}\nc.mp4,0.5\n".encode()
    assert problems_of(data) == [
        f"line 3: {message}",
        "missing 1 of 3 labelled filenames, e.g. 'b.mp4'",
    ]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty file; expected the header 'filename,label' and one row per file"),
        (b"\n\n", "empty file; expected the header 'filename,label' and one row per file"),
        (b"filename,label\n", "no rows after the header; expected one row per labelled file"),
        (
            b"file,prob\na.mp4,0.5\n",
            "line 1: expected the header 'filename,label'; got 'file,prob'",
        ),
        (b"a.mp4,0.5\n", "line 1: expected the header 'filename,label'; got 'a.mp4,0.5'"),
        (
            b"filename,label,split\n",
            "line 1: expected the header 'filename,label'; got 'filename,label,split'",
        ),
    ],
)
def test_header_and_empty(data, expected):
    assert problems_of(data) == [expected]


def test_field_count_and_empty_filename():
    data = b"filename,label\na.mp4,0.5,x\n,0.5\nb.mp4\nc.mp4,0.1\n"
    assert problems_of(data)[:3] == [
        "line 2: expected 2 fields (filename,label); got 3",
        "line 3: empty filename",
        "line 4: expected 2 fields (filename,label); got 1",
    ]


def test_encoding_problem_names_the_line():
    data = b"filename,label\na.mp4,0.5\nb\xff.mp4,0.5\n"
    assert problems_of(data) == [
        "line 3: the file is not UTF-8 text (byte 0xff); save it as UTF-8 CSV"
    ]
    latin1 = "filename,label\nbé.mp4,0.5\n".encode("latin-1")
    assert "not UTF-8" in problems_of(latin1)[0]


def test_size_limit():
    data = b"filename,label\n" + b"a.mp4,0.5\n" * 100
    assert problems_of(data, max_bytes=100) == [
        f"the file is {len(data):,} bytes; the limit is 100 bytes"
    ]


def test_error_message_is_one_line_with_first_problems():
    data = b"filename,label\n" + b"".join(b"x%d.mp4,0.5\n" % i for i in range(20))
    with pytest.raises(InvalidSubmissionError) as info:
        validate_submission(data, LABELS)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith("invalid submission: line 2: unknown filename 'x0.mp4'")
    assert "(+16 more)" in text  # 20 unknown + 1 missing summary, 5 shown


def test_ten_thousand_rows():
    labels = {f"v{i:05d}.mp4": i % 2 for i in range(10_000)}
    data = (
        "filename,label\n" + "".join(f"v{i:05d}.mp4,{(i % 7) / 7:.4f}\n" for i in range(10_000))
    ).encode()
    out = validate_submission(data, labels)
    assert len(out) == 10_000
    assert out["v00006.mp4"] == pytest.approx(6 / 7, abs=1e-4)
    broken = data.replace(b"v09999.mp4,", b"v00001.mp4,")
    assert problems_of(broken, labels) == [
        "line 10001: duplicate filename 'v00001.mp4' (first on line 3)",
        "missing 1 of 10000 labelled filenames, e.g. 'v09999.mp4'",
    ]


def test_frame_level_predictions_parse_only_when_allowed():
    data = b"filename,frame,label\na.mp4,0,0.2\na.mp4,8,0.4\na.mp4,8,0.5\nb.mp4,x,0.1\n"
    parsed = parse_predictions(data, allow_frames=True)
    assert [r[1:] for r in parsed.rows] == [("a.mp4", 0.2), ("a.mp4", 0.4)]
    assert parsed.frames == [0, 8]
    assert parsed.problems == [
        "line 4: duplicate filename 'a.mp4' frame 8 (first on line 3)",
        "line 5: frame must be a non-negative integer; got 'x'",
    ]
    assert "expected the header 'filename,label'" in parse_predictions(data).problems[0]


# ----------------------------------------------------------------------- label sets


def test_read_labels_dfdc_and_forge(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_bytes(b"filename,label\r\na.mp4,1\r\nb.mp4,0\r\nc.mp4,FAKE\r\n")
    assert read_labels(path) == {"a.mp4": 1, "b.mp4": 0, "c.mp4": 1}
    assert read_labels(str(path)) == read_labels(path.read_bytes())
    assert read_label_splits(path) is None
    forge = b"\xef\xbb\xbffilename,label,split\npublic/a.mp4,1,public\nprivate/b.mp4,0,private\n"
    table = read_label_table(forge)
    assert table.labels == {"public/a.mp4": 1, "private/b.mp4": 0}
    assert table.splits == {"public/a.mp4": "public", "private/b.mp4": "private"}


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty file"),
        (
            b"name,y\na,1\n",
            "line 1: expected the header 'filename,label' or 'filename,label,split'; got 'name,y'",
        ),
        (b"filename,label\na,1\na,0\n", "line 3: duplicate filename 'a' \\(first on line 2\\)"),
        (
            b"filename,label\na,0.7\n",
            "line 2: label must be 1 \\(FAKE\\) or 0 \\(REAL\\); got '0.7'",
        ),
        (b"filename,label,split\na,1,\n", "line 2: empty split for 'a'"),
        (b"filename,label\n", "no rows after the header"),
        (b"filename,label\n\xff,1\n", "line 2: the labels file is not UTF-8"),
    ],
)
def test_read_labels_problems(data, match):
    with pytest.raises(DatasetError, match=match):
        read_labels(data)


def test_read_labels_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="not found; expected a CSV filename,label"):
        read_labels(tmp_path / "nope.csv")
    with pytest.raises(DatasetError, match="a folder"):
        read_labels(tmp_path)


def test_ten_thousand_unknown_rows_get_hints():
    labels = {f"public/v{i:05d}.mp4": i % 2 for i in range(10_000)}
    data = ("filename,label\n" + "".join(f"v{i:05d}.mp4,0.5\n" for i in range(10_000))).encode()
    problems = problems_of(data, labels)
    assert len(problems) == 10_001
    assert (
        problems[0]
        == "line 2: unknown filename 'v00000.mp4' (the label set has 'public/v00000.mp4')"
    )
