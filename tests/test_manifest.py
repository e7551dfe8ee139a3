"""workbench.manifest.load_dataset: every loader, every kind of bad row, strict mode."""

import csv
import io
import json

import datasets
import numpy as np
import pytest

from workbench.audio import Preprocessing, load_audio
from workbench.dataset import AudioSource
from workbench.errors import BadInputError
from workbench.manifest import LoadOptions, load_dataset

# The fallback decoder (librosa -> audioread) warns on every file libsndfile cannot read.
pytestmark = [
    pytest.mark.filterwarnings("ignore:PySoundFile failed:UserWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore:'(aifc|audioop|sunau)' is deprecated:DeprecationWarning"),
]


def csv_text(header, rows, delimiter=",") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def jsonl_text(rows) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def problem_rows(dataset) -> list[tuple[int | None, str]]:
    return [(p.row, p.reason) for p in dataset.problems]


# --------------------------------------------------------------------------- CSV (recipe format)


@pytest.mark.parametrize(
    "folder, cwd",
    [
        pytest.param(".", ".", id="manifest-beside-audio"),
        pytest.param("data", "elsewhere", id="manifest-in-subfolder-cwd-elsewhere"),
    ],
)
def test_csv_recipe_format_with_slices(tmp_path, make_audio, make_file, monkeypatch, folder, cwd):
    make_audio(f"{folder}/audio/a.wav", 1.5)
    make_audio(f"{folder}/audio/b.wav", 2.0, 44_100, 2)
    manifest = make_file(
        f"{folder}/manifest.csv",
        csv_text(
            ["audios", "transcription", "accent", "language", "speaker", "mic"],
            [
                ["audio/a.wav", "Hello there.", "scottish", "en", "spk1", "headset"],
                ["audio/b.wav", "General Kenobi!", "indian", "en", "spk2", "laptop"],
            ],
        ),
    )
    (tmp_path / cwd).mkdir(exist_ok=True)
    monkeypatch.chdir(tmp_path / cwd)

    ds = load_dataset(manifest)

    assert ds.problems == ()
    assert ds.rows_read == 2 and ds.excluded == 0
    assert [u.id for u in ds.utterances] == ["audio/a.wav", "audio/b.wav"]
    assert [u.reference for u in ds.utterances] == ["Hello there.", "General Kenobi!"]  # as written
    assert [u.row for u in ds.utterances] == [2, 3]
    assert [u.duration_s for u in ds.utterances] == [pytest.approx(1.5), pytest.approx(2.0)]
    assert ds.slice_columns == ("accent", "language", "speaker", "mic")  # extra column kept as a slice
    assert dict(ds.utterances[0].slices) == {"accent": "scottish", "language": "en", "speaker": "spk1", "mic": "headset"}
    assert ds.utterances[1].language == "en"
    first = ds.utterances[0].audio
    assert first.label == "audio/a.wav"
    assert first.path == str((tmp_path / folder / "audio" / "a.wav").resolve())  # relative to the manifest
    # Resolved paths work from any cwd; the 44.1 kHz stereo clip comes back as 16 kHz mono.
    assert len(load_audio(ds.utterances[1].audio)) == pytest.approx(2.0 * 16_000, rel=0.01)


# --------------------------------------------------------------------------- column aliases, TSV

ALIAS_CASES = [
    # columns (ours -> name in the file), suffix, delimiter, prefix, line ending
    pytest.param({"audio": "audio", "text": "text"}, ".csv", ",", "", "\n", id="csv-audio-text"),
    pytest.param({"audio": "path", "text": "sentence"}, ".csv", ",", "", "\n", id="csv-path-sentence"),
    pytest.param({"audio": "file", "text": "text"}, ".csv", ",", "", "\n", id="csv-file-text"),
    pytest.param({"audio": "Audio", "text": "Sentence"}, ".csv", ",", "", "\n", id="csv-case-insensitive"),
    pytest.param({"audio": "audio_filepath", "text": "text"}, ".csv", ",", "", "\n", id="csv-nemo-names"),
    pytest.param(
        {"audio": "path", "text": "sentence", "accent": "accents", "language": "locale", "speaker": "client_id"},
        ".tsv", "\t", "", "\n", id="tsv-common-voice-names",
    ),
    pytest.param(
        {"id": "utt_id", "audio": "wav", "text": "transcript", "speaker": "speaker_id", "language": "lang"},
        ".tsv", "\t", "", "\n", id="tsv-with-id-column",
    ),
    pytest.param({"audio": "audio", "text": "text", "accent": "accent"}, ".csv", "\t", "", "\n", id="tab-separated-named-csv"),
    pytest.param({"audio": "audios", "text": "transcription"}, ".csv", ",", "\ufeff", "\n", id="csv-utf8-bom"),
    pytest.param({"audio": "audios", "text": "transcription", "accent": "accent"}, ".csv", ",", "", "\r\n", id="csv-crlf"),
]

CANONICAL = [
    {"id": "u1", "audio": "audio/a.wav", "text": "Hello there.", "accent": "scottish", "language": "en", "speaker": "spk1"},
    {"id": "u2", "audio": "audio/b.wav", "text": "Good morning", "accent": "indian", "language": "hi", "speaker": "spk2"},
]


