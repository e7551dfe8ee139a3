"""The HTML regression report: one complete, self-contained, escaped document with two charts."""

import re
import subprocess
import sys

import pytest

from workbench.reports_html import render_html

EVIL = "<script>alert(1)</script>"


def half(x):
    return None if x is None else x / 2


def slice_row(column, value, verdict, *, utterances=20, base=20.0, change=0.0, low=-1.0, high=1.0, p=0.5,
              within_tolerance=False, primary="wer", sign_p=0.5):
    return {
        "column": column, "value": value, "utterances": utterances, "words": utterances * 10,
        "baseline_wer": base, "wer": None if base is None else base + change, "change": change,
        "change_low": low, "change_high": high, "p_value": p,
        "baseline_cer": half(base), "cer": None if base is None else half(base + change),
        "cer_change": half(change), "cer_change_low": half(low), "cer_change_high": half(high),
        "primary": primary, "utterances_better": 3, "utterances_worse": 1, "sign_test_p": sign_p,
        "verdict": verdict, "within_tolerance": within_tolerance,
    }


def run_info(run_id, label):
    return {"id": run_id, "kind": "strategy" if label != "baseline" else "bench", "label": label, "model": "tiny",
            "backend": "faster-whisper", "created": "2026-01-02T03:04:05+00:00", "heldout_id": None, "utterances": 60}


def hallucination(clips_with_output=0, examples=()):
    return {"no_speech_clips": 3, "clips_with_output": clips_with_output, "words": 4 * clips_with_output,
            "examples": [list(e) for e in examples], "repetition_loops": 0, "loop_examples": [],
            "high_compression_share": None}


@pytest.fixture
def report():
    slices = [
        slice_row("overall", "all", "improved", utterances=60, change=-3.0, low=-4.5, high=-1.5, p=0.0, sign_p=1e-5),
        slice_row("accent", EVIL, "regressed", change=4.0, low=1.0, high=7.0, p=0.01),
        slice_row("accent", "scottish", "unchanged", change=0.5, low=-1.0, high=2.0, p=0.6, sign_p=None),
        slice_row("condition", "phone", "too few", utterances=2, base=None, change=None, low=None, high=None, p=None,
                  sign_p=None),
        slice_row("language", "zh", "unchanged", change=0.4, low=0.1, high=0.8, p=0.02, within_tolerance=True,
                  primary="cer"),
    ]
    other = [dict(row, verdict="unchanged", within_tolerance=False) for row in slices]
    return {
        "schema": "whisper-workbench/regression-report", "version": 1, "created": "2026-01-02T03:04:05+00:00",
        "normalizer": "auto@1", "tolerance_pp": 0.5, "min_utterances": 5, "confidence": 0.95,
        "resamples": 1000, "seed": 42, "only": [f"domain={EVIL}"],
        "slice_columns": ["accent", "condition", "language"],
        "baseline": run_info(f"base-{EVIL}", "baseline"), "speech_utterances": 60,
        "comparisons": [
            {
                "run": run_info("cand-1", "lexicon"),
                "slices": slices,
                "regressions": [f"accent={EVIL}"],
                "language_id": [
                    {"column": "overall", "value": "all", "utterances": 60, "baseline_accuracy": 90.0, "accuracy": 95.0},
                    {"column": "accent", "value": EVIL, "utterances": 20, "baseline_accuracy": None, "accuracy": 80.0},
                ],
                "hallucination": {
                    "baseline": hallucination(),
                    "candidate": hallucination(1, [("silence-1", f"thank you {EVIL}")]),
                },
                "terms": {
                    "lexicon": "lexicon.csv",
                    "terms": [
                        {"run": "baseline", "column": "overall", "value": "all", "recall": 40.0, "precision": None},
                        {"run": "candidate", "column": "overall", "value": "all", "recall": 80.0, "precision": 90.0},
                    ],
                    "over_correction": [{"column": "overall", "value": "all", "broken": 2, "fixed": 9}],
                },
            },
            {
                "run": run_info("cand-2", "prompt"),
                "slices": other,
                "regressions": [],
                "language_id": [],
                "hallucination": {"baseline": hallucination(), "candidate": hallucination()},
                "terms": None,
            },
        ],
        "regressed": True,
    }


def test_a_complete_html_document(report):
    out = render_html(report)
    assert out.startswith("<!DOCTYPE html>")
    for tag in ("<html", "<head>", '<meta charset="utf-8">', "<title>", "<style>", "<body>", "</body>", "</html>"):
        assert tag in out
    assert out.rstrip().endswith("</html>")


def test_self_contained(report):
    out = render_html(report)
    assert "http://" not in out and "https://" not in out
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", out)
    assert "<script" not in out  # no scripts at all, neither ours nor the user's
    assert "<link" not in out and "@import" not in out


def test_each_verdict_with_its_colour(report):
    out = render_html(report)
    for verdict, cls in (("improved", "v-improved"), ("regressed", "v-regressed"), ("unchanged", "v-unchanged"),
                         ("too few", "v-too-few")):
        assert re.search(rf'<td class="verdict {cls}">{verdict}', out), verdict
        assert f".{cls}{{" in out  # and the class has a colour in the stylesheet


def test_within_tolerance_and_cer_primary_are_marked(report):
    out = render_html(report)
    assert 'class="amber"' in out and "within tolerance" in out
    assert '<td class="primary">' in out and "CER is the primary figure" in out
    assert "Significant rises within the tolerance" in out


def test_regressed_banner_names_the_run_and_slice(report):
    out = render_html(report)
    banner = re.search(r'<div class="banner bad">(.*?)</div>', out).group(1)
    assert banner.startswith("Regressions: lexicon: accent=&lt;script&gt;")
    assert "prompt" not in banner


def test_no_regression_banner(report):
    report["regressed"] = False
    report["comparisons"][0]["regressions"] = []
    out = render_html(report)
    assert '<div class="banner ok">No significant regression beyond the tolerance' in out
    assert "Regressions:" not in out


def test_user_strings_are_escaped(report):
    out = render_html(report)
    assert EVIL not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "thank you &lt;script&gt;" in out  # a transcript from the hallucination examples
    assert "base-&lt;script&gt;" in out  # the baseline run id


def test_both_charts_embedded_inline(report):
    out = render_html(report)
    assert out.count("<svg") == 2 or out.count("data:image/png;base64,") == 2
    assert "WER per slice" in out and "Forest plot of paired changes" in out
    assert "<?xml" not in out and "<!DOCTYPE svg" not in out
    ids = re.findall(r'\bid="([^"]+)"', out)
    assert len(ids) == len(set(ids))  # two inline SVGs must not share ids


def test_missing_values_render_as_a_dash(report):
    out = render_html(report)
    too_few = re.search(r"<tr[^>]*><td class=\"label\">condition=phone</td>(.*?)</tr>", out).group(1)
    assert too_few.count("<td>—</td>") >= 6
    assert "<td>&lt;0.001</td>" in out  # bootstrap p of 0 with 1000 resamples
    assert "—" in out.split("Language-ID accuracy", 1)[1]


def test_terms_only_where_present(report):
    out = render_html(report)
    assert out.count("<h3>Terms</h3>") == 1
    assert "lexicon.csv" in out


def test_importing_is_cheap():
    code = "import sys, workbench.reports_html; assert 'matplotlib' not in sys.modules; assert 'textual' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
