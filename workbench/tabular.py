"""Read CSV, TSV and JSONL files into numbered rows, for manifests and hypotheses alike.

A row that cannot be parsed does not stop the file: it comes back as a row carrying a
`__problem__` reason and its line number, so the caller can exclude and report it, and
a `__raw__` entry (the line's text for JSONL, its fields for CSV/TSV) from which a
caller may recover the row's key, to say which utterance lost its row.
"""

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from .errors import BadInputError

__all__ = ["Table", "read_text", "read_table", "PROBLEM", "RAW", "JSONL_SUFFIXES"]

PROBLEM = "__problem__"  # key of a row that could not be parsed; its value says why
RAW = "__raw__"  # in such a row: the line (JSONL) or the list of fields (CSV/TSV) as read
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")


@dataclass(frozen=True)
class Table:
    header: list[str]  # column names in order of first appearance
    rows: list[tuple[int, dict]]  # (1-based line number, row)


def read_text(path: Path) -> str:
    """UTF-8 (with or without BOM), or a one-line error naming the file and line.

    A UTF-16 or UTF-32 file (what some spreadsheet programs save as "Unicode text") is
    named as such: decoded as UTF-8 it would be NUL bytes between letters, or fail on
    its byte-order mark with a message about byte 0xff.
    """
    raw = path.read_bytes()
    wide = _wide_encoding(raw)
    if wide:
        raise BadInputError(f"{path}: file is {wide}; save it as UTF-8")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BadInputError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save the file as UTF-8"
        ) from None


def _wide_encoding(raw: bytes) -> str | None:
    """"UTF-16"/"UTF-32" (with how it shows) when the bytes are in one of them, else None."""
    if raw.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16"
    sample = raw[:4096]
    if len(sample) < 4 or sample.count(0) < len(sample) // 4:
        return None  # a stray NUL (a damaged byte) is not an encoding
    # Latin text in UTF-16 has a NUL in every other byte: the high (or low) half of each unit.
    halves = (sample[0::2].count(0) / max(1, len(sample[0::2])), sample[1::2].count(0) / max(1, len(sample[1::2])))
    if max(halves) > 0.6 and min(halves) < 0.2:
        return "UTF-16 (without a byte-order mark)"
    if sample.count(0) > 0.6 * len(sample):
        return "UTF-32 (without a byte-order mark)"
    return None


def read_table(path: Path) -> Table:
    text = read_text(path)
    if path.suffix.lower() in JSONL_SUFFIXES:
        return _jsonl(text)
    return _delimited(path, text)


def _jsonl(text: str) -> Table:
    header: list[str] = []
    rows: list[tuple[int, dict]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append((number, {PROBLEM: f"not valid JSON ({exc.msg})", RAW: line}))
            continue
        if not isinstance(obj, dict):
            rows.append((number, {PROBLEM: f"expected a JSON object, got {type(obj).__name__}", RAW: line}))
            continue
        header.extend(k for k in obj if k not in header)
        rows.append((number, {k: ("" if v is None else v) for k, v in obj.items()}))
    return Table(header, rows)


def _delimited(path: Path, text: str) -> Table:
    first_line = text.split("\n", 1)[0]
    tab = path.suffix.lower() == ".tsv" or ("\t" in first_line and "," not in first_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if tab else ",")
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return Table([], [])
    rows: list[tuple[int, dict]] = []
    line = 2
    for values in reader:
        start, line = line, reader.line_num + 1  # a quoted field may span several lines
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            rows.append((start, {PROBLEM: _field_count_problem(values, header, tab), RAW: values}))
            continue
        rows.append((start, dict(zip(header, values))))
    return Table(header, rows)


def _field_count_problem(values: list[str], header: list[str], tab: bool) -> str:
    """Say which values are extra (usually an unquoted comma in a transcript) or missing."""
    reason = f"row has {len(values)} fields, the header has {len(header)}"
    if len(values) > len(header):
        extra = ", ".join(repr(v[:20]) for v in values[len(header) :][:3])
        inside = "a tab inside a value?" if tab else "a comma inside a value? put the value in double quotes"
        return f"{reason}: extra {extra} ({inside})"
    missing = ", ".join(repr(h) for h in header[len(values) :][:3])
    return f"{reason}: no value for {missing}"