@pytest.mark.parametrize("columns, suffix, delimiter, prefix, newline", ALIAS_CASES)
def test_column_aliases_and_delimiters(tmp_path, make_audio, make_file, columns, suffix, delimiter, prefix, newline):
    make_audio("audio/a.wav")
    make_audio("audio/b.wav", 1.2, 8_000)
    names = list(columns.values())
    rows = [[row[ours] for ours in columns] for row in CANONICAL]
    text = csv_text(names, rows, delimiter).replace("\n", newline)
    manifest = make_file(f"manifest{suffix}", prefix + text)

    ds = load_dataset(manifest)

    assert ds.problems == ()
    expected_ids = ["u1", "u2"] if "id" in columns else ["audio/a.wav", "audio/b.wav"]
    assert [u.id for u in ds.utterances] == expected_ids
    assert [u.reference for u in ds.utterances] == ["Hello there.", "Good morning"]
    known = [ours for ours in ("accent", "language", "speaker") if ours in columns]
    assert ds.slice_columns == tuple(known)  # aliases are mapped, not kept as extra slices
    for utterance, row in zip(ds.utterances, CANONICAL):
        assert dict(utterance.slices) == {ours: row[ours] for ours in known}
    assert [u.duration_s for u in ds.utterances] == [pytest.approx(1.5), pytest.approx(1.2)]


# --------------------------------------------------------------------------- JSONL


def test_jsonl_loader_keeps_good_rows_and_reports_bad_lines(make_audio, make_file):
    for name in ("a", "c", "d"):
        make_audio(f"audio/{name}.wav")
    lines = [
        json.dumps({"id": "u1", "audio": "audio/a.wav", "text": "Hello there.", "accent": "scottish", "language": "en", "speaker": "spk1", "mic": "headset"}),
        '{"id": "u2", "audio": "audio/b.wav", "text": "broken',  # line 2: not JSON
        "",  # line 3: blank, skipped but counted
        json.dumps({"id": "u3", "audio": "audio/c.wav", "text": "Good morning", "accent": None, "language": "en", "speaker": "spk2", "mic": "laptop"}),
        "[1, 2]",  # line 5: not an object
        json.dumps({"id": 7, "audio": "audio/d.wav", "text": 42}),  # numbers are used as text
    ]
    manifest = make_file("manifest.jsonl", "\n".join(lines) + "\n")

    ds = load_dataset(manifest)

    assert [u.id for u in ds.utterances] == ["u1", "u3", "7"]
    assert [u.row for u in ds.utterances] == [1, 4, 6]
    assert [u.reference for u in ds.utterances] == ["Hello there.", "Good morning", "42"]
    assert [(p.row, p.reason.split(" (")[0]) for p in ds.problems] == [(2, "not valid JSON"), (5, "expected a JSON object, got list")]
    assert str(ds.problems[0]).startswith(f"{manifest}:2: ")
    assert ds.rows_read == 5 and ds.excluded == 2
    assert ds.slice_columns == ("accent", "language", "speaker", "mic")
    assert dict(ds.utterances[1].slices) == {"accent": "", "language": "en", "speaker": "spk2", "mic": "laptop"}  # null -> ""
    assert dict(ds.utterances[2].slices) == {"accent": "", "language": "", "speaker": "", "mic": ""}  # absent keys -> ""


# --------------------------------------------------------------------------- folder of audio + .txt


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
def test_folder_loader_pairs_audio_with_txt(make_audio, make_file, tmp_path, nested):
    make_audio("corpus/a.wav")
    make_file("corpus/a.txt", "Hello there.\n")
    make_audio("corpus/b.flac", 1.2, 44_100, 2)
    make_file("corpus/b.txt", "  Good morning  ")
    make_audio("corpus/c.ogg")  # no transcript
    make_audio("corpus/d.wav")
    make_file("corpus/d.txt", "caf\xe9".encode("latin-1"))  # unreadable transcript
    make_file("corpus/notes.txt", "a stray text file is not an utterance")
    if nested:
        make_audio("corpus/speaker1/e.wav")
        make_file("corpus/speaker1/e.txt", "Nested clip")

    ds = load_dataset(tmp_path / "corpus")

    expected_ids = ["a.wav", "b.flac"] + (["speaker1/e.wav"] if nested else [])
    assert [u.id for u in ds.utterances] == expected_ids
    assert [u.reference for u in ds.utterances][:2] == ["Hello there.", "Good morning"]
    assert ds.rows_read == len(expected_ids) + 2
    assert [(p.row, p.field) for p in ds.problems] == [(3, "text"), (4, "text")]
    assert "no transcript file c.txt beside c.ogg" in ds.problems[0].reason
    assert "not valid UTF-8" in ds.problems[1].reason
    if nested:
        assert ds.slice_columns == ("folder",)
        assert [u.slices["folder"] for u in ds.utterances] == [".", ".", "speaker1"]
    else:
        assert ds.slice_columns == ()


# --------------------------------------------------------------------------- Hugging Face save_to_disk


