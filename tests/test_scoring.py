"""WER/CER/S/I/D on hand-checked examples, slices, confusions and bootstrap intervals."""

import jiwer
import numpy as np
import pytest

from workbench.bootstrap import BootstrapOptions, ratio_intervals
from workbench.dataset import AudioSource, Utterance
from workbench.evaluation import EvaluationOptions, Thresholds, check_thresholds, evaluate
from workbench.normalizers import get_normalizer
from workbench.scoring import align, score, scorecard_from_dict, scorecard_to_dict


@pytest.mark.parametrize(
    "ref, hyp, S, D, I, ref_words, char_errors, ref_chars",
    [
        ("the cat sat on the mat", "the cat sit on mat", 1, 1, 0, 6, 5, 22),  # sat->sit, the deleted
        ("a b c", "a x c d", 1, 0, 1, 3, 3, 5),
        ("a b", "", 0, 2, 0, 2, 3, 3),
        ("", "hello", 0, 0, 1, 0, 5, 0),
        ("same words here", "same words here", 0, 0, 0, 3, 0, 15),
        ("abc", "abd", 1, 0, 0, 1, 1, 3),
    ],
)
def test_alignment_counts(ref, hyp, S, D, I, ref_words, char_errors, ref_chars):
    (s,) = align(["u"], [ref], [hyp])
    assert (s.substitutions, s.deletions, s.insertions, s.ref_words) == (S, D, I, ref_words)
    assert (s.char_errors, s.ref_chars) == (char_errors, ref_chars)
    assert s.hits == ref_words - S - D


def test_alignment_counts_match_jiwer_corpus_measures():
    refs = ["the quick brown fox", "jumps over", "the lazy dog today"]
    hyps = ["the quick brown box", "jumps over the", "lazy dog to day"]
    scores = align(["a", "b", "c"], refs, hyps)
    errors = sum(s.errors for s in scores)
    words = sum(s.ref_words for s in scores)
    assert errors / words == pytest.approx(jiwer.wer(refs, hyps))
    chars = sum(s.char_errors for s in scores) / sum(s.ref_chars for s in scores)
    assert chars == pytest.approx(jiwer.cer(refs, hyps))


def test_confusion_pairs_record_substitutions_deletions_insertions():
    sub_del, ins = align(["u", "v"], ["the cat sat on the mat", "go home"], ["a cat sat on mat", "go home now"])
    assert sub_del.pairs == (("the", "a"), ("the", ""))  # substituted, then deleted
    assert ins.pairs == (("", "now"),)  # inserted


def _utt(i, ref, **slices):
    return Utterance(f"u{i}", AudioSource(path=f"/x/{i}.wav"), ref, slices)


def test_normalized_and_raw_side_by_side():
    utts = [_utt(0, "Seven cats.", language="en")]
    ev = evaluate(utts, {"u0": "7 cats"}, EvaluationOptions("auto", ("language",), BootstrapOptions(resamples=0)))
    assert ev.normalized.overall.wer == 0.0
    assert ev.raw.overall.wer == 1.0  # "Seven"≠"7", "cats."≠"cats"
    assert ev.normalized.normalizer == "auto@1" and ev.raw.normalizer == "raw@1"


def test_slices_sum_to_overall_and_missing_hypothesis_scores_as_deletions():
    utts = [
        _utt(0, "one two three", accent="a", language="en"),
        _utt(1, "four five", accent="b", language="en"),
        _utt(2, "six seven eight nine", accent="b", language="en"),
    ]
    hyps = {"u0": "one two tree", "u2": "six seven eight nine"}  # u1 missing
    card, per = score(utts, hyps, get_normalizer("raw"), ("accent",), BootstrapOptions(resamples=200))
    a, b = card.slice("accent", "a"), card.slice("accent", "b")
    assert a.utterances + b.utterances == card.overall.utterances == 3
    assert a.errors + b.errors == card.overall.errors == 3  # 1 substitution + 2 deletions
    assert b.deletions == 2
    assert card.overall.wer == pytest.approx(3 / 9)
    assert card.overall.utterances_with_errors == 2


