"""NIST SCTK interoperability: trn/ctm/stm read and written, scored through the one path.

The fixtures under tests/fixtures/sctk/ are written by hand, with the expected counts
worked out by hand in their comments; the tests check the workbench gets exactly those.
Then every export format is read back and must give identical scores.
"""

import json
import shutil
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.errors import BadInputError
from workbench.exit_codes import ExitCode
from workbench.runstore import RunStore
from workbench.sctk_formats import parse_ctm, parse_stm, parse_trn, segment_id, speaker_prefixed_id, uses_alternations
from workbench.sctk_import import load_references
from workbench.service import example_paths

FIXTURES = Path(__file__).parent / "fixtures" / "sctk"
MINI = Path(example_paths()[0]).parent
MINI_ARGS = ("--bootstrap", "200", "--slices", "accent,language,speaker")


def _score(tmp_path, *args) -> dict:
    """`workbench score ... --json` -> the report."""
    out = tmp_path / f"report-{len(list(tmp_path.glob('report-*.json')))}.json"
    code = main(["score", *map(str, args), "--workspace", str(tmp_path / "ws"), "--json", str(out)])
    assert code == ExitCode.OK
    return json.loads(out.read_text())


def _overall(report: dict) -> dict:
    return report["scores"]["normalized"]["overall"]


def _slice(report: dict, column: str, value: str) -> dict:
    return next(s for s in report["scores"]["normalized"]["slices"] if s["column"] == column and s["value"] == value)


# --------------------------------------------------------------------------- the readers


@pytest.mark.parametrize("text, ids, problem", [
    ("a b (x1)\n", ["x1"], None),
    (";; comment\n\nhello  there (s-u1)\n", ["s-u1"], None),
    ("(empty)\n", ["empty"], None),  # an empty transcript: an utterance with nothing said
    ("he said (quietly) (u2)\n", ["u2"], None),  # the LAST parenthesised group is the id
    ("no id here\nok (u3)\n", ["u3"], "<trn>:1: expected 'words (utterance-id)'"),
    ("text (two words)\n", [], "<trn>:1: utterance id 'two words' has whitespace"),
    ("text ()\n", [], "<trn>:1: an empty utterance id"),
])
def test_trn_lines(text, ids, problem):
    parsed = parse_trn(text)
    assert [line.id for line in parsed.lines] == ids
    if problem is None:
        assert not parsed.problems
    else:
        assert len(parsed.problems) == 1 and str(parsed.problems[0]).startswith(problem)


@pytest.mark.parametrize("line, problem", [
    ("f A 0.5 0.2 word", None),
    ("f A 0.5 0.2 word 0.93", None),
    ("f A 0.5 word", "expected 'file channel begin duration word [confidence]' (5 or 6 fields), found 4"),
    ("f A x 0.2 word", "begin and duration must be seconds, found 'x' and '0.2'"),
    ("f A -1 0.2 word", "begin and duration must not be negative"),
    ("f A 0.5 0.2 word high", "confidence must be a number, found 'high'"),
    ("f A * * <ALT_BEGIN>", "ctm alternations (<ALT_BEGIN>) are not supported"),
    ("f A nan 0.2 word", "begin and duration must be seconds"),
])
def test_ctm_lines(line, problem):
    parsed = parse_ctm(f";; header\n{line}\n", "h.ctm")
    if problem is None:
        assert len(parsed.words) == 1 and not parsed.problems and parsed.words[0].midpoint == pytest.approx(0.6)
    else:
        assert not parsed.words and str(parsed.problems[0]).startswith(f"h.ctm:2: {problem}")
        assert parsed.broken == ((2, ("f", "A")),)  # the recording it belonged to is known


@pytest.mark.parametrize("line, problem", [
    ("f A spk 1.0 2.0 hello there", None),
    ("f A spk 1.0 2.0 <o,f0> hello", None),
    ("f A spk 1.0 2.0", None),  # no transcript: a segment where nothing is said
    ("f A spk 1.0", "expected 'file channel speaker begin end [<labels>] transcript'"),
    ("f A spk 1.0 x hi", "begin and end times must be seconds, found '1.0' and 'x'"),
    ("f A spk 2.0 1.0 hi", "segment ends before it starts (2.0 to 1.0)"),
    ("f A spk 1.0 2.0 <o,f0 hi>", "labels must be one <a,b,...> field without spaces"),
])
def test_stm_lines(line, problem):
    parsed = parse_stm(f";; c\n{line}\n", "r.stm")
    if problem is None:
        assert len(parsed.segments) == 1 and not parsed.problems
    else:
        assert not parsed.segments and str(parsed.problems[0]).startswith(f"r.stm:2: {problem}")