@pytest.mark.parametrize(
    "clip, rate, channels",
    [
        pytest.param("clip1.wav", 44_100, 2, id="wav-44k1-stereo"),
        pytest.param("clip1.flac", 48_000, 1, id="flac-48k"),
        pytest.param("clip1.mp3", 44_100, 1, id="mp3-like-common-voice"),
    ],
)
def test_hf_save_to_disk_with_common_voice_columns(tmp_path, make_audio, clip, rate, channels):
    files = [make_audio(clip, 1.5, rate, channels), make_audio("clip2.wav", 0.5), make_audio("clip3.wav", 1.5)]
    ds_hf = datasets.Dataset.from_dict(
        {
            "client_id": ["client-a", "client-b", "client-c"],
            "path": [f.name for f in files],
            "audio": [str(f) for f in files],
            "sentence": ["Hello there.", "Too short a clip.", ""],
            "up_votes": [2, 1, 0],
            "accents": ["Scottish English", "", "India and South Asia"],
            "locale": ["en", "en", "en"],
        }
    ).cast_column("audio", datasets.Audio())
    ds_hf.save_to_disk(str(tmp_path / "cv"))

    ds = load_dataset(tmp_path / "cv")

    assert ds.rows_read == 3
    assert sorted((p.row, p.reason.split(" (")[0]) for p in ds.problems) == [(2, "audio too short"), (3, "empty transcript")]
    (utterance,) = ds.utterances
    assert utterance.id.endswith(clip)
    assert utterance.reference == "Hello there."
    assert ds.slice_columns == ("accent", "language", "speaker", "path", "up_votes")
    assert dict(utterance.slices) == {
        "accent": "Scottish English", "language": "en", "speaker": "client-a", "path": clip, "up_votes": "2",
    }
    assert utterance.duration_s == pytest.approx(1.5, abs=0.06)
    samples = load_audio(utterance.audio)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert len(samples) == pytest.approx(1.5 * 16_000, rel=0.02)


def test_hf_audio_bytes_without_path_get_distinct_ids(tmp_path, make_audio):
    wav = make_audio("clip.wav").read_bytes()
    datasets.Dataset.from_dict(
        {"audio": [{"bytes": wav, "path": None}] * 2, "sentence": ["first clip", "second clip"]}
    ).cast_column("audio", datasets.Audio()).save_to_disk(str(tmp_path / "hf"))

    ds = load_dataset(tmp_path / "hf")

    assert ds.problems == ()
    assert len({u.id for u in ds.utterances}) == 2


@pytest.mark.parametrize(
    "splits, option, expected",
    [
        pytest.param(("train", "test"), None, "test", id="default-test-split"),
        pytest.param(("train", "validation"), "validation", "validation", id="chosen-split"),
        pytest.param(("train", "validation"), None, BadInputError, id="no-test-split"),
        pytest.param(("train",), "test", BadInputError, id="unknown-split"),
    ],
)
def test_hf_dataset_dict_split_choice(tmp_path, make_audio, splits, option, expected):
    audio = str(make_audio("clip.wav"))
    datasets.DatasetDict(
        {
            name: datasets.Dataset.from_dict({"audio": [audio], "text": [f"from {name}"]}).cast_column("audio", datasets.Audio())
            for name in splits
        }
    ).save_to_disk(str(tmp_path / "hf"))
    options = LoadOptions(hf_split=option)
    if expected is BadInputError:
        with pytest.raises(BadInputError, match="choose a split"):
            load_dataset(tmp_path / "hf", options)
    else:
        assert [u.reference for u in load_dataset(tmp_path / "hf", options).utterances] == [f"from {expected}"]


# --------------------------------------------------------------------------- bad rows

GOOD_FIRST = ("audio/a.wav", "hello there")
GOOD_LAST = ("audio/c.wav", "general kenobi")

BAD_ROWS = [
    # file to create for the bad row, audio value, transcript, reason, which field is at fault
    pytest.param(None, "audio/missing.wav", "hello there", "file not found", "audio", id="missing-file"),
    pytest.param("text-as-wav", "audio/notes.wav", "hello there", "not an audio file", "audio", id="undecodable-audio"),
    pytest.param("zero-bytes", "audio/empty.wav", "hello there", "file is empty (0 bytes)", "audio", id="zero-byte-file"),
    # a 2 s clip cut to its first 0.5 s: truncated, never "too short" for what is left
    pytest.param("truncated-wav", "audio/cut.wav", "hello there", "truncated: header says 2.00 s", "audio", id="truncated-wav"),
    pytest.param("half-flac", "audio/half.flac", "hello there", "truncated", "audio", id="flac-cut-in-half"),
    pytest.param("good", "audio/b.wav", "", "empty transcript", "text", id="empty-transcript"),
    pytest.param("good", "audio/b.wav", "...", "transcript too short ('...')", "text", id="too-short-transcript"),
    pytest.param("0.5s", "audio/b.wav", "hello there", "audio too short (0.50 s < 1 s)", "audio", id="audio-under-1s"),
    pytest.param("31s", "audio/b.wav", "hello there", "audio too long (31.00 s > 30 s)", "audio", id="audio-over-30s"),
    pytest.param(None, "audio/a.wav", "hello there", "duplicate utterance id 'audio/a.wav' (first at row {first})", "audio", id="duplicate-id"),
    pytest.param(
        None, "audio/a.wav", "again",
        "conflicting duplicate of utterance id 'audio/a.wav': row {first} has transcript 'hello there', row {second} has 'again' (row {first} is used)",
        "text", id="conflicting-duplicate-id",
    ),
    pytest.param(None, "", "hello there", "empty audio field", "audio", id="empty-audio-field"),
]

