"""The regression report on hand-built runs whose answer is known."""

import json
from pathlib import Path

import jsonschema
import pytest

from workbench.cli import main
from workbench.exit_codes import ExitCode
from workbench.regression import ReportOptions, build_report, repetition_loop
from workbench.runstore import RunRecord, RunStore, StoredHypothesis

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "workbench" / "schemas" / "regression-report.v1.json").read_text())

REF = "take one tablet every morning with water"  # 7 words


def record(run_id: str, label: str = "baseline", **config) -> RunRecord:
    return RunRecord(run_id, "bench", "succeeded", "2026-11-21T00:00:00+00:00", None, None, None, None,
                     {"strategy": label, "model": "tiny.en", "backend": "faster-whisper", **config},
                     "sha256:x", None, "raw@1", {}, None, {}, {})


def hyp(i: int, text: str, accent: str, language: str = "en", reference: str = REF, **extra) -> StoredHypothesis:
    return StoredHypothesis(f"u{i:03d}", reference, text, {"accent": accent, "language": language}, extra or None)


def wrong(n: int) -> str:
    """REF with its first n words substituted."""
    words = REF.split()
    return " ".join(["x"] * n + words[n:])


def runs_improving_a_and_harming_b():
    base, cand = [], []
    for i in range(30):  # accent A: 2 errors each in the baseline, none after
        base.append(hyp(i, wrong(2), "A"))
        cand.append(hyp(i, REF, "A"))
    for i in range(30, 60):  # accent B: none before, 2 errors each after
        base.append(hyp(i, REF, "B"))
        cand.append(hyp(i, wrong(2), "B"))
    for i in range(60, 63):  # accent C: three utterances, one gets much worse
        base.append(hyp(i, REF, "C"))
        cand.append(hyp(i, wrong(5) if i == 60 else REF, "C"))
    return (record("base"), base), (record("cand", "lexicon"), cand)


def slice_of(report, key, comparison=0):
    column, _, value = key.partition("=")
    return next(s for s in report["comparisons"][comparison]["slices"] if (s["column"], s["value"]) == ((column, value) if value else ("overall", "all")))


def test_a_gain_in_one_slice_does_not_hide_a_loss_in_another():
    baseline, candidate = runs_improving_a_and_harming_b()
    report = build_report(baseline, [candidate], ReportOptions(normalizer="raw"))
    a, b, c = slice_of(report, "accent=A"), slice_of(report, "accent=B"), slice_of(report, "accent=C")
    assert a["verdict"] == "improved" and a["change"] == pytest.approx(-100 * 2 / 7) and a["change_high"] < 0
    assert b["verdict"] == "regressed" and b["change"] == pytest.approx(100 * 2 / 7) and b["change_low"] > 0
    assert b["p_value"] == 0.0 and b["sign_test_p"] < 1e-6 and b["utterances_worse"] == 30
    assert c["verdict"] == "too few" and c["utterances"] == 3
    assert report["comparisons"][0]["regressions"] == ["accent=B"] and report["regressed"] is True
    jsonschema.validate(report, SCHEMA)


def test_identical_runs_are_unchanged_with_a_zero_centred_interval():
    baseline, _ = runs_improving_a_and_harming_b()
    same = (record("same", "prompt"), list(baseline[1]))
    report = build_report(baseline, [same], ReportOptions(normalizer="raw"))
    for s in report["comparisons"][0]["slices"]:
        assert s["change"] == 0 and s["change_low"] == 0 and s["change_high"] == 0
        assert s["verdict"] in ("unchanged", "too few") and s["sign_test_p"] is None
    assert slice_of(report, "overall")["p_value"] == 1.0 and not report["regressed"]
    jsonschema.validate(report, SCHEMA)


def test_a_tolerance_forgives_a_small_significant_rise():
    baseline, candidate = runs_improving_a_and_harming_b()
    report = build_report(baseline, [candidate], ReportOptions(normalizer="raw", tolerance_pp=30.0))
    b = slice_of(report, "accent=B")
    assert b["verdict"] == "unchanged" and b["within_tolerance"] and not report["regressed"]


