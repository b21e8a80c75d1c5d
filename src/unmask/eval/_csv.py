"""CSV plumbing shared by the label, prediction and dataset readers (UTF-8, line numbers)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

#: How a label may be written in a label set: 1/0 or FAKE/REAL (any case).
LABEL_WORDS = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "real": 0, "fake": 1}
#: How many problems an error message shows before "(+N more)".
SHOWN = 3


def quote(text: str, limit: int = 60) -> str:
    """``repr`` of user text, shortened: file names and values in messages stay one line."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def decode(data: bytes, what: str) -> tuple[str | None, str | None]:
    """UTF-8 text (a leading BOM removed) or a problem naming the line of the bad byte."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        byte = data[err.start : err.start + 1].hex()
        return None, f"line {line}: {what} is not UTF-8 text (byte 0x{byte}); save it as UTF-8 CSV"


def records(text: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` for each non-blank CSV record.

    A malformed record ends the iteration with one record whose only field starts with
    NUL and carries the csv module's message; callers report it with its line.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield reader.line_num, ["\0" + str(err)]
            return
        if fields and any(f.strip() for f in fields):
            yield reader.line_num, fields


def header(fields: list[str]) -> list[str]:
    """Column names as compared: case and surrounding spaces ignored."""
    return [f.strip().lower() for f in fields]


def join_problems(problems: list[str]) -> str:
    """The first problems on one line, with a count of the rest."""
    more = f" (+{len(problems) - SHOWN} more)" if len(problems) > SHOWN else ""
    return "; ".join(problems[:SHOWN]) + more