FIELDS = {"csv": {"audio": "audios", "text": "transcription"}, "jsonl": {"audio": "audio", "text": "text"}}
FIRST_ROW = {"csv": 2, "jsonl": 1}  # line of the first data row: CSV has a header line


def write_bad_manifest(fmt, make_audio, make_file, create, audio, text):
    make_audio(GOOD_FIRST[0])
    make_audio(GOOD_LAST[0])
    if create == "good":
        make_audio(audio)
    elif create == "0.5s":
        make_audio(audio, 0.5)
    elif create == "31s":
        make_audio(audio, 31.0, 8_000)
    elif create == "zero-bytes":
        make_file(audio, b"")
    elif create == "text-as-wav":
        make_file(audio, "this is a text file, not audio\n")
    elif create == "truncated-wav":
        raw = make_audio(audio, 2.0).read_bytes()
        make_file(audio, raw[: 44 + 16_000])  # the header, then 0.5 s of 16-bit samples
    elif create == "half-flac":
        raw = make_audio(audio, 2.0).read_bytes()
        make_file(audio, raw[: len(raw) // 2])
    rows = [GOOD_FIRST, (audio, text), GOOD_LAST]
    if fmt == "csv":
        return make_file("manifest.csv", csv_text(["audios", "transcription"], rows))
    return make_file("manifest.jsonl", jsonl_text({"audio": a, "text": t} for a, t in rows))


def bad_row_params():
    for fmt in ("csv", "jsonl"):
        for check in ("header", "decode"):
            for case in BAD_ROWS:
                yield pytest.param(fmt, check, *case.values, id=f"{fmt}-{check}-{case.id}")


@pytest.mark.parametrize("fmt, check, create, audio, text, reason, field", list(bad_row_params()))
def test_bad_row_is_excluded_and_reported(make_audio, make_file, fmt, check, create, audio, text, reason, field):
    manifest = write_bad_manifest(fmt, make_audio, make_file, create, audio, text)
    first = FIRST_ROW[fmt]

    ds = load_dataset(manifest, LoadOptions(check_audio=check))

    assert [u.id for u in ds.utterances] == [GOOD_FIRST[0], GOOD_LAST[0]]  # valid rows kept
    assert ds.rows_read == 3 and ds.excluded == 1
    (problem,) = ds.problems
    assert problem.row == first + 1
    assert reason.format(first=first, second=first + 1) in problem.reason
    assert problem.field == FIELDS[fmt][field]
    assert problem.kind == "error"
    assert str(problem).startswith(f"{manifest}:{first + 1}: ")


@pytest.mark.parametrize("check", ["header", "decode"])
def test_truncated_audio_is_named_truncated_not_too_short(make_audio, make_file, check):
    """Before, `--check-audio decode` measured what was left of a truncated clip and
    called it "audio too short (0.50 s < 1 s)"; a header check scored it silently."""
    raw = make_audio("audio/cut.wav", 2.0).read_bytes()
    make_file("audio/cut.wav", raw[: 44 + 16_000])
    make_audio("audio/ok.wav", 1.5)
    manifest = make_file("m.csv", csv_text(["audios", "transcription"], [["audio/cut.wav", "hello"], ["audio/ok.wav", "hi"]]))
    ds = load_dataset(manifest, LoadOptions(check_audio=check))
    assert [u.id for u in ds.utterances] == ["audio/ok.wav"]
    held = "file holds" if check == "header" else "decoded"
    assert problem_rows(ds) == [(2, f"truncated: header says 2.00 s, {held} 0.50 s: audio/cut.wav")]


def test_decode_check_finds_garbage_in_the_middle_of_a_flac(make_audio, make_file):
    raw = make_audio("audio/bad.flac", 3.0).read_bytes()
    middle = len(raw) // 2
    make_file("audio/bad.flac", raw[:middle] + np.random.default_rng(1).bytes(800) + raw[middle + 800 :])
    make_audio("audio/ok.wav", 1.5)
    manifest = make_file("m.csv", csv_text(["audios", "transcription"], [["audio/bad.flac", "hello"], ["audio/ok.wav", "hi"]]))
    ds = load_dataset(manifest, LoadOptions(check_audio="decode"))
    assert [u.id for u in ds.utterances] == ["audio/ok.wav"]
    (problem,) = ds.problems
    assert problem.row == 2 and problem.field == "audios"
    assert problem.reason.startswith("corrupt FLAC data at 1.") and problem.reason.endswith(": audio/bad.flac")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("create, audio, text, reason, field", BAD_ROWS)
def test_strict_raises_on_the_bad_row(make_audio, make_file, fmt, create, audio, text, reason, field):
    manifest = write_bad_manifest(fmt, make_audio, make_file, create, audio, text)
    first = FIRST_ROW[fmt]
    with pytest.raises(BadInputError) as info:
        load_dataset(manifest, LoadOptions(strict=True))
    message = str(info.value)
    assert message.startswith(f"{manifest}:{first + 1}: ")
    assert reason.format(first=first, second=first + 1) in message
    assert "\n" not in message


FORMAT_ROW_PROBLEMS = [
    # file name, content, bad row, reason
    pytest.param(
        "m.csv", "audios,transcription\naudio/a.wav,hello there\naudio/b.wav,hello,there\naudio/c.wav,general kenobi\n",
        3, "row has 3 fields, the header has 2", id="csv-too-many-fields",
    ),
    pytest.param(
        "m.csv", "audios,transcription\naudio/a.wav,hello there\naudio/b.wav\naudio/c.wav,general kenobi\n",
        3, "row has 1 fields, the header has 2", id="csv-too-few-fields",
    ),
    pytest.param(
        "m.csv", "audios,transcription\naudio/a.wav,hello there\n\naudio/b.wav,hello,there\naudio/c.wav,general kenobi\n",
        4, "row has 3 fields", id="csv-line-number-after-blank-line",
    ),
    pytest.param(
        "m.csv", 'audios,transcription\naudio/a.wav,"hello\nthere"\naudio/b.wav,hello,there\naudio/c.wav,general kenobi\n',
        4, "row has 3 fields", id="csv-line-number-after-multiline-field",
    ),
    pytest.param(
        "m.tsv", "audios\ttranscription\naudio/a.wav\thello there\naudio/b.wav\thello\tthere\naudio/c.wav\tgeneral kenobi\n",
        3, "row has 3 fields, the header has 2", id="tsv-too-many-fields",
    ),
    pytest.param(
        "m.jsonl",
        '{"audio": "audio/a.wav", "text": "hello there"}\n{"audio": "audio/b.wav", "text": }\n{"audio": "audio/c.wav", "text": "general kenobi"}\n',
        2, "not valid JSON", id="jsonl-bad-json-line",
    ),
    pytest.param(
        "m.jsonl",
        '{"audio": "audio/a.wav", "text": "hello there"}\n"just a string"\n{"audio": "audio/c.wav", "text": "general kenobi"}\n',
        2, "expected a JSON object, got str", id="jsonl-not-an-object",
    ),
]


@pytest.mark.parametrize("name, content, row, reason", FORMAT_ROW_PROBLEMS)
@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_malformed_row_is_reported_with_its_line(make_audio, make_file, name, content, row, reason, strict):
    make_audio("audio/a.wav")
    make_audio("audio/b.wav")
    make_audio("audio/c.wav")
    manifest = make_file(name, content)
    if strict:
        with pytest.raises(BadInputError) as info:
            load_dataset(manifest, LoadOptions(strict=True))
        assert str(info.value).startswith(f"{manifest}:{row}: ") and reason in str(info.value)
        return
    ds = load_dataset(manifest)
    assert [u.id for u in ds.utterances] == ["audio/a.wav", "audio/c.wav"]
    assert [p.row for p in ds.problems] == [row]
    assert reason in ds.problems[0].reason


@pytest.mark.parametrize(
    "header, rows, bad_row, reason",
    [
        pytest.param(
            ["audios", "transcription"], [["audio/a.wav", "one"], ["audio/a.wav", "one"]],
            3, "duplicate utterance id 'audio/a.wav' (first at row 2)", id="same-audio-path",
        ),
        pytest.param(
            ["id", "audios", "transcription"], [["u1", "audio/a.wav", "one"], ["u1", "audio/b.wav", "one"]],
            3, "duplicate utterance id 'u1' (first at row 2)", id="same-id-column-value",
        ),
        pytest.param(
            ["id", "audios", "transcription"], [["u1", "audio/a.wav", "one"], ["u1", "audio/b.wav", "two"]],
            3, "conflicting duplicate of utterance id 'u1': row 2 has transcript 'one', row 3 has 'two' (row 2 is used)",
            id="same-id-different-transcript",
        ),
        pytest.param(
            ["transcription", "audios"], [["one", "audio/a.wav"], ["one", " audio/a.wav"]],
            3, "duplicate utterance id 'audio/a.wav' (first at row 2)", id="same-audio-path-padded-with-space",
        ),
    ],
)
def test_duplicate_ids(make_audio, make_file, header, rows, bad_row, reason):
    make_audio("audio/a.wav")
    make_audio("audio/b.wav")
    ds = load_dataset(make_file("m.csv", csv_text(header, rows)))
    assert len(ds.utterances) == 1
    assert problem_rows(ds) == [(bad_row, reason)]


# --------------------------------------------------------------------------- durations and transcripts

DURATIONS = [
    # seconds, sample rate, silence padding each side, options, None when kept else the reason
    pytest.param(0.5, 16_000, 0.0, LoadOptions(), "audio too short (0.50 s < 1 s)", id="0.5s-excluded"),
    pytest.param(1.0, 8_000, 0.0, LoadOptions(), None, id="1.0s-kept"),
    pytest.param(30.0, 8_000, 0.0, LoadOptions(), None, id="30.0s-kept"),
    pytest.param(31.0, 8_000, 0.0, LoadOptions(), "audio too long (31.00 s > 30 s)", id="31s-excluded"),
    pytest.param(0.5, 16_000, 0.0, LoadOptions(min_duration_s=0.25), None, id="0.5s-kept-with-lower-minimum"),
    pytest.param(12.0, 8_000, 0.0, LoadOptions(max_duration_s=10), "audio too long (12.00 s > 10 s)", id="12s-over-custom-maximum"),
    pytest.param(0.6, 16_000, 1.0, LoadOptions(), None, id="padded-0.6s-kept-untrimmed"),
    pytest.param(
        0.6, 16_000, 1.0, LoadOptions(preprocessing=Preprocessing(trim_silence=True)), "audio too short",
        id="padded-0.6s-excluded-when-trimmed",
    ),
]


@pytest.mark.parametrize("seconds, rate, silence, options, reason", DURATIONS)
def test_duration_limits(make_audio, make_file, seconds, rate, silence, options, reason):
    make_audio("clip.wav", seconds, rate, silence_s=silence)
    ds = load_dataset(make_file("m.csv", "audio,text\nclip.wav,hello there\n"), options)
    if reason is None:
        (utterance,) = ds.utterances
        assert utterance.duration_s == pytest.approx(seconds + 2 * silence, abs=0.01)
        assert ds.problems == ()
    else:
        assert ds.utterances == ()
        assert len(ds.problems) == 1 and reason in ds.problems[0].reason


TRANSCRIPTS = [
    # as written in the CSV cell, options, expected reference or the reason it is excluded
    pytest.param("Hello, World!", LoadOptions(), "Hello, World!", id="punctuation-and-case-kept"),
    pytest.param("  padded  ", LoadOptions(), "padded", id="outer-space-stripped"),
    pytest.param("你好", LoadOptions(), "你好", id="non-latin-letters"),
    pytest.param("42", LoadOptions(), "42", id="digits-only"),
    pytest.param("...", LoadOptions(), "transcript too short ('...')", id="dots-only"),
    pytest.param("¿? ¡!", LoadOptions(), "transcript too short", id="punctuation-only"),
    pytest.param("", LoadOptions(), "empty transcript", id="empty"),
    pytest.param("   ", LoadOptions(), "empty transcript", id="spaces-only"),
    pytest.param("ok", LoadOptions(min_transcript_chars=3), "transcript too short ('ok')", id="under-custom-minimum"),
    pytest.param("yes", LoadOptions(min_transcript_chars=3), "yes", id="at-custom-minimum"),
]


@pytest.mark.parametrize("written, options, expected", TRANSCRIPTS)
def test_transcript_validation(make_file, written, options, expected):
    manifest = make_file("m.csv", csv_text(["audio", "text"], [["a.wav", written]]))
    ds = load_dataset(manifest, LoadOptions(check_audio="none", min_transcript_chars=options.min_transcript_chars))
    if ds.utterances:
        assert ds.utterances[0].reference == expected
    else:
        assert ds.problems[0].row == 2 and expected in ds.problems[0].reason


def test_check_audio_none_trusts_paths(make_file):
    ds = load_dataset(make_file("m.csv", "audio,text\nmissing.wav,hello there\n"), LoadOptions(check_audio="none"))
    (utterance,) = ds.utterances
    assert utterance.duration_s is None and ds.problems == ()


@pytest.mark.parametrize(
    "header, rows, expected_languages, expected_columns",
    [
        pytest.param(["audio", "text", "language"], [["a.wav", "one", "en"], ["b.wav", "two", ""]], ["en", "fr"], ("language",), id="fills-empty-values"),
        pytest.param(["audio", "text"], [["a.wav", "one"], ["b.wav", "two"]], ["fr", "fr"], ("language",), id="adds-missing-column"),
        pytest.param(["audio", "text", "mic"], [["a.wav", "one", "x"], ["b.wav", "two", "y"]], ["fr", "fr"], ("language", "mic"), id="language-first"),
    ],
)
def test_default_language_option(make_file, header, rows, expected_languages, expected_columns):
    ds = load_dataset(make_file("m.csv", csv_text(header, rows)), LoadOptions(check_audio="none", language="fr"))
    assert [u.language for u in ds.utterances] == expected_languages
    assert ds.slice_columns == expected_columns


# --------------------------------------------------------------------------- strict mode


def test_strict_raises_on_the_first_row_problem(make_audio, make_file):
    for name in ("a", "b", "c"):
        make_audio(f"audio/{name}.wav")
    manifest = make_file("m.csv", "audios,transcription\naudio/a.wav,hello there\naudio/b.wav,\naudio/c.wav,...\n")
    with pytest.raises(BadInputError, match=r"m\.csv:3: transcription: empty transcript$"):
        load_dataset(manifest, LoadOptions(strict=True))


def test_strict_names_the_earliest_bad_row_in_the_file(make_audio, make_file):
    make_audio("audio/a.wav")
    make_audio("audio/b.wav")
    manifest = make_file("m.csv", "audios,transcription\naudio/a.wav,hello there\naudio/missing.wav,hi there\naudio/b.wav,\n")
    with pytest.raises(BadInputError, match=r"m\.csv:3: .*file not found"):
        load_dataset(manifest, LoadOptions(strict=True))


@pytest.mark.parametrize(
    "header, strict, keep, error",
    [
        pytest.param("audios,transcription,mic", True, (), "unknown column 'mic'", id="strict-unknown-column-fails"),
        pytest.param("audios,transcription,mic", True, ("mic",), None, id="strict-kept-column-loads"),
        pytest.param("audios,transcription,mic,room", True, ("mic",), "unknown column 'room'", id="strict-only-listed-columns-kept"),
        pytest.param("audios,transcription,mic", False, (), None, id="lenient-extra-column-is-a-slice"),
        pytest.param("id,audios,transcription,accent,language,speaker", True, (), None, id="strict-known-columns-are-not-unknown"),
        pytest.param("utt_id,path,sentence,accents,locale,client_id", True, (), None, id="strict-aliases-are-not-unknown"),
    ],
)
def test_unknown_columns_in_strict_mode(make_audio, make_file, header, strict, keep, error):
    make_audio("audio/a.wav")
    columns = header.split(",")
    values = {"audios": "audio/a.wav", "path": "audio/a.wav", "transcription": "hello there", "sentence": "hello there"}
    manifest = make_file("m.csv", csv_text(columns, [[values.get(c, "x") for c in columns]]))
    options = LoadOptions(strict=strict, keep_columns=keep)
    if error:
        with pytest.raises(BadInputError, match=error) as info:
            load_dataset(manifest, options)
        assert str(info.value).startswith(f"{manifest}: ") and "--keep-column" in str(info.value)
        return
    ds = load_dataset(manifest, options)
    assert len(ds.utterances) == 1 and ds.problems == ()
    extras = [c for c in columns if c in ("mic", "room")]
    assert all(c in ds.utterances[0].slices for c in extras)


# --------------------------------------------------------------------------- file-level errors

LATIN1_CSV = "audios,transcription\naudio/a.wav,hello\naudio/b.wav,caf\xe9\n".encode("latin-1")

FILE_ERRORS = [
    # name (None: a missing path), content (None: a folder), fragments the one-line message must contain
    pytest.param("m.csv", LATIN1_CSV, ["m.csv:3:", "not valid UTF-8", "0xe9"], id="csv-latin1"),
    pytest.param("m.tsv", LATIN1_CSV.replace(b",", b"\t"), ["m.tsv:3:", "not valid UTF-8"], id="tsv-latin1"),
    pytest.param("m.jsonl", '{"audio": "a.wav", "text": "hi"}\n{"audio": "b.wav", "text": "caf\xe9"}\n'.encode("latin-1"), ["m.jsonl:2:", "not valid UTF-8"], id="jsonl-latin1"),
    # what spreadsheet programs save as "Unicode text": named, not "byte 0xff" or a missing column
    pytest.param("m.csv", "audios,transcription\naudio/a.wav,hello\n".encode("utf-16"), ["m.csv: file is UTF-16; save it as UTF-8"], id="utf-16-bom"),
    pytest.param("m.tsv", "audios\ttranscription\naudio/a.wav\thello\n".encode("utf-16-le"), ["m.tsv: file is UTF-16 (without a byte-order mark); save it as UTF-8"], id="utf-16-le-no-bom"),
    pytest.param("m.jsonl", '{"audio": "a.wav", "text": "hi"}\n'.encode("utf-16-be"), ["file is UTF-16", "save it as UTF-8"], id="utf-16-be-no-bom"),
    pytest.param(
        "m.csv", "audios,words\naudio/a.wav,hello\n",
        ["missing required text column", "transcription, text, sentence, transcript, reference", "found: audios, words"],
        id="csv-no-transcript-column",
    ),
    pytest.param(
        "m.csv", "id,transcription\nu1,hello\n", ["missing required audio column", "audios, audio, path, file"],
        id="csv-no-audio-column",
    ),
    pytest.param(
        "m.jsonl", '{"audio": "a.wav", "words": "hello"}\n', ["missing required text column", "transcription, text, sentence"],
        id="jsonl-no-transcript-key",
    ),
    pytest.param("m.csv", "", ["empty manifest"], id="empty-csv"),
    pytest.param("m.jsonl", "\n\n", ["empty manifest"], id="blank-jsonl"),
    pytest.param(
        "m.jsonl", '{"audio": "a.wav", "text": }\n{broken\n', ["m.jsonl:1:", "not valid JSON"], id="jsonl-every-line-invalid",
    ),
    pytest.param("m.xlsx", "not a manifest", ["unknown manifest type '.xlsx'"], id="unknown-suffix"),
    pytest.param(None, None, ["no such file or folder"], id="missing-path"),
    pytest.param("empty-folder", None, ["no audio files"], id="folder-without-audio"),
    pytest.param("broken-hf/state.json", "{not json", ["cannot load Hugging Face dataset"], id="broken-hf-folder"),
]


@pytest.mark.parametrize("name, content, fragments", FILE_ERRORS)
def test_file_level_errors_are_one_line_and_name_the_file(tmp_path, make_file, name, content, fragments):
    if name is None:
        spec = tmp_path / "nowhere.csv"
    elif content is None:
        spec = tmp_path / name
        spec.mkdir()
    else:
        spec = make_file(name, content)
        if spec.name == "state.json":
            spec = spec.parent
    with pytest.raises(BadInputError) as info:
        load_dataset(spec)
    message = str(info.value)
    assert "\n" not in message
    assert str(spec) in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"check_audio": "sometimes"}, id="bad-check-audio"),
        pytest.param({"min_duration_s": -1}, id="negative-minimum"),
        pytest.param({"min_duration_s": 5, "max_duration_s": 5}, id="maximum-not-above-minimum"),
    ],
)
def test_load_options_reject_bad_values(kwargs):
    with pytest.raises(ValueError):
        LoadOptions(**kwargs)


