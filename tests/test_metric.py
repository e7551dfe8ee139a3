"""The `workbench_wer` evaluate metric: loaded offline from the installed package, and
equal to what the workbench reports for the same hypotheses (the training side of that
promise is in test_training.py: the Trainer's logged validation WER)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.metrics import WORKBENCH_WER, load_workbench_wer
from workbench.service import DataSelection, ScoreRequest, example_paths, score_hypotheses

ROOT = Path(__file__).resolve().parent.parent
MINI = Path(example_paths()[0])


@pytest.fixture(scope="module")
def metric():
    return load_workbench_wer(keep_in_memory=True)


def _errors(result: dict) -> int:
    return result["substitutions"] + result["deletions"] + result["insertions"]


@pytest.mark.parametrize(
    "normalizer, predictions, references, language, errors, words",
    [
        # whisper-english for English rows: digits equal number words, casing and
        # punctuation are not errors; one inserted word over five
        ("auto", ["seven days", "the cat sat down"], ["7 days.", "The cat sat"], "en", 1, 5),
        # raw: "seven"/"7", "days"/"days." and "the"/"The" are substitutions, plus the insertion
        ("raw", ["seven days", "the cat sat down"], ["7 days.", "The cat sat"], "en", 4, 5),
        # multilingual for other languages: "sieben" is not "7"
        ("auto", ["sieben Tage"], ["7 Tage."], "de", 1, 2),
        ("auto", ["sieben Tage", "seven days"], ["7 Tage.", "7 days"], ["de", "en"], 1, 4),
        # an empty reference is a no-speech clip: not scored (no insertion counted)
        ("auto", ["hello there", "phantom words"], ["Hello there!", ""], "en", 0, 2),
        # an empty hypothesis deletes every reference word
        ("whisper-english@1", ["", "one"], ["Two words", "1"], None, 2, 3),
    ],
)
def test_the_metric_counts_like_the_workbench(metric, normalizer, predictions, references, language, errors, words):
    result = metric.compute(predictions=predictions, references=references, language=language, normalizer=normalizer)
    assert (_errors(result), result["ref_words"]) == (errors, words)
    assert result["wer"] == errors / words
    assert result["normalizer"].startswith(normalizer.split("@")[0] + "@")
    assert result["no_speech"] == sum(1 for r in references if not r.strip())


def test_the_config_name_picks_the_normalizer_and_bad_input_is_refused(metric):
    raw = load_workbench_wer("raw", keep_in_memory=True)
    result = raw.compute(predictions=["Seven days"], references=["seven days"])
    assert result["normalizer"] == "raw@1" and result["wer"] == 0.5
    assert metric.compute(predictions=["x"], references=[""])["wer"] is None  # nothing to score
    with pytest.raises(ValueError, match="unknown normalizer 'loose'"):
        metric.compute(predictions=["a"], references=["a"], normalizer="loose")
    with pytest.raises(ValueError, match=r"language: expected one per row \(2\), got 1"):
        metric.compute(predictions=["a", "b"], references=["a", "b"], language=["en"])


def test_real_whisper_hypotheses_score_as_workbench_score_reports_them(metric, tmp_path):
    """The mini corpus's real Whisper base hypotheses (English, German, Spanish): the metric
    and `workbench score` (the run lifecycle's scoring) give the same WER and CER."""
    from workbench.manifest import load_dataset

    result = score_hypotheses(ScoreRequest(DataSelection(str(MINI)), str(MINI.parent / "hypotheses.jsonl"),
                                           workspace=str(tmp_path / "ws")))
    overall = result.evaluation.normalized.overall
    hyps = {json.loads(line)["id"]: json.loads(line)["hypothesis"] for line in (MINI.parent / "hypotheses.jsonl").read_text().splitlines()}
    utterances = load_dataset(str(MINI)).utterances
    scores = metric.compute(predictions=[hyps[u.id] for u in utterances], references=[u.reference for u in utterances],
                            language=[u.language for u in utterances])
    assert result.evaluation.normalized.normalizer == scores["normalizer"] == "auto@1"
    assert 0 < overall.wer < 1 and len({u.language for u in utterances}) == 3
    assert round(100 * scores["wer"], 4) == round(100 * overall.wer, 4)
    assert round(100 * scores["cer"], 4) == round(100 * overall.cer, 4)
    assert (_errors(scores), scores["ref_words"], scores["utterances"]) == (overall.errors, overall.ref_words, overall.utterances)


def test_it_loads_offline_from_its_folder_into_an_empty_cache(tmp_path):
    """A fresh process, an empty Hugging Face cache, the hub unreachable."""
    code = (
        "import json, sys, evaluate\n"
        "m = evaluate.load(sys.argv[1], keep_in_memory=True)\n"
        "print(json.dumps(m.compute(predictions=['seven days'], references=['7 days.'], language='en')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1",
           "HF_EVALUATE_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    done = subprocess.run([sys.executable, "-c", code, str(WORKBENCH_WER)], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["wer"] == 0.0 and result["normalizer"] == "auto@1"
    assert (WORKBENCH_WER / "README.md").is_file()  # the metric card ships beside it
