"""Scoring at scale gives the figures scoring gave before, to the digit.

The figures below were computed by the workbench BEFORE scoring moved to count arrays,
per-membership bootstraps in forked workers and the fast English normalizer (commit
250b7cc), on a fixed corpus. Serial and forked paths must both reproduce them exactly.
"""

import random
from collections import Counter

import numpy as np
import pytest

import workbench.bootstrap as bootstrap
import workbench.normalizers as normalizers
import workbench.scoring as scoring
from workbench.bootstrap import BootstrapOptions, Interval
from workbench.dataset import AudioSource, Utterance
from workbench.evaluation import EvaluationOptions, evaluate
from workbench.regression import ReportOptions, paired_rows
from workbench.scoring import Confusion, _PairIndex


def _corpus(n: int = 48):
    rng = random.Random(7)
    vocab = ("the a and of to patient dose two three seven colour doctor mr it's don't clinic tablet daily "
             "morning night pain left right twenty").split()
    accents = ("en-US", "en-GB", "Scottish", "Caribbean")
    utts, a, b = [], {}, {}
    for i in range(n):
        words = [rng.choice(vocab) for _ in range(rng.randint(3, 12))]
        ref = words[0].capitalize() + " " + " ".join(words[1:]) + "."

        def noisy(rate):
            out = []
            for w in words:
                u = rng.random()
                if u < rate * 0.6:
                    out.append(rng.choice(vocab))
                elif u >= rate * 0.85:
                    out.append(w)
                if rng.random() < rate * 0.15:
                    out.append(rng.choice(vocab))
            return " ".join(out)

        uid = f"u{i:03d}"
        utts.append(Utterance(uid, AudioSource(path=f"/x/{uid}.wav"), ref,
                              {"accent": accents[i % 4], "language": "en", "speaker": f"s{i % 9}"}))
        rate = 0.1 + 0.1 * (i % 4)
        a[uid] = noisy(rate)
        b[uid] = noisy(rate * 0.7)
    return utts, a, b


def _ci(low, high):
    return Interval(low, high, 0.95)


# (column, value) -> (WER, WER interval, first two confusions), normalized scorecard
PREVIOUS_SLICES = {
    ("accent", "Caribbean"): (0.4148936170212766, _ci(0.3333333333333333, 0.5022826086956521),
                              (Confusion("tablet", "", 2), Confusion("not", "", 2))),
    ("accent", "Scottish"): (0.2696629213483146, _ci(0.16666666666666666, 0.40885874877810363),
                             (Confusion("2", "doctor", 2), Confusion("patient", "pain", 2))),
    ("accent", "en-GB"): (0.3176470588235294, _ci(0.22685993975903618, 0.4156371308016877),
                          (Confusion("not", "", 2), Confusion("right", "daily", 1))),
    ("accent", "en-US"): (0.12643678160919541, _ci(0.05402739726027398, 0.21463978849966947),
                          (Confusion("of", "2", 1), Confusion("doctor", "", 1))),
    ("language", "en"): (0.28450704225352114, _ci(0.22933153925379582, 0.3372946614160798),
                         (Confusion("not", "", 5), Confusion("doctor", "", 2))),
}
# (column, value) -> change, change_low, change_high (points), p_value, sign test p, verdict
PREVIOUS_PAIRED = {
    ("overall", "all"): (-6.478873239436619, -12.116123606096199, 1.2367892976588626, 0.08666666666666667, 0.175465248990804, "unchanged"),
    ("accent", "Caribbean"): (-7.446808510638298, -22.770380434782606, 8.928977272727264, 0.4066666666666667, 0.75390625, "unchanged"),
    ("accent", "Scottish"): (1.1235955056179776, -12.222222222222221, 11.556658130601779, 1.0, 0.75390625, "unchanged"),
    ("accent", "en-GB"): (-14.117647058823529, -27.011194029850742, -4.008643795229178, 0.0, 0.0703125, "improved"),
    ("accent", "en-US"): (-5.747126436781609, -14.494949494949488, 1.2920552964690195, 0.18666666666666668, 0.453125, "unchanged"),
}


@pytest.fixture(params=["serial", "forked"])
def path(request, monkeypatch):
    if request.param == "forked":  # every part that can run in workers does, even on 48 utterances
        monkeypatch.setattr(scoring, "PARALLEL_MIN_UTTERANCES", 1)
        monkeypatch.setattr(bootstrap, "PARALLEL_MIN_DRAWS", 1)
        monkeypatch.setattr(scoring, "can_fork", lambda: True)
        monkeypatch.setattr(bootstrap, "can_fork", lambda: True)
    return request.param


