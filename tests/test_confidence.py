"""Confidence features, error labels, the train-part calibrator, low-confidence words and ECE.

Hand-made extras with known answers; no model is loaded here (the backends' word
probabilities are tested in test_backends.py).
"""

import math

import numpy as np
import pytest

from workbench import confidence
from workbench.confidence import (
    FEATURE_NAMES,
    Calibrator,
    expected_calibration_error,
    features,
    fit_calibrator,
    low_confidence_words,
    uncalibrated_score,
    utterance_error_labels,
)
from workbench.errors import BadInputError
from workbench.runstore import StoredHypothesis


def row(i, reference, hypothesis, extra=None, language="en"):
    return StoredHypothesis(f"u{i}", reference, hypothesis, {"language": language}, extra)


def named(vector):
    return dict(zip(FEATURE_NAMES, (round(float(v), 6) for v in vector)))


@pytest.mark.parametrize("extra, expected", [
    # every signal given, words stored
    ({"avg_logprob": -0.2, "no_speech_prob": 0.1, "compression_ratio": 1.3, "temperature": 0.0,
      "words": [[" The", 0.9], [" cat", 0.4], [" sat.", 0.8]]},
     {"avg_logprob": -0.2, "no_speech_prob": 0.1, "compression_ratio": 1.3, "fallback": 0.0,
      "word_mean": 0.7, "word_min": 0.4, "word_low_share": round(1 / 3, 6), "log_words": round(math.log(4), 6), "has_words": 1.0}),
    # a fallback temperature, no words: word features from exp(avg_logprob) = 0.367879 (< 0.5)
    ({"avg_logprob": -1.0, "no_speech_prob": 0.0, "compression_ratio": 2.0, "temperature": 0.4},
     {"avg_logprob": -1.0, "no_speech_prob": 0.0, "compression_ratio": 2.0, "fallback": 1.0,
      "word_mean": 0.367879, "word_min": 0.367879, "word_low_share": 1.0, "log_words": 0.0, "has_words": 0.0}),
    # nothing stored at all: every value imputed
    ({}, {"avg_logprob": -1.0, "no_speech_prob": 0.0, "compression_ratio": 1.0, "fallback": 0.0,
          "word_mean": 0.367879, "word_min": 0.367879, "word_low_share": 1.0, "log_words": 0.0, "has_words": 0.0}),
    # None values (a backend without the signal) and an empty word list are imputed too
    ({"avg_logprob": None, "no_speech_prob": None, "compression_ratio": None, "temperature": None, "words": []},
     {"avg_logprob": -1.0, "no_speech_prob": 0.0, "compression_ratio": 1.0, "fallback": 0.0,
      "word_mean": 0.367879, "word_min": 0.367879, "word_low_share": 1.0, "log_words": 0.0, "has_words": 0.0}),
    # confident, no words: exp(-0.1) = 0.904837 is above 0.5, so no low share
    ({"avg_logprob": -0.1, "no_speech_prob": 0.02, "compression_ratio": 1.1, "temperature": 0.0},
     {"avg_logprob": -0.1, "no_speech_prob": 0.02, "compression_ratio": 1.1, "fallback": 0.0,
      "word_mean": 0.904837, "word_min": 0.904837, "word_low_share": 0.0, "log_words": 0.0, "has_words": 0.0}),
])
def test_features_with_known_answers(extra, expected):
    vector = features(extra)
    assert vector.shape == (len(FEATURE_NAMES),)
    assert named(vector) == expected


def test_features_of_none_equal_features_of_an_empty_extra():
    assert np.array_equal(features(None), features({}))


@pytest.mark.parametrize("extra, message", [
    ({"avg_logprob": "high"}, r"extra.avg_logprob: expected a number, got 'high'"),
    ({"words": "hello"}, r"extra.words: expected a list of \[word, probability\], got str"),
    ({"words": [["a", 0.5], ["b"]]}, r"extra.words\[1\]: expected \[word, probability\], got \['b'\]"),
    ({"words": [["a", "x"]]}, r"extra.words\[0\]: probability is not a number: 'x'"),
    ({"words": [["a", 1.5]]}, r"extra.words\[0\]: probability 1.5 is outside \[0, 1\]"),
])
def test_malformed_signals_are_one_line_errors_naming_the_field(extra, message):
    with pytest.raises(BadInputError, match=message):
        features(extra)


@pytest.mark.parametrize("extra, expected", [
    ({"avg_logprob": 0.0, "no_speech_prob": 0.0}, 1.0),
    ({"avg_logprob": math.log(0.8), "no_speech_prob": 0.5}, 0.4),
    ({"avg_logprob": -1.0}, math.exp(-1.0)),  # no_speech imputed as 0
    ({}, math.exp(-1.0)),
    ({"avg_logprob": 0.3, "no_speech_prob": 0.0}, 1.0),  # a positive log-prob is capped at 0
])
def test_uncalibrated_score(extra, expected):
    assert uncalibrated_score(extra) == pytest.approx(expected)