def test_languages_without_spaces_are_judged_on_cer():
    ref = "我今天很好"
    base = [hyp(i, ref, "zh-CN", "zh", reference=ref) for i in range(10)]
    cand = [hyp(i, "我今天不好", "zh-CN", "zh", reference=ref) for i in range(10)]
    report = build_report((record("b"), base), [(record("c", "x"), cand)], ReportOptions(normalizer="multilingual"))
    zh = slice_of(report, "language=zh")
    assert zh["primary"] == "cer" and zh["cer_change"] == pytest.approx(20.0) and zh["verdict"] == "regressed"


def test_language_id_and_hallucination_are_compared():
    base = [hyp(i, REF, "A", detected_language="en", compression_ratio=1.1) for i in range(6)]
    cand = [hyp(i, REF, "A", detected_language="en" if i else "de", compression_ratio=3.0 if i == 1 else 1.1) for i in range(6)]
    silent = StoredHypothesis("s1", "", "", {"accent": "A", "language": "en", "no_speech": "yes"}, None)
    talking = StoredHypothesis("s1", "", "thank you thank you thank you thank you", {"accent": "A", "language": "en", "no_speech": "yes"}, None)
    report = build_report((record("b"), base + [silent]), [(record("c", "x"), cand + [talking])], ReportOptions(normalizer="raw"))
    comparison = report["comparisons"][0]
    overall_lid = comparison["language_id"][0]
    assert (overall_lid["baseline_accuracy"], round(overall_lid["accuracy"], 1)) == (100.0, 83.3)
    h0, h1 = comparison["hallucination"]["baseline"], comparison["hallucination"]["candidate"]
    assert (h0["clips_with_output"], h0["words"], h0["repetition_loops"]) == (0, 0, 0)
    assert (h1["no_speech_clips"], h1["clips_with_output"], h1["words"], h1["repetition_loops"]) == (1, 1, 8, 1)
    assert h1["high_compression_share"] == pytest.approx(100 / 6)  # of the 6 transcripts with a ratio recorded
    assert report["speech_utterances"] == 6  # the silent clip is not scored for WER
    jsonschema.validate(report, SCHEMA)


@pytest.mark.parametrize(
    "text, loop",
    [
        ("galaxy galaxy galaxy galaxy", True),
        ("and we will leave it for the increased half of the galaxy galaxy galaxy", False),
        ("thank you. thank you. thank you. thank you.", True),
        ("one two three one two three one two three one two three", True),
        ("", False),
    ],
)
def test_repetition_loops(text, loop):
    assert repetition_loop(text) is loop


def test_only_restricts_the_comparison_and_disjoint_runs_are_an_error():
    baseline, candidate = runs_improving_a_and_harming_b()
    report = build_report(baseline, [candidate], ReportOptions(normalizer="raw", only=(("accent", "A"),)))
    assert slice_of(report, "overall")["utterances"] == 30 and report["only"] == ["accent=A"]
    other = (record("o", "x"), [hyp(999, REF, "A")])
    from workbench.errors import BadInputError

    with pytest.raises(BadInputError, match="share no utterances"):
        build_report(baseline, [other])


def store_runs(workspace: Path) -> tuple[str, str]:
    (_, base), (_, cand) = runs_improving_a_and_harming_b()
    ids = []
    with RunStore(workspace) as store:
        for label, hyps in (("baseline", base), ("lexicon", cand)):
            run_id = store.begin_run("bench", {"strategy": label, "model": "tiny.en"}, {}, "sha256:x", len(hyps), "raw@1")
            store.add_hypotheses(run_id, hyps)
            store.finish_run(run_id, {}, {}, {})
            ids.append(run_id)
    return ids[0], ids[1]