def test_stm_definitions_labels_and_ignored_segments():
    stm = parse_stm((FIXTURES / "ref.stm").read_text(), "ref.stm")
    assert [(c.index, c.heading) for c in stm.categories] == [(0, ""), (1, "gender")]
    assert stm.label("f").heading == "female"  # label ids match without regard to case, as in sclite
    assert [s.ignored for s in stm.segments] == [False, False, True, False, False]
    assert stm.segments[0].labels == ("O", "F") and stm.segments[0].text == "the patient is stable"


@pytest.mark.parametrize("text, alternates", [
    ("i've { um / uh / @ } as far", True), ("I am a (farmer)", True), ("a @ b", True),
    ("plain words", False), ("email me @home", False), ("(laughs)", True),
])
def test_alternations_are_recognised(text, alternates):
    assert uses_alternations(text) is alternates


def test_ids_follow_sclite_and_kaldi_conventions():
    assert speaker_prefixed_id("piper-joe_en us", "audio/a.ogg") == "piper.joe.en.us-audio/a.ogg"  # spu_id: code up to the first - or _
    assert speaker_prefixed_id(None, "u1") == "u1"
    assert segment_id("rec", "A", 1.234, 5.0, single=False) == "rec-0000123-0000500"
    assert segment_id("rec", "A", 1.234, 5.0, single=True) == "rec"
    assert segment_id("rec", "B", 0, 1, single=True, channels_of_file=2) == "rec-B"


# --------------------------------------------------------------------------- hand-checked scores


def test_trn_references_and_hypotheses_score_as_counted_by_hand(tmp_path, capsys):
    report = _score(tmp_path, "--data", FIXTURES / "ref.trn", "--hyp", FIXTURES / "hyp.trn", "--bootstrap", "0")
    overall = _overall(report)
    # hyp.trn's comment: 1 deletion, 1 substitution, 1 insertion over 6 + 2 + 4 reference words
    assert (overall["utterances"], overall["ref_words"]) == (3, 12)
    assert (overall["substitutions"], overall["deletions"], overall["insertions"]) == (1, 1, 1)
    assert overall["wer"] == pytest.approx(3 / 12)
    assert report["coverage"]["no_speech_clips"] == 1 and report["hallucination"]["words"] == 1
    problems = report["data"]["problems"] + report["hypotheses"]["problems"]
    assert any(p.startswith(f"{FIXTURES / 'ref.trn'}:6: expected 'words (utterance-id)'") for p in problems)
    assert any(p.startswith(f"{FIXTURES / 'ref.trn'}:7: sclite alternations") for p in problems)
    assert any(p.startswith(f"{FIXTURES / 'hyp.trn'}:13: expected 'words (utterance-id)'") for p in problems)


def test_ctm_hypotheses_are_placed_in_stm_segments_by_time(tmp_path):
    report = _score(tmp_path, "--data", FIXTURES / "ref.stm", "--hyp", FIXTURES / "hyp.ctm", "--bootstrap", "0",
                    "--slices", "gender")
    overall = _overall(report)
    # hyp.ctm's comment: S 2, D 1, I 1 over 13 words; "um" in the ignored stretch is not scored
    assert (overall["utterances"], overall["ref_words"]) == (4, 13)
    assert (overall["substitutions"], overall["deletions"], overall["insertions"]) == (2, 1, 1)
    assert _slice(report, "gender", "female")["wer"] == pytest.approx(3 / 10)
    assert _slice(report, "gender", "male")["wer"] == pytest.approx(1 / 3)
    # the malformed stm line is reported and the rest kept; the late word is a warning
    assert any(":14: begin and end times must be seconds, found '3.00' and 'oops'" in p for p in report["data"]["problems"])
    assert any(":19: 1 word(s) of recording rec1 channel A end after its last reference segment" in p
               for p in report["hypotheses"]["problems"])
    with RunStore(tmp_path / "ws") as store:
        rows = {h.utterance_id: h for h in store.hypotheses(report["run_id"])}
    assert rows["rec1-0000250-0000400"].hypothesis == "give him"
    assert rows["rec1-0000600-0000800"].hypothesis == "call me tomorrow bye"
    assert rows["rec2"].extra["ctm_words"][0] == [0.2, 0.4, "no", 0.9]  # kept, to export again


def test_a_malformed_ctm_line_makes_its_recording_missing_not_empty(tmp_path):
    report = _score(tmp_path, "--data", FIXTURES / "ref.stm", "--hyp", FIXTURES / "broken.ctm", "--bootstrap", "0")
    assert report["coverage"]["speech_scored"] == 1 and report["coverage"]["missing"] == 3
    assert _overall(report)["wer"] == 0.0
    assert sum("its row 5 could not be parsed" in p for p in report["hypotheses"]["problems"]) == 3