def test_slice_of_only_no_speech_clips_has_no_wer_but_counts_insertions():
    utts = [_utt(0, "", kind="silence"), _utt(1, "hello there", kind="speech")]
    card, _ = score(utts, {"u0": "thank you", "u1": "hello there"}, get_normalizer("raw"), ("kind",), BootstrapOptions(resamples=100))
    silence = card.slice("kind", "silence")
    assert silence.wer is None and silence.wer_ci is None
    assert silence.insertions == 2


def test_interval_contains_point_estimate_and_is_reproducible():
    rng = np.random.default_rng(0)
    words = rng.integers(3, 20, size=300)
    errors = rng.binomial(words, 0.2)
    opts = BootstrapOptions(resamples=1000, seed=7)
    first = ratio_intervals(errors, words, opts, np.random.default_rng(7))[0]
    again = ratio_intervals(errors, words, opts, np.random.default_rng(7))[0]
    other = ratio_intervals(errors, words, opts, np.random.default_rng(8))[0]
    point = errors.sum() / words.sum()
    assert first.contains(point)
    assert first == again
    assert first != other
    assert 0 < first.high - first.low < 0.1


def test_vectorized_bootstrap_equals_realigning_every_resample():
    refs = ["the cat sat", "a dog ran far away", "hello world", "one more line of text", "short"]
    hyps = ["the bat sat", "a dog ran away", "hello word", "one more line of text", "shirt here"]
    scores = align([str(i) for i in range(5)], refs, hyps)
    errors = np.array([s.errors for s in scores])
    words = np.array([s.ref_words for s in scores])
    B = 50
    opts = BootstrapOptions(resamples=B, confidence=0.9)
    fast = ratio_intervals(errors, words, opts, np.random.default_rng(3))[0]
    index = np.random.default_rng(3).integers(0, 5, size=(B, 5), dtype=np.int32)
    naive = [jiwer.wer([refs[i] for i in row], [hyps[i] for i in row]) for row in index]
    low, high = np.quantile(naive, [0.05, 0.95])
    assert (fast.low, fast.high) == pytest.approx((low, high))


def test_identical_slices_get_identical_intervals():
    utts = [_utt(i, "a b c d", language="de", accent="de-DE") for i in range(20)]
    hyps = {f"u{i}": "a b x d" if i % 3 else "a b c" for i in range(20)}
    card, _ = score(utts, hyps, get_normalizer("raw"), ("language", "accent"), BootstrapOptions(resamples=300))
    assert card.slice("language", "de").wer_ci == card.slice("accent", "de-DE").wer_ci


def test_scorecard_round_trips_through_dict():
    utts = [_utt(i, "a b c", accent="x" if i % 2 else "y") for i in range(6)]
    card, _ = score(utts, {"u1": "a b", "u2": "a c c"}, get_normalizer("raw"), ("accent",), BootstrapOptions(resamples=50))
    assert scorecard_from_dict(scorecard_to_dict(card)) == card


@pytest.mark.parametrize(
    "thresholds, misses",
    [
        (Thresholds(), 0),
        (Thresholds(max_wer=50), 0),
        (Thresholds(max_wer=10), 1),
        (Thresholds(max_slice_wer=40), 1),  # slice x at 66.7%
        (Thresholds(max_wer=10, max_slice_wer=10), 2),  # y is at 0%
        (Thresholds(max_slice_wer=40, min_slice_utterances=4), 0),
    ],
)
def test_thresholds(thresholds, misses):
    utts = [_utt(i, "a b c", accent="x" if i % 2 else "y") for i in range(6)]
    hyps = {f"u{i}": ("a" if i % 2 else "a b c") for i in range(6)}
    card, _ = score(utts, hyps, get_normalizer("raw"), ("accent",), BootstrapOptions(resamples=0))
    assert len(check_thresholds(card, thresholds)) == misses