def test_progress_reports_done_and_total(make_audio, make_file):
    for name in ("a", "b", "c"):
        make_audio(f"{name}.wav")
    calls = []
    load_dataset(make_file("m.csv", "audio,text\na.wav,one\nb.wav,two\nc.wav,three\n"), progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (3, 3)


def test_in_memory_source_needs_exactly_one_of_path_or_data():
    with pytest.raises(ValueError):
        AudioSource()
    with pytest.raises(ValueError):
        AudioSource(path="a.wav", data=b"x")


def test_no_speech_rows_need_an_empty_transcript(tmp_path, make_audio):
    make_audio("audio/a.wav")
    make_audio("audio/b.wav")
    make_audio("audio/c.wav")
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "audios,transcription,no_speech\n"
        "audio/a.wav,,yes\n"  # a silence clip: kept, empty reference
        "audio/b.wav,hello there,yes\n"  # contradiction: excluded
        "audio/c.wav,,no\n"  # ordinary row with no transcript: excluded
    )
    ds = load_dataset(manifest)
    assert [u.id for u in ds.utterances] == ["audio/a.wav"]
    assert ds.utterances[0].no_speech and ds.utterances[0].reference == ""
    reasons = [p.reason for p in ds.problems]
    assert any("no-speech row has a transcript" in r for r in reasons)
    assert any(r.startswith("empty transcript") for r in reasons)


