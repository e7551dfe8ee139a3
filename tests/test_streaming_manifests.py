"""Manifests read and validated streaming: CSV, TSV, JSONL, Parquet and a Hugging Face dataset.

A bad row deep in a large file is reported by its row number (one line naming file,
row, field and what is wrong) while every good row is kept, whatever the format; the
readers hand out rows one at a time; Parquet and a saved Hugging Face dataset load the
same utterances as the CSV they were made from.
"""

import csv
import json
import tracemalloc
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from workbench.errors import BadInputError
from workbench.hypotheses import load_hypotheses
from workbench.manifest import LoadOptions, load_dataset
from workbench.tabular import PROBLEM, stream_table

EXAMPLES = Path(__file__).resolve().parents[1] / "workbench" / "examples"
ROWS = 3000  # above workbench.manifest.PARALLEL_MIN_CLIPS: the forked audio check runs too
EMPTY_AT, MISSING_AT = 2601, 2950  # 0-based indexes of the two bad rows, deep in the file


def _rows(audio: list[Path], missing: Path) -> list[dict]:
    rows = []
    for i in range(ROWS):
        rows.append({
            "id": f"utt{i:05d}",
            "audio": str(missing if i == MISSING_AT else audio[i % len(audio)]),
            "transcription": "" if i == EMPTY_AT else f"Sentence number {i} for the streaming test.",
            "accent": ("en-US", "en-GB", "Scottish")[i % 3],
            "language": "en",
        })
    return rows