def test_compare_writes_the_three_formats_and_gates_on_regression(tmp_path, capsys):
    a, b = store_runs(tmp_path / "ws")
    out = tmp_path / "out"
    args = ["compare", a, b, "--workspace", str(tmp_path / "ws"), "--json", str(out / "r.json"),
            "--markdown", str(out / "r.md"), "--html", str(out / "r.html")]
    assert main(args) == ExitCode.OK  # reported, not gated
    assert main(args + ["--fail-on-regression"]) == ExitCode.REGRESSION
    assert main(args + ["--fail-on-regression", "--tolerance", "30"]) == ExitCode.OK
    jsonschema.validate(json.loads((out / "r.json").read_text()), SCHEMA)
    assert "accent=B" in (out / "r.md").read_text() and (out / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert "❌ regressed" in capsys.readouterr().out
    # Without resamples nothing can be significant: gating would silently pass, so it is refused.
    assert main(args + ["--fail-on-regression", "--bootstrap", "0"]) == ExitCode.BAD_INPUT
    assert "--fail-on-regression needs --bootstrap > 0" in capsys.readouterr().err


def test_the_report_counts_what_the_pairing_leaves_out_and_keeps_terms_of_a_moved_lexicon(tmp_path):
    from workbench.regression import report_runs

    (_, base), (_, cand) = runs_improving_a_and_harming_b()
    ws = tmp_path / "ws"
    with RunStore(ws) as store:
        a = store.begin_run("bench", {"strategy": "baseline"}, {}, "sha256:x", len(base), "raw@1")
        store.add_hypotheses(a, base)
        store.finish_run(a, {}, {}, {})
        snapshot = {"path": str(tmp_path / "gone.csv"), "sha256": "sha256:0", "terms": [["cat", "en"]]}
        b = store.begin_run("strategy", {"strategy": "lexicon", "lexicon": snapshot["path"], "lexicon_snapshot": snapshot}, {},
                            "sha256:x", len(cand), "raw@1")
        failed = StoredHypothesis(cand[0].id, cand[0].reference, "", cand[0].slices, {"error": "audio is truncated"})
        store.add_hypotheses(b, [failed, *cand[1:]])
        store.finish_run(b, {}, {}, {})
    report = report_runs(str(ws), a, [b])
    pairing = report["comparisons"][0]["pairing"]
    assert pairing["paired"] == len(base) - 1 and pairing["failed_or_missing"] == 1 and cand[0].id in pairing["examples"]
    assert report["comparisons"][0]["slices"][0]["utterances"] == len(base) - 1
    # The lexicon file never existed here: the run's stored snapshot still gives the term figures.
    assert report["comparisons"][0]["terms"] is not None
    jsonschema.validate(report, SCHEMA)


def test_report_without_runs_takes_the_latest_baseline_and_what_came_after(tmp_path):
    store_runs(tmp_path / "ws")
    assert main(["report", "--workspace", str(tmp_path / "ws"), "--fail-on-regression"]) == ExitCode.REGRESSION
    written = sorted(p.suffix for p in (tmp_path / "ws" / "reports").iterdir())
    assert written == [".html", ".json", ".md"]


def test_a_cluster_bootstrap_resamples_speakers_and_widens_the_interval():
    """Two speakers: one improved a lot, one a little. Utterance resampling sees 60
    independent draws; speaker resampling sees two, and its interval is honest about it."""
    base, cand = [], []
    for i in range(60):
        speaker = "s1" if i < 30 else "s2"
        base.append(StoredHypothesis(f"u{i:03d}", REF, wrong(2), {"accent": "A", "speaker": speaker}, None))
        cand.append(StoredHypothesis(f"u{i:03d}", REF, REF if speaker == "s1" or i % 3 else wrong(2), {"accent": "A", "speaker": speaker}, None))
    plain = build_report((record("b"), base), [(record("c", "x"), cand)], ReportOptions(normalizer="raw", slice_columns=("accent",)))
    clustered = build_report((record("b"), base), [(record("c", "x"), cand)],
                             ReportOptions(normalizer="raw", slice_columns=("accent",), cluster="speaker"))
    p, c = slice_of(plain, "overall"), slice_of(clustered, "overall")
    assert p["change"] == c["change"]  # the point estimate does not depend on the resampling
    assert (c["change_high"] - c["change_low"]) > 1.5 * (p["change_high"] - p["change_low"])
    assert clustered["cluster"] == "speaker" and plain["cluster"] is None
    jsonschema.validate(clustered, SCHEMA)


@pytest.mark.parametrize("options, named", [
    (ReportOptions(slice_columns=("dialect",)), "--slices"),
    (ReportOptions(only=(("dialect", "x"),)), "--only"),
    (ReportOptions(cluster="speaker"), "--cluster"),
])
def test_an_unknown_column_is_a_one_line_error_naming_it(options, named):
    from workbench.errors import BadInputError

    baseline, candidate = runs_improving_a_and_harming_b()
    with pytest.raises(BadInputError, match=f"{named}: run base has no column") as info:
        build_report(baseline, [candidate], options)
    assert "accent" in str(info.value) and "\n" not in str(info.value)