# --------------------------------------------------------------------------- no valid row at all


def test_paths_relative_to_the_working_directory_get_the_reasons_and_a_hint(tmp_path, make_audio, make_file, monkeypatch):
    """The most common reason for "no valid utterances": the manifest was written from the
    folder above it, so its paths include the manifest's own folder name."""
    names = [f"clip{i}.wav" for i in range(7)]
    for name in names:
        make_audio(f"data/audio/{name}")
    manifest = make_file("data/m.csv", csv_text(["audios", "transcription"], [[f"data/audio/{n}", "hello"] for n in names]))
    from workbench.manifest import no_valid_rows_message

    monkeypatch.chdir(tmp_path)
    ds = load_dataset(manifest)
    assert ds.utterances == () and ds.rows_read == 7
    assert [(p.row, p.field, p.reason) for p in ds.problems] == [(2 + i, "audios", f"file not found: data/audio/{n}") for i, n in enumerate(names)]
    assert ds.hint.startswith(f"audio paths are resolved relative to the manifest's folder ({tmp_path / 'data'})")
    assert "7 of the 7 missing files exist relative to the current folder" in ds.hint

    lines = no_valid_rows_message(ds).split("\n")
    assert lines[0] == f"{manifest}: no valid utterances (7 rows read, all excluded)"
    assert lines[1:6] == [f"  {manifest}:{2 + i}: audios: file not found: data/audio/{n}" for i, n in enumerate(names[:5])]
    assert lines[6] == "  ... and 2 more (2 file not found)"
    assert lines[7] == f"  hint: {ds.hint}"