def test_references_strict_and_without_audio(tmp_path):
    with pytest.raises(BadInputError, match=r"ref\.trn:6: expected 'words \(utterance-id\)'"):
        load_references(FIXTURES / "ref.trn", strict=True)
    dataset = load_references(FIXTURES / "ref.stm", language="en")
    assert [u.id for u in dataset.utterances] == ["rec1-0000000-0000200", "rec1-0000250-0000400", "rec1-0000600-0000800", "rec2"]
    assert dataset.utterances[0].slices["language"] == "en" and dataset.utterances[0].slices["gender"] == "female"
    assert dataset.excluded == 1  # the 'oops' line; the ignored stretch was never an utterance
    code = main(["bench", "--data", str(FIXTURES / "ref.stm"), "--model", "tiny.en", "--workspace", str(tmp_path / "ws")])
    assert code == ExitCode.BAD_INPUT  # no audio to decode: said before any model loads


# --------------------------------------------------------------------------- round trips


def _counts(report: dict) -> list[tuple]:
    """Every slice's counts and WER, raw and normalized (what must survive a round trip)."""
    out = []
    for kind in ("normalized", "raw"):
        card = report["scores"][kind]
        for s in [card["overall"], *card["slices"]]:
            out.append((kind, s["column"], s["value"], s["utterances"], s["ref_words"], s["substitutions"], s["deletions"],
                        s["insertions"], s["char_errors"], s["wer"], s["cer"]))
    return out


def _export(tmp_path, run_id: str, fmt: str, *extra) -> Path:
    target = tmp_path / "out" / f"run.{fmt}"
    assert main(["export", run_id, "--format", fmt, "-o", str(target), "--workspace", str(tmp_path / "ws"), *extra]) == ExitCode.OK
    return target


def test_a_scored_ctm_run_exports_and_reads_back_identically(tmp_path):
    args = ("--bootstrap", "200", "--slices", "gender")
    first = _score(tmp_path, "--data", FIXTURES / "ref.stm", "--hyp", FIXTURES / "hyp.ctm", *args)
    stm, ctm = _export(tmp_path, first["run_id"], "stm"), _export(tmp_path, first["run_id"], "ctm")
    again = _score(tmp_path, "--data", stm, "--hyp", ctm, *args)
    # the same utterance ids, so even the bootstrap intervals (seeded by the ids) are identical
    assert again["scores"] == first["scores"] and again["coverage"]["speech_scored"] == 4
    jsonl, csv = _export(tmp_path, first["run_id"], "jsonl"), _export(tmp_path, first["run_id"], "csv")
    for hyp in (jsonl, csv):
        assert _score(tmp_path, "--data", FIXTURES / "ref.stm", "--hyp", hyp, *args)["scores"] == first["scores"]
    trn = _export(tmp_path, first["run_id"], "trn")
    back = _score(tmp_path, "--data", trn.with_suffix(".ref.trn"), "--hyp", trn.with_suffix(".hyp.trn"), "--bootstrap", "200")
    assert _counts(back)[:1] == _counts(first)[:1]  # overall; trn has no slices to carry


@pytest.fixture(scope="module")
def mini_run(tmp_path_factory):
    """The shipped mini example (20 real Whisper transcripts) scored once, with durations."""
    tmp = tmp_path_factory.mktemp("mini")
    manifest, hyps = example_paths()
    report = _score(tmp, "--data", manifest, "--hyp", hyps, *MINI_ARGS)
    return tmp, report


def test_every_export_of_a_manifest_run_reads_back_to_identical_scores(mini_run):
    tmp, first = mini_run
    manifest = MINI / "manifest.csv"
    trn = _export(tmp, first["run_id"], "trn")
    assert "(piper.joe.en.us-audio/en-us-01.flac)" in trn.with_suffix(".hyp.trn").read_text()  # sclite -i spu_id
    for hyp in (_export(tmp, first["run_id"], "jsonl"), _export(tmp, first["run_id"], "csv"), trn.with_suffix(".hyp.trn")):
        assert _score(tmp, "--data", manifest, "--hyp", hyp, *MINI_ARGS)["scores"] == first["scores"]
    # stm references carry the slices (accent, language; the speaker is stm's own field): per-slice scores survive
    # too. SCTK wants stm sorted by file, so the utterances come back in that order: every count is identical, and
    # only the bootstrap intervals (drawn over utterances in order) and which of equally frequent confusion
    # pairs make the top list may differ.
    stm = _export(tmp, first["run_id"], "stm")
    assert ';; CATEGORY "1" "accent"' in stm.read_text()
    back = _score(tmp, "--data", stm, "--hyp", trn.with_suffix(".hyp.trn"), *MINI_ARGS)
    assert _counts(back) == _counts(first)
    # trn references carry no slices, not even the language the auto normalizer goes by (the mini example has
    # en, es and de): the language-blind raw scores are identical
    back = _score(tmp, "--data", trn.with_suffix(".ref.trn"), "--hyp", trn.with_suffix(".hyp.trn"), "--bootstrap", "0")
    raw_overall = [c for c in _counts(first) if c[:2] == ("raw", "overall")]
    assert [c for c in _counts(back) if c[:2] == ("raw", "overall")] == raw_overall


