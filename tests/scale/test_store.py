from __future__ import annotations

import json
from pathlib import Path

import pytest

from unmask.errors import UnmaskError
from unmask.scale import ResultStore, store_path_for


def test_records_survive_reopening_and_later_lines_win(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    with ResultStore(path) as store:
        store.put("job", "a", {"v": 1})
        store.put("job", "b", {"v": "é"})
        store.put("job", "a", {"v": 3})
        store.put("other job", "a", {"v": 4})
    with ResultStore(path) as store:
        assert store.get("job", "a") == {"v": 3}
        assert store.get("job", "b") == {"v": "é"}
        assert store.get("other job", "a") == {"v": 4}
        assert store.get("job", "c") is None
        assert sorted(store.keys("job")) == ["a", "b"] and len(store) == 3
        assert not store.repaired and store.skipped_lines == 0
    assert len(path.read_text(encoding="utf-8").splitlines()) == 5  # header + 4 appends


def test_torn_last_line_is_dropped_and_the_file_repaired(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    with ResultStore(path) as store:
        store.put("job", "a", {"v": 1})
        store.put("job", "b", {"v": 2})
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 7])  # a crash in the middle of writing "b"
    with ResultStore(path) as store:
        assert store.repaired
        assert store.get("job", "a") == {"v": 1} and store.get("job", "b") is None
        store.put("job", "b", {"v": 22})
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x).get("key") for x in lines] == [None, "a", "b"]
    with ResultStore(path) as store:
        assert not store.repaired and store.get("job", "b") == {"v": 22}


def test_a_complete_but_invalid_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    with ResultStore(path) as store:
        store.put("job", "a", {"v": 1})
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"job": "job"}\n' + "\0\0\0\n")
    with ResultStore(path) as store:
        assert store.skipped_lines == 2 and store.get("job", "a") == {"v": 1}


def test_fresh_forgets_everything(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    with ResultStore(path) as store:
        store.put("job", "a", {"v": 1})
    with ResultStore(path, fresh=True) as store:
        assert store.get("job", "a") is None and len(store) == 0
    assert len(path.read_text().splitlines()) == 1


def test_refuses_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "preds.csv"
    path.write_text("filename,label\na.mp4,0.5\n")
    with pytest.raises(UnmaskError, match="not an unmask results store"):
        ResultStore(path)
    assert path.read_text() == "filename,label\na.mp4,0.5\n"


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    with ResultStore(path), pytest.raises(UnmaskError, match="another unmask run"):
        ResultStore(path)
    with ResultStore(path):  # the lock went with the first store
        pass


def test_in_memory_store_and_closed_store(tmp_path: Path) -> None:
    store = ResultStore(None)
    store.put("job", "a", {"v": 1})
    assert store.get("job", "a") == {"v": 1} and ("job", "a") in store
    with ResultStore(tmp_path / "s.jsonl") as closed:
        pass
    with pytest.raises(ValueError, match="closed"):
        closed.get("job", "a")


def test_store_lives_beside_the_output(tmp_path: Path) -> None:
    assert store_path_for(tmp_path / "preds.csv") == tmp_path / "preds.csv.unmask-store.jsonl"


def test_unwritable_location_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UnmaskError, match="cannot write output"):
        ResultStore(blocker / "s.jsonl")
