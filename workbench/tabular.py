"""Read CSV, TSV, JSONL and Parquet files into numbered rows, for manifests and hypotheses alike.

Files are read STREAMING: `stream_table` yields one row at a time (Parquet: one record
batch at a time), so a 100,000-row manifest is never held as text, parsed rows and a
table at once. Before the first row, the file is checked to be UTF-8, so a file
saved in another encoding is refused up front (in 256 KiB blocks), with the line and
byte offset of the first bad byte, as `read_text` would.

A row that cannot be parsed does not stop the file: it comes back as a row carrying a
`__problem__` reason and its line number, so the caller can exclude and report it, and
a `__raw__` entry (the line's text for JSONL, its fields for CSV/TSV) from which a
caller may recover the row's key, to say which utterance lost its row.

Row numbers: CSV/TSV and JSONL rows are numbered by the file LINE they start on (a CSV's
header is line 1); Parquet rows by their 1-based record number (a Parquet file has no
header line).
"""

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .errors import BadInputError

__all__ = ["Table", "TableStream", "read_text", "read_table", "stream_table", "PROBLEM", "RAW", "JSONL_SUFFIXES",
           "PARQUET_SUFFIXES", "TABLE_SUFFIXES"]

PROBLEM = "__problem__"  # key of a row that could not be parsed; its value says why
RAW = "__raw__"  # in such a row: the line (JSONL) or the list of fields (CSV/TSV) as read
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")
TABLE_SUFFIXES = (".csv", ".tsv", ".txt") + JSONL_SUFFIXES + PARQUET_SUFFIXES
_BLOCK = 1 << 18  # bytes per read of the UTF-8 check
_PARQUET_BATCH = 1024  # Parquet records per batch: about 1 MB of Python rows at a time


@dataclass(frozen=True)
class Table:
    header: list[str]  # column names in order of first appearance
    rows: list[tuple[int, dict]]  # (1-based line number, row)


@dataclass(frozen=True)
class TableStream:
    """A table read row by row: the header is known before the first row is read."""

    header: list[str]  # column names in order of first appearance
    rows: Iterator[tuple[int, dict]]  # (1-based line or record number, row), read lazily


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
    """The whole table in memory (small files: lexicons, corrections); see `stream_table`."""
    stream = stream_table(path)
    return Table(stream.header, list(stream.rows))


def stream_table(path: Path) -> TableStream:
    """The table's header, and its rows as they are read. A file in another encoding than
    UTF-8 is a one-line BadInputError here, before any row."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return _parquet(path)
    check_utf8(path)
    if suffix in JSONL_SUFFIXES:
        return _jsonl(path)
    return _delimited(path)


def check_utf8(path: Path) -> None:
    """Raise the `read_text` error for a file that is not UTF-8, reading it in blocks."""
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read the file ({exc.strerror or 'unreadable'})") from None
    with f:
        wide = _wide_encoding(f.read(4096))
        if wide:
            raise BadInputError(f"{path}: file is {wide}; save it as UTF-8")
        f.seek(0)
        offset, line, carry = 0, 1, b""
        while True:
            block = f.read(_BLOCK)
            data = carry + block
            if not data:
                return
            try:
                data.decode("utf-8")
                good = len(data)
            except UnicodeDecodeError as exc:
                if block and exc.end == len(data) and exc.reason == "unexpected end of data":
                    good = exc.start  # a character cut by the block's end: decode it with the next block
                else:
                    where = line + data.count(b"\n", 0, exc.start)
                    raise BadInputError(
                        f"{path}:{where}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {offset + exc.start}); "
                        "save the file as UTF-8"
                    ) from None
            line += data.count(b"\n", 0, good)
            offset += good
            carry = data[good:]
            if not block:
                return


def _text_lines(path: Path):
    """The file's lines, decoded (already checked to be UTF-8), line endings kept."""
    return open(path, encoding="utf-8-sig", newline="")


def _jsonl(path: Path) -> TableStream:
    # The header is every key in order of first appearance: one pass for the keys, then
    # the rows are parsed again as they are read (parsing twice costs less than holding
    # every row).
    header: list[str] = []
    seen: set[str] = set()
    with _text_lines(path) as f:
        for line in f:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                for key in obj:
                    if key not in seen:
                        seen.add(key)
                        header.append(key)
    return TableStream(header, _jsonl_rows(path))


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict]]:
    with _text_lines(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            line = line.rstrip("\r\n")
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, {PROBLEM: f"not valid JSON ({exc.msg})", RAW: line}
                continue
            if not isinstance(obj, dict):
                yield number, {PROBLEM: f"expected a JSON object, got {type(obj).__name__}", RAW: line}
                continue
            yield number, {k: ("" if v is None else v) for k, v in obj.items()}


def _delimited(path: Path) -> TableStream:
    with _text_lines(path) as f:
        first_line = f.readline()
        tab = path.suffix.lower() == ".tsv" or ("\t" in first_line and "," not in first_line)
        f.seek(0)
        try:
            header = [h.strip() for h in next(csv.reader(f, delimiter="\t" if tab else ","))]
        except StopIteration:
            return TableStream([], iter(()))
    return TableStream(header, _delimited_rows(path, header, tab))


def _delimited_rows(path: Path, header: list[str], tab: bool) -> Iterator[tuple[int, dict]]:
    # Opened when the first row is asked for (and closed after the last), so a caller that
    # stops at the header leaves no file open.
    with _text_lines(path) as f:
        reader = csv.reader(f, delimiter="\t" if tab else ",")
        next(reader)  # the header, read above
        line = reader.line_num + 1
        for values in reader:
            start, line = line, reader.line_num + 1  # a quoted field may span several lines
            if not (values and values[0].strip()) and not "".join(values).strip():
                continue  # a blank line (or only separators)
            if len(values) != len(header):
                yield start, {PROBLEM: _field_count_problem(values, header, tab), RAW: values}
                continue
            yield start, dict(zip(header, values))


def _field_count_problem(values: list[str], header: list[str], tab: bool) -> str:
    """Say which values are extra (usually an unquoted comma in a transcript) or missing."""
    reason = f"row has {len(values)} fields, the header has {len(header)}"
    if len(values) > len(header):
        extra = ", ".join(repr(v[:20]) for v in values[len(header) :][:3])
        inside = "a tab inside a value?" if tab else "a comma inside a value? put the value in double quotes"
        return f"{reason}: extra {extra} ({inside})"
    missing = ", ".join(repr(h) for h in header[len(values) :][:3])
    return f"{reason}: no value for {missing}"


def _parquet(path: Path) -> TableStream:
    """A Parquet file (pyarrow), read one record batch at a time. Nulls read as ""."""
    parquet = _open_parquet(path)
    try:
        header = list(parquet.schema_arrow.names)
    finally:
        parquet.close()
    return TableStream(header, _parquet_rows(path))


def _open_parquet(path: Path):
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # not Parquet, truncated footer, unreadable: one line naming the file
        raise BadInputError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from None


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict]]:
    parquet = _open_parquet(path)
    number = 0
    try:
        for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH):
            for record in batch.to_pylist():
                number += 1
                yield number, {k: ("" if v is None else v) for k, v in record.items()}
    except (OSError, ValueError) as exc:  # a damaged column chunk (pyarrow: ArrowIOError, ArrowInvalid)
        raise BadInputError(f"{path}:{number + 1}: cannot read the Parquet data from this row on ({_first_line(exc)})") from None
    finally:
        parquet.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
