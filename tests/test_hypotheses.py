"""workbench.hypotheses: load_hypotheses (CSV/TSV/JSONL) and match_hypotheses (by id or path)."""

import csv
import io
import json
import os

import pytest

from workbench.errors import BadInputError
from workbench.hypotheses import load_hypotheses, match_hypotheses
from workbench.manifest import LoadOptions, load_dataset

HYPS = {"u1": "hello there", "u2": "good morning, sir", "u3": ""}  # u3: an empty hypothesis is still a hypothesis
AUDIO = {"u1": "audio/a.wav", "u2": "audio/b.wav", "u3": "audio/c.wav"}


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    (folder / "audio").mkdir(parents=True)
    return folder


def load_utterances(data_dir, with_id: bool):
    """Three utterances; ids are u1..u3, or the audio paths when the manifest has no id column."""
    header = ["id", "audios", "transcription"] if with_id else ["audios", "transcription"]
    rows = [([uid] if with_id else []) + [AUDIO[uid], f"reference {uid}"] for uid in AUDIO]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header] + rows)
    (data_dir / "manifest.csv").write_text(buffer.getvalue(), encoding="utf-8")
    return load_dataset(data_dir / "manifest.csv", LoadOptions(check_audio="none")).utterances


def write_hyps(path, key_column, text_column, rows):
    """rows: [(key, text)]; the format follows the suffix."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({key_column: k, text_column: t}) + "\n" for k, t in rows), encoding="utf-8")
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter="\t" if path.suffix == ".tsv" else ",", lineterminator="\n")
        writer.writerows([[key_column, text_column]] + [list(r) for r in rows])
        path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def key_for(kind, uid, data_dir, tmp_path):
    if kind == "id":
        return uid
    if kind == "path-as-written":
        return AUDIO[uid]
    if kind == "absolute-path":
        return str(data_dir / AUDIO[uid])
    link = tmp_path / "linked"  # absolute path through a symlink to the data folder
    if not link.exists():
        os.symlink(data_dir, link)
    return str(link / AUDIO[uid])


# --------------------------------------------------------------------------- matching by key kind


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
@pytest.mark.parametrize(
    "key_kind, key_column, with_id",
    [
        pytest.param("id", "id", True, id="by-id"),
        pytest.param("path-as-written", "audio", True, id="by-manifest-path-with-id-column"),
        pytest.param("path-as-written", "audio", False, id="by-manifest-path-no-id-column"),
        pytest.param("absolute-path", "path", True, id="by-absolute-path"),
        pytest.param("absolute-path", "path", False, id="by-absolute-path-no-id-column"),
        pytest.param("symlinked-path", "path", True, id="by-absolute-path-through-symlink"),
    ],
)
def test_hypotheses_match_by_id_or_path(tmp_path, data_dir, suffix, key_kind, key_column, with_id):
    utterances = load_utterances(data_dir, with_id)
    rows = [(key_for(key_kind, uid, data_dir, tmp_path), text) for uid, text in HYPS.items()]
    hyps = load_hypotheses(write_hyps(tmp_path / f"hyps{suffix}", key_column, "hypothesis", rows))

    assert hyps.problems == ()
    matched, problems = match_hypotheses(hyps, utterances)

    assert problems == []
    assert matched == {u.id: HYPS[uid] for u, uid in zip(utterances, AUDIO)}


@pytest.mark.parametrize(
    "key_column, text_column",
    [
        pytest.param("id", "hypothesis", id="id-hypothesis"),
        pytest.param("utt_id", "hyp", id="utt_id-hyp"),
        pytest.param("utterance_id", "prediction", id="utterance_id-prediction"),
        pytest.param("key", "pred", id="key-pred"),
        pytest.param("ID", "Text", id="case-insensitive"),
        pytest.param("uttid", "transcription", id="uttid-transcription"),
        pytest.param("id", "transcript", id="id-transcript"),
    ],
)
def test_hypothesis_column_aliases(tmp_path, data_dir, key_column, text_column):
    utterances = load_utterances(data_dir, with_id=True)
    hyps = load_hypotheses(write_hyps(tmp_path / "hyps.csv", key_column, text_column, list(HYPS.items())))
    matched, problems = match_hypotheses(hyps, utterances)
    assert (matched, problems) == (HYPS, [])


# --------------------------------------------------------------------------- reported problems

PROBLEM_CASES = [
    # hypothesis rows, expected matched, expected problems as (stage, row, reason fragment, kind, utterance id)
    pytest.param(
        [("u1", "hello there"), ("u2", "good morning")],
        {"u1": "hello there", "u2": "good morning"},
        [("match", None, "missing hypothesis for utterance 'u3' (no row has its id or audio path)", "warning", "u3")],
        id="missing-hypothesis",
    ),
    pytest.param(
        [("u1", "a"), ("u2", "b"), ("u3", "c"), ("u9", "typo")],
        {"u1": "a", "u2": "b", "u3": "c"},
        [("match", 5, "key 'u9' matches no utterance", "warning", None)],
        id="unknown-key",
    ),
    pytest.param(
        [("u1", "first"), ("u2", "b"), ("u1", "second"), ("u3", "c")],
        {"u1": "first", "u2": "b", "u3": "c"},
        [("load", 4, "duplicate key 'u1' (first at row {first}); the first is used", "warning", None)],
        id="duplicate-key-first-wins",
    ),
    pytest.param(
        [("u1", "a"), ("", "no key"), ("u2", "b"), ("u3", "c")],
        {"u1": "a", "u2": "b", "u3": "c"},
        [("load", 3, "empty key", "error", None)],
        id="empty-key",
    ),
    pytest.param(
        [("u1", "a"), ("u2", "b"), ("u3", "c"), ("audio/a.wav", "by path too")],
        {"u1": "a", "u2": "b", "u3": "c"},
        [("match", 5, "two hypotheses for utterance 'u1' (keys 'u1' at row {first} and 'audio/a.wav' at row {last})", "warning", "u1")],
        id="same-utterance-by-id-and-by-path",
    ),
]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
@pytest.mark.parametrize("rows, expected_matched, expected_problems", PROBLEM_CASES)
def test_hypothesis_problems_are_reported(tmp_path, data_dir, suffix, rows, expected_matched, expected_problems):
    utterances = load_utterances(data_dir, with_id=True)
    path = write_hyps(tmp_path / f"hyps{suffix}", "id", "hypothesis", rows)
    hyps = load_hypotheses(path)
    matched, match_problems = match_hypotheses(hyps, utterances)

    assert matched == expected_matched
    found = [("load", p) for p in hyps.problems] + [("match", p) for p in match_problems]
    assert len(found) == len(expected_problems)
    offset = 0 if suffix == ".csv" else -1  # JSONL has no header line
    for (stage, problem), (want_stage, row, fragment, kind, utterance_id) in zip(found, expected_problems):
        assert stage == want_stage
        assert problem.source == str(path)
        assert problem.row == (None if row is None else row + offset)
        assert fragment.format(first=2 + offset, last=5 + offset) in problem.reason
        assert problem.kind == kind
        assert problem.utterance_id == utterance_id


@pytest.mark.parametrize(
    "lines, row, reason",
    [
        pytest.param(['{"id": "u1", "hyp": "a"}', '{"id": "u2", "hyp": ', '{"id": "u3", "hyp": "c"}'], 2, "not valid JSON", id="bad-json-line"),
        pytest.param(['{"id": "u1", "hyp": "a"}', "", '["u2", "b"]', '{"id": "u3", "hyp": "c"}'], 3, "expected a JSON object", id="not-an-object-after-blank"),
    ],
)
def test_jsonl_bad_lines_are_reported_with_line_numbers(tmp_path, data_dir, lines, row, reason):
    utterances = load_utterances(data_dir, with_id=True)
    path = tmp_path / "h.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    hyps = load_hypotheses(path)
    assert hyps.by_key == {"u1": "a", "u3": "c"}
    assert [p.row for p in hyps.problems] == [row]
    assert reason in hyps.problems[0].reason
    _, problems = match_hypotheses(hyps, utterances)
    assert [p.utterance_id for p in problems] == ["u2"]  # the lost line's utterance is reported as missing


@pytest.mark.parametrize(
    "content, by_key, row, reason",
    [
        # An unquoted comma must not silently truncate a hypothesis ('hello, world' -> 'hello').
        pytest.param("id,hypothesis\nu1,hello, world\nu2,fine\n", {"u2": "fine"}, 2, "row has 3 fields, the header has 2", id="too-many-fields"),
        pytest.param("id,hypothesis\nu1\nu2,fine\n", {"u2": "fine"}, 2, "row has 1 fields, the header has 2", id="too-few-fields"),
        # Blank lines still count towards line numbers.
        pytest.param("id,hypothesis\nu1,a\n\nu2,b\nu2,c\n", {"u1": "a", "u2": "b"}, 5, "duplicate key 'u2' (first at row 4)", id="row-numbers-count-blank-lines"),
        pytest.param('id,hypothesis\nu1,"a\nb"\nu2,b\nu2,c\n', {"u1": "a\nb", "u2": "b"}, 5, "duplicate key 'u2' (first at row 4)", id="row-numbers-after-multiline-field"),
        pytest.param("id\thypothesis\nu1\thello, world\nu1\tagain\n", {"u1": "hello, world"}, 3, "duplicate key 'u1' (first at row 2)", id="tsv-commas-are-text"),
    ],
)
def test_delimited_row_problems_name_their_line(tmp_path, content, by_key, row, reason):
    path = tmp_path / ("h.tsv" if "\t" in content else "h.csv")
    path.write_text(content, encoding="utf-8")
    hyps = load_hypotheses(path)
    assert hyps.by_key == by_key
    assert [p.row for p in hyps.problems] == [row]
    assert reason in hyps.problems[0].reason


# --------------------------------------------------------------------------- file-level errors


@pytest.mark.parametrize(
    "name, content, fragments",
    [
        pytest.param("h.csv", "id,words\nu1,hello\n", ["missing hypothesis column", "hypothesis, hyp, prediction, pred, text", "found: id, words"], id="csv-no-text-column"),
        pytest.param("h.csv", "name,hypothesis\nu1,hello\n", ["missing key column", "id, utt_id, utterance_id, uttid, key, audios, audio, path", "found: name, hypothesis"], id="csv-no-key-column"),
        pytest.param("h.tsv", "id\twords\nu1\thello\n", ["missing hypothesis column", "hypothesis, hyp"], id="tsv-no-text-column"),
        pytest.param("h.jsonl", '{"id": "u1", "words": "hello"}\n', ["missing hypothesis column", "hypothesis, hyp"], id="jsonl-no-text-key"),
        pytest.param("h.jsonl", '{"name": "u1", "hyp": "hello"}\n', ["missing key column", "id, utt_id"], id="jsonl-no-key-key"),
        pytest.param("h.csv", "", ["missing key column", "found: none"], id="empty-file"),
        pytest.param("h.csv", "id,hyp\nu1,caf\xe9\n".encode("latin-1"), ["h.csv:2:", "not valid UTF-8"], id="latin1-bytes"),
        pytest.param("h.csv", "id,hyp\nu1,hello\n".encode("utf-16"), ["h.csv: file is UTF-16; save it as UTF-8"], id="utf-16-bom"),
        pytest.param("h.jsonl", '{"id": "u1", "hyp": "hi"}\n'.encode("utf-16-le"), ["file is UTF-16 (without a byte-order mark); save it as UTF-8"], id="utf-16-no-bom"),
        pytest.param(None, None, ["no such hypotheses file"], id="missing-file"),
    ],
)
def test_unusable_hypotheses_file_is_one_line_bad_input(tmp_path, name, content, fragments):
    path = tmp_path / (name or "absent.csv")
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(BadInputError) as info:
        load_hypotheses(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message


# --------------------------------------------------------------------------- missing vs unparsable vs unmatched


@pytest.mark.parametrize(
    "name, content, bad_row",
    [
        # the key comes before the hypothesis, so the broken row still says whose it was
        pytest.param("h.csv", "id,hypothesis\nu1,hello there\nu2,good morning, sir\nu3,\n", 3, id="csv-unquoted-comma"),
        pytest.param("h.tsv", "id\thypothesis\nu1\thello there\nu2\n\nu3\t\n", 3, id="tsv-missing-field"),
        pytest.param("h.jsonl", '{"id": "u1", "hyp": "hello there"}\n{"id": "u2", "hyp": "good morning\n{"id": "u3", "hyp": ""}\n', 2, id="jsonl-broken-line"),
        pytest.param("h.jsonl", '{"id": "u1", "hyp": "hello there"}\n{"id": "u2"}\n{"id": "u3", "hyp": ""}\n', 2, id="jsonl-no-hypothesis-field"),
        pytest.param("h.jsonl", '{"id": "u1", "hyp": "hello there"}\n{"id": "u2", "hyp": ["good"]}\n{"id": "u3", "hyp": ""}\n', 2, id="jsonl-list-not-text"),
    ],
)
def test_an_unparsable_row_marks_its_utterance_missing_not_empty(tmp_path, data_dir, name, content, bad_row):
    """Before, the utterance of a broken row was scored as an empty hypothesis: all deletions."""
    from workbench.hypotheses import match_report

    utterances = load_utterances(data_dir, with_id=True)
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    hyps = load_hypotheses(path)
    assert [p.row for p in hyps.problems] == [bad_row] and hyps.problems[0].kind == "error"
    assert hyps.unparsable == ((bad_row, "u2"),)
    report = match_report(hyps, utterances)
    assert report.matched == {"u1": "hello there", "u3": ""}  # an empty hypothesis stays a hypothesis
    assert "u2" not in report.matched
    assert report.missing == ("u2",) and report.unparsable == {"u2": bad_row}
    assert report.unmatched_keys == () and not report.none_matched
    (problem,) = report.problems
    assert (problem.source, problem.row, problem.utterance_id) == (str(path), bad_row, "u2")
    assert problem.reason == f"missing hypothesis for utterance 'u2': its row {bad_row} could not be parsed"
    # the old interface gives the same facts
    matched, problems = match_hypotheses(hyps, utterances)
    assert matched == report.matched and problems == list(report.problems)


def test_missing_unparsable_and_unmatched_are_told_apart_with_rows(tmp_path, data_dir):
    from workbench.hypotheses import match_report

    utterances = load_utterances(data_dir, with_id=True)
    path = tmp_path / "h.csv"
    # row 2: u1 fine; row 3: unparsable, its key unknown (key after the text); row 4: a typo'd key
    path.write_text("hypothesis,id\nhello,u1\nhi, there,u2\nmorning,u9\n", encoding="utf-8")
    report = match_report(load_hypotheses(path), utterances)
    assert report.matched == {"u1": "hello"}
    assert report.missing == ("u2", "u3") and report.unparsable == {}  # no guessing which row was u2's
    assert report.unmatched_keys == (("u9", 4),)
    assert [(p.row, p.utterance_id) for p in report.problems] == [(4, None), (None, "u2"), (None, "u3")]


@pytest.mark.parametrize("with_id", [True, False], ids=["ids", "paths"])
def test_zero_matched_keys_are_detectable_with_a_hint(tmp_path, data_dir, with_id):
    from workbench.hypotheses import match_report, no_match_message

    utterances = load_utterances(data_dir, with_id=with_id)
    path = write_hyps(tmp_path / "h.csv", "id", "hypothesis", [("clip-1", "a"), ("clip-2", "b")])
    report = match_report(load_hypotheses(path), utterances)
    assert report.none_matched and report.matched == {}
    assert report.unmatched_keys == (("clip-1", 2), ("clip-2", 3))
    assert set(report.missing) == {u.id for u in utterances}
    message = no_match_message(report, utterances)
    assert "\n" not in message and message.startswith(f"{path}: no hypothesis key matches")
    assert "'clip-1'" in message and repr(utterances[0].id) in message and "hint:" in message
    # a file that matches something is not "none matched", and no data is not either
    assert not match_report(load_hypotheses(path), []).none_matched


def test_a_jsonl_file_with_no_readable_line_is_one_line_bad_input(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"id": "u1", "hyp": \n{"id": "u2"\n', encoding="utf-8")
    with pytest.raises(BadInputError, match=r"h\.jsonl:1: not valid JSON .*no readable record"):
        load_hypotheses(path)