def test_error_labels_count_any_word_error_after_normalization():
    rows = [
        row(0, "Hello, world!", "hello world"),  # punctuation and case only: correct
        row(1, "the cat sat", "the hat sat"),  # substitution
        row(2, "the cat sat", "the cat"),  # deletion
        row(3, "the cat", "the cat sat"),  # insertion
        row(4, "", ""),  # no-speech clip, nothing said: correct
        row(5, "", "thank you"),  # no-speech clip, hallucination: an error
        row(6, "It's 10 o'clock", "it is ten o'clock"),  # whisper-english folds both the same way
    ]
    assert utterance_error_labels(rows, "whisper-english").tolist() == [0, 1, 1, 1, 0, 1, 0]
    # under raw, case and punctuation are errors too
    assert utterance_error_labels(rows[:1], "raw").tolist() == [1]
    assert utterance_error_labels([], "auto").tolist() == []


def _train_rows(n=80, seed=0, words=False):
    """Synthetic train part: the lower avg_logprob, the likelier the hypothesis is wrong."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        logprob = -float(rng.uniform(0.0, 1.5))
        ok = rng.uniform() < math.exp(1.5 * logprob)
        extra = {"avg_logprob": logprob, "no_speech_prob": 0.01, "compression_ratio": 1.2, "temperature": 0.0}
        if words:
            p = math.exp(logprob)
            extra["words"] = [[" the", min(1.0, p + 0.1)], [" cat", p], [" sat", min(1.0, p + 0.05)]]
        rows.append(row(i, "the cat sat", "the cat sat" if ok else "the hat sat", extra))
    return rows


@pytest.mark.parametrize("method", ["logistic", "isotonic"])
@pytest.mark.parametrize("words", [False, True])
def test_a_fitted_calibrator_ranks_and_is_calibrated_on_its_train_part(method, words):
    rows = _train_rows(words=words)
    cal = fit_calibrator(rows, "whisper-english", method=method, run_id="run-1")
    assert cal.method == method and cal.calibrated and cal.fitted_on == "run-1"
    assert cal.utterances == 80 and cal.normalizer == "whisper-english@1"
    correct = 1 - utterance_error_labels(rows, "whisper-english")
    assert cal.base_rate == pytest.approx(correct.mean())
    scores = cal.scores([r.extra for r in rows])
    assert np.all((scores >= 0) & (scores <= 1))
    # more confident signals score higher
    assert cal.score({"avg_logprob": -0.05, "no_speech_prob": 0.01, "compression_ratio": 1.2, "temperature": 0.0}) > \
        cal.score({"avg_logprob": -1.4, "no_speech_prob": 0.01, "compression_ratio": 1.2, "temperature": 0.0})
    # it separates right from wrong, and is calibrated where it was fitted (10 bins on
    # 80 rows: a few points of ECE are sampling noise; a constant 1.0 is off by ~0.6)
    assert scores[correct == 1].mean() > scores[correct == 0].mean() + 0.15
    ece = expected_calibration_error(scores, correct)
    assert ece < 0.15 and expected_calibration_error(np.ones(len(rows)), correct) > 0.5
    if method == "isotonic":
        assert ece == pytest.approx(0.0, abs=1e-9)  # PAV matches the bin rates exactly on its own data
    # the same rows give the same calibrator, and it survives to_dict/from_dict
    assert fit_calibrator(rows, "whisper-english", method=method, run_id="run-1") == cal
    back = Calibrator.from_dict(cal.to_dict())
    assert back == cal and back.score(rows[3].extra) == cal.score(rows[3].extra)


def test_isotonic_scores_are_monotone_in_the_logistic_score():
    rows = _train_rows(n=200, seed=3)
    logistic = fit_calibrator(rows, "auto")
    isotonic = fit_calibrator(rows, "auto", method="isotonic")
    grid = [{"avg_logprob": lp, "no_speech_prob": 0.01, "compression_ratio": 1.2, "temperature": 0.0}
            for lp in np.linspace(-2.0, 0.0, 41)]
    order = np.argsort(logistic.scores(grid), kind="stable")
    assert np.all(np.diff(isotonic.scores(grid)[order]) >= -1e-12)


@pytest.mark.parametrize("rows, reason", [
    ([], r"only 0 train utterances with a hypothesis \(at least 10 needed\)"),
    (lambda: _train_rows(n=9), r"only 9 train utterances"),
    ([row(i, "a b", "a b", {"avg_logprob": -0.1 * i}) for i in range(12)], r"all 12 train utterances are correct"),
    ([row(i, "a b", "a c", {"avg_logprob": -0.1 * i}) for i in range(12)], r"all 12 train utterances are wrong"),
    # 10 rows, but 2 are failed or missing decodes: only 8 usable
    ([row(i, "a b", "a b" if i % 2 else "a", {"avg_logprob": -0.1}) for i in range(8)]
     + [row(8, "a b", "", {"error": "unreadable audio"}), row(9, "a b", "", {"missing": True})], r"only 8 train"),
])
def test_too_little_or_one_class_falls_back_to_the_uncalibrated_score(rows, reason):
    rows = rows() if callable(rows) else rows
    cal = fit_calibrator(rows, "auto", run_id="r")
    assert cal.method == "uncalibrated" and not cal.calibrated
    assert cal.reason and __import__("re").search(reason, cal.reason)
    extra = {"avg_logprob": math.log(0.9), "no_speech_prob": 0.5}
    assert cal.score(extra) == pytest.approx(0.45) == uncalibrated_score(extra)
    assert Calibrator.from_dict(cal.to_dict()) == cal


def test_failed_and_missing_rows_are_left_out_of_the_fit():
    rows = _train_rows(n=40)
    noisy = rows + [row(100, "the cat sat", "", {"error": "could not decode"}), row(101, "the cat sat", "", {"missing": True})]
    assert fit_calibrator(noisy, "auto") == fit_calibrator(rows, "auto")


def test_bad_methods_and_stale_calibrators_are_errors():
    with pytest.raises(BadInputError, match="calibration method: expected one of logistic, isotonic, got 'svm'"):
        fit_calibrator(_train_rows(), "auto", method="svm")
    data = fit_calibrator(_train_rows(), "auto").to_dict()
    with pytest.raises(BadInputError, match="fitted on features .* refit it"):
        Calibrator.from_dict(data | {"feature_names": ["avg_logprob"]})
    with pytest.raises(BadInputError, match="format 0 is not 1"):
        Calibrator.from_dict(data | {"format": 0})
    with pytest.raises(BadInputError, match="missing field 'utterances'"):
        Calibrator.from_dict({k: v for k, v in data.items() if k != "utterances"})
    with pytest.raises(BadInputError, match="need 9 values each"):
        Calibrator("logistic", None, 10, 0.5, weights=(1.0,))


def test_a_train_row_with_malformed_words_is_named():
    rows = _train_rows(n=20)
    rows[5] = row(5, "the cat sat", "the cat sat", {"avg_logprob": -0.1, "words": [["the"]]})
    with pytest.raises(BadInputError, match=r"utterance u5: extra.words\[0\]"):
        fit_calibrator(rows, "auto")


@pytest.mark.parametrize("extra, threshold, expected", [
    ({"words": [[" The", 0.9], [" cat", 0.3], [" sat.", 0.49]]}, 0.5, [(1, "cat", 0.3), (2, "sat.", 0.49)]),
    ({"words": [[" The", 0.9], [" cat", 0.3], [" sat.", 0.49]]}, 0.4, [(1, "cat", 0.3)]),
    ({"words": [[" The", 0.5]]}, 0.5, []),  # strictly below the threshold
    ({"avg_logprob": -3.0}, 0.5, []),  # no words stored: nothing to highlight
    (None, 0.5, []),
])
def test_low_confidence_words(extra, threshold, expected):
    assert low_confidence_words(extra, threshold) == expected


@pytest.mark.parametrize("scores, correct, bins, expected", [
    ([0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9], [1] * 9 + [0], 10, 0.0),  # 90% right at 0.9
    ([1.0, 1.0], [1, 0], 10, 0.5),  # 1.0 lands in the top bin
    ([0.2, 0.8], [0, 1], 10, 0.2),  # |0.2-0| and |0.8-1|, each half the weight
    ([0.2, 0.8], [0, 1], 1, 0.0),  # one bin: mean score 0.5 against 50% correct
    ([0.05, 0.15, 0.95], [1, 1, 0], 10, (0.95 + 0.85 + 0.95) / 3),
])
def test_expected_calibration_error(scores, correct, bins, expected):
    assert expected_calibration_error(scores, correct, bins) == pytest.approx(expected)


@pytest.mark.parametrize("scores, correct, message", [
    ([], [], "no scores"),
    ([0.5], [1, 0], r"\(1,\) scores against \(2,\) outcomes"),
    ([1.5], [1], r"scores must lie in \[0, 1\]"),
])
def test_expected_calibration_error_rejects_bad_input(scores, correct, message):
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(scores, correct)


def test_the_module_stays_headless():
    """numpy/scipy and the workbench's own scoring only: no model, store or UI import."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(confidence.__file__).read_text())
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported <= {"math", "dataclasses", "typing", "numpy", "scipy.optimize", "errors", "normalizers", "scoring"}