def test_scorecards_and_paired_changes_equal_the_previous_figures(path):
    utts, a, b = _corpus()
    options = EvaluationOptions("auto", ("accent", "language"), BootstrapOptions(resamples=300, seed=11))
    ea, eb = evaluate(utts, a, options), evaluate(utts, b, options)

    overall = ea.normalized.overall
    assert (overall.wer, overall.wer_ci, overall.cer_ci) == (
        0.28450704225352114, _ci(0.22933153925379582, 0.3372946614160798), _ci(0.19248522122115416, 0.2948574589117463))
    assert (ea.raw.overall.wer, ea.raw.overall.wer_ci) == (0.46355685131195334, _ci(0.41500793780021167, 0.5156592210054753))
    assert {(s.column, s.value): (s.wer, s.wer_ci, s.confusions[:2]) for s in ea.normalized.slices} == PREVIOUS_SLICES
    assert ea.normalized.confusions[:4] == (
        Confusion("not", "", 5), Confusion("doctor", "", 2), Confusion("left", "and", 2), Confusion("mister", "dose", 2))

    rows = paired_rows(utts, list(ea.per_utterance), list(eb.per_utterance), ("accent",), ReportOptions(bootstrap=options.bootstrap))
    assert {(r["column"], r["value"]): (r["change"], r["change_low"], r["change_high"], r["p_value"], r["sign_test_p"], r["verdict"])
            for r in rows} == PREVIOUS_PAIRED
    clustered = paired_rows(utts, list(ea.per_utterance), list(eb.per_utterance), ("accent",),
                            ReportOptions(bootstrap=options.bootstrap, cluster="speaker"))
    assert (clustered[0]["change_low"], clustered[0]["change_high"], clustered[0]["p_value"]) == (
        -12.280701754385964, -0.41746585773439143, 0.04666666666666667)


def test_block_size_does_not_change_the_replicates(monkeypatch):
    rng = np.random.default_rng(0)
    words = rng.integers(3, 20, size=(2, 997)).astype(float)
    errors = rng.binomial(words.astype(int), 0.2).astype(float)
    options = BootstrapOptions(resamples=101)
    whole = bootstrap.ratio_replicates(errors, words, options, np.random.default_rng(5))
    monkeypatch.setattr(bootstrap, "_BLOCK_CELLS", 3 * 997 + 5)  # blocks of 3 resamples
    assert np.array_equal(bootstrap.ratio_replicates(errors, words, options, np.random.default_rng(5)), whole, equal_nan=True)


def test_most_frequent_pairs_break_ties_as_counter_does():
    rng = random.Random(3)
    words = ["a", "b", "c", "d", ""]
    pairs = [tuple((rng.choice(words), rng.choice(words)) for _ in range(rng.randint(0, 4))) for _ in range(300)]
    index = _PairIndex(pairs)
    members = np.array(sorted(rng.sample(range(300), 120)))
    for chosen, n in ((None, 20), (members, 5), (members, 40)):
        keep = range(300) if chosen is None else chosen
        counter = Counter(p for i in keep for p in pairs[i])
        assert index.top(chosen, n, 300) == tuple(Confusion(r, h, c) for (r, h), c in counter.most_common(n))


def test_fast_english_normalizer_gives_whispers_output():
    whisper = normalizers._whisper_english()
    fast = normalizers._english()
    assert fast is not whisper, "the shortcuts are not active for this openai-whisper"
    rng = random.Random(1)
    pieces = list("abcmhu ,.'-$%()[]<>0123456789éœ¢€£") + ["one ", "and ", "a half ", "hundred ", "mr ", "won't ", "two ",
                                                         "point ", "dollars ", "hmm ", "uh ", "o'clock ", "twenty-first "]
    texts = ["Mr. Smith's $20 million deal.", "one hundred and five", "two and a half", "It's 3.5%", "[noise] hmm (laughs) ok",
             "1,000,000 people", "£5 and 50p", "the 1960s", "won't can't y'all", "café naïve œuvre", "He's been, she'd gone",
             "one oh one", "double seven", "minus three", "$0.50", "colour favourite", "St. Louis", "   ", ""]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(2000)]
    # runs of Whisper's number words between other words: the number normalizer's shortcut
    vocabulary = sorted(whisper.standardize_numbers.words) + ["apple", "box", "the", "-", "a"]
    texts += [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 8))) for _ in range(3000)]
    assert [fast(t) for t in texts] == [whisper(t) for t in texts]


def test_per_utterance_scores_are_built_when_read():
    utts, a, _ = _corpus(10)
    (card, lazy), = scoring.score_many(utts, a, [normalizers.get_normalizer("raw")], (), BootstrapOptions(resamples=0))
    assert lazy._built is None and len(lazy) == 10
    eager = scoring.align([u.id for u in utts], [normalizers.get_normalizer("raw")(u.reference) for u in utts],
                          [normalizers.get_normalizer("raw")(a[u.id]) for u in utts])
    assert list(lazy) == eager and lazy[3] == eager[3] and lazy == eager