def _write(kind: str, folder: Path, rows: list[dict]) -> tuple[Path, int]:
    """The manifest in one format, and the row number of rows[0] in it."""
    if kind in ("csv", "tsv"):
        path = folder / f"manifest.{kind}"
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="," if kind == "csv" else "\t")
            writer.writeheader()
            writer.writerows(rows)
        return path, 2  # line 1 is the header
    if kind == "jsonl":
        path = folder / "manifest.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path, 1
    if kind == "parquet":
        path = folder / "manifest.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=1000)
        return path, 1  # records are numbered from 1
    path = folder / "hf"
    datasets.Dataset.from_list(rows).save_to_disk(str(path))
    return path, 1


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    import numpy as np
    import soundfile

    folder = tmp_path_factory.mktemp("clips")
    paths = []
    for k in range(3):
        path = folder / f"clip{k}.wav"
        t = np.arange(int(16_000 * (1.5 + 0.25 * k))) / 16_000
        soundfile.write(str(path), (0.2 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 16_000)
        paths.append(path)
    return paths


@pytest.mark.parametrize("kind", ["csv", "tsv", "jsonl", "parquet", "hf"])
def test_a_bad_row_deep_in_a_large_manifest_is_named_and_the_good_rows_are_kept(tmp_path, clips, kind):
    rows = _rows(clips, tmp_path / "gone.wav")
    manifest, first = _write(kind, tmp_path, rows)

    ds = load_dataset(manifest)

    assert ds.rows_read == ROWS and len(ds.utterances) == ROWS - 2
    assert [str(p) for p in ds.problems] == [
        f"{manifest}:{first + EMPTY_AT}: transcription: empty transcript",
        f"{manifest}:{first + MISSING_AT}: audio: file not found: {tmp_path / 'gone.wav'}",
    ]
    assert [p.utterance_id for p in ds.problems] == [f"utt{EMPTY_AT:05d}", f"utt{MISSING_AT:05d}"]
    kept = [u.id for u in ds.utterances]
    assert kept == [r["id"] for i, r in enumerate(rows) if i not in (EMPTY_AT, MISSING_AT)]
    assert ds.utterances[-1].duration_s == pytest.approx(1.5 + 0.25 * ((ROWS - 1) % 3))
    assert ds.slice_columns == ("accent", "language")


def _traced_peak(fn) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_rows_are_read_one_at_a_time_not_held_whole(tmp_path, kind):
    rows = [{"id": f"u{i}", "audio": f"a{i}.wav", "transcription": "some words " * 12} for i in range(8000)]
    manifest, _ = _write(kind, tmp_path, rows)

    def stream():
        table = stream_table(manifest)
        assert table.header == ["id", "audio", "transcription"]
        return sum(1 for _ in table.rows)

    read, streaming_peak = _traced_peak(stream)
    held, whole_peak = _traced_peak(lambda: list(stream_table(manifest).rows))
    assert read == len(held) == len(rows)
    # Streaming holds a block of rows at a time; holding every row costs many times that.
    assert streaming_peak * 4 < whole_peak, f"streaming peak {streaming_peak} bytes, all rows {whole_peak} bytes"


def test_a_file_not_in_utf8_is_refused_before_any_row(tmp_path):
    manifest = tmp_path / "m.csv"
    lines = ["audio,transcription"] + [f"a{i}.wav,row {i}" for i in range(5000)]
    raw = "\n".join(lines).encode("utf-8").replace(b"row 4321", b"caf\xe9 4321")
    manifest.write_bytes(raw)
    with pytest.raises(BadInputError) as info:
        stream_table(manifest)
    offset = raw.index(b"\xe9")
    assert str(info.value) == f"{manifest}:4323: not valid UTF-8 (byte 0xe9 at offset {offset}); save the file as UTF-8"


def test_a_damaged_parquet_file_is_one_line_naming_it(tmp_path):
    bad = tmp_path / "m.parquet"
    bad.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(BadInputError, match=r"m\.parquet: not a readable Parquet file"):
        load_dataset(bad)


def test_parquet_and_a_saved_hf_dataset_load_what_the_csv_loads(tmp_path):
    source = EXAMPLES / "mini" / "manifest.csv"
    with source.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:  # absolute paths: the copies live in other folders
        row["audios"] = str(source.parent / row["audios"])
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "mini.parquet")
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "mini-hf"))

    def essence(ds):
        return [(u.id.rsplit("/", 1)[-1], u.reference, dict(u.slices), u.duration_s) for u in ds.utterances]

    from_csv = load_dataset(source)
    from_parquet = load_dataset(tmp_path / "mini.parquet")
    from_hf = load_dataset(tmp_path / "mini-hf")
    assert len(from_csv.utterances) == 20
    assert essence(from_parquet) == essence(from_csv) == essence(from_hf)
    assert [u.row for u in from_parquet.utterances] == list(range(1, 21))  # records, not lines


def test_parquet_values_of_other_types_and_nulls_are_validated_per_row(tmp_path, clips):
    table = pa.table({
        "audio": [str(clips[0]), None, str(clips[1]), str(clips[2])],
        "text": ["Fine.", "No audio here.", None, "Also fine."],
        "speaker": [1, 2, 3, 4],
    })
    pq.write_table(table, tmp_path / "m.parquet")
    ds = load_dataset(tmp_path / "m.parquet", LoadOptions(check_audio="none"))
    assert [u.reference for u in ds.utterances] == ["Fine.", "Also fine."]
    assert [u.slices["speaker"] for u in ds.utterances] == ["1", "4"]
    assert [(p.row, p.field, p.reason) for p in ds.problems] == [(2, "audio", "empty audio field"), (3, "text", "empty transcript")]


def test_hypotheses_stream_too_and_keep_their_rows(tmp_path):
    path = tmp_path / "h.jsonl"
    lines = [json.dumps({"id": f"u{i}", "hypothesis": f"text {i}"}) for i in range(4000)]
    lines[3210] = '{"id": "u3210", "hypothesis": '  # cut short
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    hyps = load_hypotheses(path)
    assert hyps.rows_read == 4000 and len(hyps.by_key) == 3999
    assert hyps.unparsable == ((3211, "u3210"),)
    assert str(hyps.problems[0]).startswith(f"{path}:3211: not valid JSON")
    assert PROBLEM not in hyps.by_key