def test_no_hint_when_the_files_are_missing_everywhere(tmp_path, make_file, monkeypatch):
    manifest = make_file("data/m.csv", csv_text(["audios", "transcription"], [["audio/a.wav", "hi"], ["audio/b.wav", "hello"]]))
    from workbench.manifest import no_valid_rows_message

    monkeypatch.chdir(tmp_path)
    ds = load_dataset(manifest)
    assert ds.utterances == () and ds.hint == ""
    message = no_valid_rows_message(ds)
    assert message.split("\n") == [
        f"{manifest}: no valid utterances (2 rows read, all excluded)",
        f"  {manifest}:2: audios: file not found: audio/a.wav",
        f"  {manifest}:3: audios: file not found: audio/b.wav",
    ]


def test_every_row_invalid_for_different_reasons_lists_them(make_audio, make_file):
    make_audio("audio/short.wav", 0.4)
    make_file("audio/notes.wav", "not audio\n")
    from workbench.manifest import no_valid_rows_message

    manifest = make_file("m.csv", "audios,transcription\naudio/short.wav,hello\naudio/notes.wav,hi\naudio/x.wav,\n")
    ds = load_dataset(manifest)
    lines = no_valid_rows_message(ds).split("\n")
    assert lines[0].endswith("no valid utterances (3 rows read, all excluded)")
    assert [line.split(": ", 2)[1:] for line in lines[1:]] == [
        ["audios", "audio too short (0.40 s < 1 s)"],
        ["audios", "not an audio file (it holds text: 'not audio'): audio/notes.wav"],
        ["transcription", "empty transcript"],
    ]


def test_a_header_without_rows_says_so(make_file):
    from workbench.manifest import no_valid_rows_message

    ds = load_dataset(make_file("m.csv", "audios,transcription\n"))
    assert no_valid_rows_message(ds) == f"{ds.source}: no valid utterances (no data rows)"