def test_normalized_export_is_what_sclite_would_score(mini_run):
    tmp, first = mini_run
    trn = _export(tmp, first["run_id"], "trn", "--normalized")
    texts = [line.rsplit(" (", 1)[0] for line in trn.with_suffix(".ref.trn").read_text().splitlines()]
    assert texts and not any(mark in text for text in texts for mark in ",.")  # punctuation gone, as the normalizer does
    back = _score(tmp, "--data", trn.with_suffix(".ref.trn"), "--hyp", trn.with_suffix(".hyp.trn"), "--normalizer", "raw",
                  "--bootstrap", "0")
    # raw scoring of the normalized texts = the run's normalized WER (the normalizer is idempotent here)
    assert back["scores"]["normalized"]["overall"]["wer"] == pytest.approx(first["scores"]["normalized"]["overall"]["wer"])


def test_ctm_needs_word_times_and_says_so(mini_run, capsys):
    tmp, first = mini_run
    code = main(["export", first["run_id"], "--format", "ctm", "--workspace", str(tmp / "ws"), "-o", str(tmp / "x.ctm")])
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT and "no word times stored" in err and "export --format trn" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp / "x.ctm").exists()
    code = main(["export", first["run_id"], "--format", "ctm", "--normalized", "--workspace", str(tmp / "ws")])
    assert code == ExitCode.BAD_INPUT and "csrfilt" in capsys.readouterr().err


def test_a_long_recordings_word_times_become_ctm(tmp_path):
    """A decoded long recording stores its words, probabilities and times (faster-whisper);
    the ctm has them, and the stm its timed reference. Built by hand in a store, as such a
    run's rows are (a 3-minute decode is too slow for a unit test)."""
    from workbench.bootstrap import BootstrapOptions
    from workbench.evaluation import EvaluationOptions
    from workbench.runs import score_stored
    from workbench.runstore import StoredHypothesis
    from workbench.service import finish_scored_run

    extra = {"words": [[" Take", 0.9], [" two", 0.8], [" tablets.", 0.6]], "word_times": [[30.0, 30.4], [30.4, 30.7], [30.7, 31.5]],
             "reference_segments": [[29.8, 31.9, "Take two tablets."], [40.0, 42.0, "Bye."]], "duration_s": 60.0}
    rows = [StoredHypothesis("rec-1", "Take two tablets. Bye.", "Take two tablets.", {"language": "en"}, extra)]
    with RunStore(tmp_path / "ws") as store:
        run_id = store.begin_run("bench", {"normalizer": "auto@1"}, {}, normalizer="auto@1")
        store.add_hypotheses(run_id, rows)
        scores = score_stored(store.hypotheses(run_id), EvaluationOptions("auto", (), BootstrapOptions(0)))
        finish_scored_run(store, run_id, scores.evaluation, (), {}, {})
    ctm = _export(tmp_path, run_id, "ctm").read_text().splitlines()
    assert ctm[2:] == ["rec-1 A 30.000 0.400 Take 0.9000", "rec-1 A 30.400 0.300 two 0.8000", "rec-1 A 30.700 0.800 tablets. 0.6000"]
    stm = _export(tmp_path, run_id, "stm").read_text()
    assert "rec-1 A unknown 29.800 31.900 <O,language=en> Take two tablets.\n" in stm
    assert "rec-1 A unknown 40.000 42.000 <O,language=en> Bye.\n" in stm


def test_exports_are_atomic_and_refuse_unwritable_paths(mini_run, capsys):
    tmp, first = mini_run
    folder = tmp / "a-folder.jsonl"
    folder.mkdir()
    code = main(["export", first["run_id"], "--format", "jsonl", "-o", str(folder), "--workspace", str(tmp / "ws")])
    assert code == ExitCode.BAD_INPUT and "is a folder" in capsys.readouterr().err
    out = _export(tmp, first["run_id"], "jsonl")
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary file left behind
    shutil.rmtree(folder)
