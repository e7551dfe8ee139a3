#!/usr/bin/env python3
"""Benchmark: scoring 10,000 utterances with per-slice bootstrap intervals.

What it measures
----------------
On a deterministic synthetic corpus (seeded RNG; 5-25 word references, hypotheses
with ~10-25 % substitutions/deletions/insertions, slice columns accent (6 values),
language (3 values, mostly "en") and speaker (200 values)):

* fast path, end to end: ``workbench.evaluation.evaluate`` with ``normalizer="auto"``,
  slices accent/language/speaker and 1,000 bootstrap resamples. It normalizes and
  aligns the corpus twice (normalized and raw; jiwer for words, rapidfuzz's Levenshtein
  for characters), then draws one set of bootstrap resamples per group, shared by both
  scorecards, for WER and CER with 95 % intervals for overall and every slice
  (1 + 6 + 3 + 200 = 210 groups), from per-utterance counts. Repeated
  ``--repeats`` times; the median is reported.
* its parts: one ``score()`` call (normalized only), split into normalize / align /
  ``aggregate`` with 1,000 resamples / ``aggregate`` with 0 resamples (medians of
  ``--repeats``); their difference is the bootstrap proper (``ratio_intervals`` over the 210 groups, WER and CER).
* naive path: for each resample and for overall and every slice, draw utterance indices
  with replacement and re-run ``jiwer.process_words`` on the resampled normalized
  references/hypotheses to get the corpus WER. Far too slow for 1,000 resamples, so
  ``--naive-resamples`` are run and the time is extrapolated linearly to
  ``--resamples`` (each resample costs the same: 4 x N alignments). It is given every
  advantage: the texts are normalized beforehand (not timed), and it computes only
  the normalized WER, where the fast path also does CER and the raw scorecard.

Sanity checks (printed): the fast point estimates equal jiwer's corpus WER (overall and
per accent/language slice); on every naive resample, the WER recomputed from the fast
path's per-utterance counts with the same indices equals jiwer's; and on a mid-size
subset (``--check-utterances``, ``--check-resamples``) the naive 95 % interval of the
overall WER has about the same bounds and width as the fast one.

How to run (from the repository root, in the project's venv)::

    . .venv/bin/activate
    python benchmarks/bench_scoring.py                       # defaults below
    python benchmarks/bench_scoring.py --naive-resamples 10 --repeats 5

Options: --utterances 10000 --resamples 1000 --naive-resamples 5 --seed 0 --repeats 3
--check-utterances 500 --check-resamples 200 --target 5.0. Takes one to two minutes
on 2 CPU cores. BLAS/OpenMP threads are pinned to 1 so figures do not depend on them.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import jiwer  # noqa: E402
import numpy as np  # noqa: E402

from workbench.bootstrap import BootstrapOptions, ratio_intervals  # noqa: E402
from workbench.dataset import AudioSource, Utterance  # noqa: E402
from workbench.evaluation import EvaluationOptions, evaluate  # noqa: E402
from workbench.normalizers import get_normalizer, normalize_many  # noqa: E402
from workbench.scoring import aggregate, align, score  # noqa: E402

SLICE_COLUMNS = ("accent", "language", "speaker")
ACCENTS = ("en-US", "en-GB", "en-IN", "Scottish", "Caribbean", "Nigerian")
LANGUAGES = ("en", "de", "fr")
LANGUAGE_SHARE = (0.8, 0.12, 0.08)
SPEAKERS = 200
# per-accent multiplier on the error rate, so slices differ like real ones do
ACCENT_DIFFICULTY = dict(zip(ACCENTS, (0.8, 0.9, 1.1, 1.3, 1.2, 1.0)))

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st", "tr", "pl", "sh", "ch")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou", "ea")
_CODAS = ("", "", "", "n", "r", "s", "t", "l", "nd", "st")
_EXTRA_VOWELS = {"de": ("ä", "ö", "ü", "ie", "ei"), "fr": ("é", "è", "ou", "eau", "oi")}
_FUNCTION_WORDS = {
    "en": ("the", "a", "and", "of", "to", "in", "is", "it", "that", "for", "on", "with", "two", "three", "seven", "twenty"),
    "de": ("der", "die", "und", "ist", "nicht", "mit", "zu", "ein", "zwei", "drei"),
    "fr": ("le", "la", "et", "est", "les", "des", "un", "une", "deux", "trois"),
}


def _vocabulary(rng: np.random.Generator, language: str, size: int) -> list[str]:
    """Function words first (most frequent), then pseudo-words of 2-3 syllables."""
    vowels = _VOWELS + _EXTRA_VOWELS.get(language, ())
    words = list(_FUNCTION_WORDS[language])
    seen = set(words)
    while len(words) < size:
        syllables = int(rng.integers(2, 4))
        word = "".join(
            _ONSETS[rng.integers(len(_ONSETS))] + vowels[rng.integers(len(vowels))] + _CODAS[rng.integers(len(_CODAS))]
            for _ in range(syllables)
        )
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def _format(words: list[str], rng: np.random.Generator) -> str:
    """Sentence casing and punctuation, as a transcript is written."""
    if not words:
        return ""
    out = list(words)
    out[0] = out[0][:1].upper() + out[0][1:]
    if len(out) > 6 and rng.random() < 0.3:
        k = int(rng.integers(2, len(out) - 2))
        out[k] += ","
    return " ".join(out) + ("?" if rng.random() < 0.1 else ".")


def build_corpus(n: int, seed: int) -> tuple[list[Utterance], dict[str, str]]:
    """n utterances and their hypotheses, the same for the same (n, seed)."""
    rng = np.random.default_rng(seed)
    vocab = {lang: _vocabulary(rng, lang, 3000) for lang in LANGUAGES}
    weights = {}
    for lang, words in vocab.items():  # Zipf-like word frequencies
        w = 1.0 / (np.arange(len(words)) + 10.0)
        weights[lang] = w / w.sum()
    # each speaker has one language and one accent (non-English speakers get one of
    # the accents too: an accent column is usually filled for every row)
    speaker_lang = rng.choice(len(LANGUAGES), size=SPEAKERS, p=LANGUAGE_SHARE)
    speaker_accent = rng.integers(0, len(ACCENTS), size=SPEAKERS)
    speaker_share = rng.dirichlet(np.full(SPEAKERS, 2.0))  # uneven speaker sizes
    audio = AudioSource(path="/nonexistent/x.wav")
    utterances, hypotheses = [], {}
    for i in range(n):
        spk = int(rng.choice(SPEAKERS, p=speaker_share))
        lang, accent = LANGUAGES[speaker_lang[spk]], ACCENTS[speaker_accent[spk]]
        words_of, p = vocab[lang], weights[lang]
        ref = [words_of[j] for j in rng.choice(len(words_of), size=int(rng.integers(5, 26)), p=p)]
        rate = min(0.6, rng.uniform(0.10, 0.25) * ACCENT_DIFFICULTY[accent])
        p_sub, p_del, p_ins = 0.6 * rate, 0.25 * rate, 0.15 * rate
        hyp: list[str] = []
        for word in ref:
            u = rng.random()
            if u < p_sub:
                hyp.append(words_of[rng.choice(len(words_of), p=p)])
            elif u >= p_sub + p_del:
                hyp.append(word)
            if rng.random() < p_ins:
                hyp.append(words_of[rng.choice(len(words_of), p=p)])
        utt_id = f"utt{i:05d}"
        utterances.append(
            Utterance(
                id=utt_id,
                audio=audio,
                reference=_format(ref, rng),
                slices={"accent": accent, "language": lang, "speaker": f"spk{spk:03d}"},
            )
        )
        # most hypotheses are cased and punctuated like the reference; some are not,
        # so the raw scorecard differs from the normalized one
        hypotheses[utt_id] = _format(hyp, rng) if rng.random() < 0.7 else " ".join(hyp)
    return utterances, hypotheses


def slice_groups(utterances) -> list[tuple[str, str, np.ndarray]]:
    """(column, value, member indices) for overall and every slice, as aggregate() makes them."""
    groups = [("overall", "all", np.arange(len(utterances)))]
    for column in SLICE_COLUMNS:
        members: dict[str, list[int]] = {}
        for i, u in enumerate(utterances):
            members.setdefault(u.slices.get(column, ""), []).append(i)
        for value in sorted(members):
            groups.append((column, value, np.asarray(members[value])))
    return groups


def naive_bootstrap(refs, hyps, groups, resamples, rng, keep_indices=False):
    """Corpus WER of every group on every resample, re-aligning with jiwer each time."""
    wers = np.empty((len(groups), resamples))
    drawn = []
    for r in range(resamples):
        for g, (_, _, members) in enumerate(groups):
            idx = members[rng.integers(0, len(members), size=len(members))]
            wers[g, r] = jiwer.process_words([refs[i] for i in idx], [hyps[i] for i in idx]).wer
            if keep_indices:
                drawn.append((g, r, idx))
    return wers, drawn


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--utterances", type=int, default=10_000, help="corpus size (default 10000)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of the fast path (default 1000)")
    parser.add_argument("--naive-resamples", type=int, default=5, help="resamples actually run naively; extrapolated to --resamples (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="corpus and naive-resampling seed (default 0)")
    parser.add_argument("--repeats", type=int, default=3, help="fast end-to-end runs; the median is reported (default 3)")
    parser.add_argument("--check-utterances", type=int, default=500, help="subset size of the interval-width check (default 500)")
    parser.add_argument("--check-resamples", type=int, default=200, help="naive resamples of the interval-width check (default 200)")
    parser.add_argument("--target", type=float, default=5.0, help="target seconds for the fast path (default 5)")
    args = parser.parse_args(argv)
    if args.utterances < 1 or args.resamples < 1 or args.naive_resamples < 1 or args.repeats < 1:
        parser.error("--utterances, --resamples, --naive-resamples and --repeats must be >= 1")

    print(f"python {platform.python_version()}, numpy {np.__version__}, jiwer {_version('jiwer')}, "
          f"openai-whisper {_version('openai-whisper')}; {os.cpu_count()} CPUs; BLAS/OMP threads pinned to 1")

    t, (utterances, hypotheses) = timed(build_corpus, args.utterances, args.seed)
    groups = slice_groups(utterances)
    n_words = sum(len(u.reference.split()) for u in utterances)
    per_column = {c: sum(1 for g in groups if g[0] == c) for c in SLICE_COLUMNS}
    print(f"corpus: {len(utterances)} utterances, {n_words} reference words, slices "
          + ", ".join(f"{c}={k}" for c, k in per_column.items())
          + f" ({len(groups)} groups with overall; built in {t:.1f} s, not timed below)")

    options = EvaluationOptions(normalizer="auto", slice_columns=SLICE_COLUMNS, bootstrap=BootstrapOptions(resamples=args.resamples))
    normalizer = get_normalizer("auto")
    normalizer("warm up", "en")  # builds whisper's EnglishTextNormalizer once

    # ------------------------------------------------------------------ fast path
    evaluate_times = []
    for _ in range(args.repeats):
        t, evaluation = timed(evaluate, utterances, hypotheses, options)
        evaluate_times.append(t)
    fast = statistics.median(evaluate_times)
    print(f"fast evaluate() x{args.repeats}: " + ", ".join(f"{t:.2f}" for t in evaluate_times) + f" s -> median {fast:.2f} s")

    t_score, (card, per_utt) = timed(score, utterances, hypotheses, normalizer, SLICE_COLUMNS, options.bootstrap)
    ids = [u.id for u in utterances]
    texts = [u.reference for u in utterances] + [hypotheses.get(u.id, "") for u in utterances]
    languages = [u.language for u in utterances] * 2
    t_norm_serial, serial = timed(lambda: [normalizer(t, lang) for t, lang in zip(texts, languages)])
    t_norm, normalized = timed(normalize_many, normalizer, texts, languages)
    assert normalized == serial, "parallel and serial normalization disagree"
    refs, hyps = normalized[: len(utterances)], normalized[len(utterances) :]
    t_align, per_utt2 = timed(align, ids, refs, hyps)
    slices_by_id = {u.id: u.slices for u in utterances}
    agg_times, agg0_times = [], []
    for _ in range(args.repeats):  # short and noisy: medians, so their difference is usable
        t, card2 = timed(aggregate, per_utt2, slices_by_id, SLICE_COLUMNS, normalizer.id, options.bootstrap)
        agg_times.append(t)
        t, _ = timed(aggregate, per_utt2, slices_by_id, SLICE_COLUMNS, normalizer.id, BootstrapOptions(resamples=0))
        agg0_times.append(t)
    t_agg, t_agg0 = statistics.median(agg_times), statistics.median(agg0_times)
    t_boot = t_agg - t_agg0
    assert card2 == card, "score() and normalize+align+aggregate disagree"

    # ------------------------------------------------------------------ naive path
    rng = np.random.default_rng([args.seed, 1])
    t_naive, (naive_wers, drawn) = timed(naive_bootstrap, refs, hyps, groups, args.naive_resamples, rng, True)
    naive_full = t_naive * args.resamples / args.naive_resamples

    # ------------------------------------------------------------------ sanity checks
    print("\nsanity checks")
    ok = True
    point_groups = [g for g in groups if g[0] in ("overall", "accent", "language")]
    worst = 0.0
    for column, value, members in point_groups:
        jiwer_wer = jiwer.process_words([refs[i] for i in members], [hyps[i] for i in members]).wer
        fast_wer = card.overall.wer if column == "overall" else card.slice(column, value).wer
        worst = max(worst, abs(jiwer_wer - fast_wer))
    good = worst < 1e-12
    ok &= good
    print(f"  [{'ok' if good else 'FAIL'}] point WER = jiwer corpus WER on overall + {len(point_groups) - 1} accent/language slices "
          f"(max |diff| {worst:.1e}); overall normalized WER {100 * card.overall.wer:.2f}%, raw {100 * evaluation.raw.overall.wer:.2f}%")
    errors = np.array([s.errors for s in per_utt], dtype=np.int64)
    words = np.array([s.ref_words for s in per_utt], dtype=np.int64)
    worst = max(abs(errors[idx].sum() / words[idx].sum() - naive_wers[g, r]) for g, r, idx in drawn)
    good = worst < 1e-12
    ok &= good
    print(f"  [{'ok' if good else 'FAIL'}] per-resample WER from per-utterance counts = jiwer re-run on the same draw "
          f"({len(drawn)} draws, max |diff| {worst:.1e})")

    m = min(args.check_utterances, len(utterances))
    sub_refs, sub_hyps = refs[:m], hyps[:m]
    sub_groups = [("overall", "all", np.arange(m))]
    t_check, (check_wers, _) = timed(naive_bootstrap, sub_refs, sub_hyps, sub_groups, args.check_resamples, np.random.default_rng([args.seed, 2]))
    n_low, n_high = percentile_interval(check_wers[0], options.bootstrap.confidence)
    fast_ci = ratio_intervals(
        np.vstack([errors[:m]]), np.vstack([words[:m]]), options.bootstrap, np.random.default_rng([args.seed, 3])
    )[0]
    point = errors[:m].sum() / words[:m].sum()
    width_ratio = (n_high - n_low) / (fast_ci.high - fast_ci.low)
    good = 0.75 <= width_ratio <= 1.33 and n_low < point < n_high
    ok &= good
    print(f"  [{'ok' if good else 'FAIL'}] interval on the first {m} utterances, overall WER {100 * point:.2f}%: "
          f"naive ({args.check_resamples} resamples, {t_check:.1f} s) [{100 * n_low:.2f}, {100 * n_high:.2f}]% vs "
          f"fast ({args.resamples}) [{100 * fast_ci.low:.2f}, {100 * fast_ci.high:.2f}]%, width ratio {width_ratio:.2f} "
          f"(ok within 0.75-1.33)")
    full = card.overall.wer_ci
    print(f"  full corpus, fast: overall WER {100 * card.overall.wer:.2f}% [{100 * full.low:.2f}, {100 * full.high:.2f}]%, "
          f"{sum(1 for s in card.slices if s.wer_ci)} slices with intervals")

    # ------------------------------------------------------------------ table
    rows = [
        (f"fast: evaluate() end to end, median of {args.repeats} (normalized + raw, WER + CER, {len(groups)} groups)", fast),
        ("  one score() call (normalized only; evaluate() makes two)", t_score),
        ("    normalize refs + hyps (auto), serial", t_norm_serial),
        ("    normalize refs + hyps (auto), normalize_many (forked workers)", t_norm),
        ("    align (jiwer words, rapidfuzz chars, once per utterance)", t_align),
        (f"    aggregate, {args.resamples} resamples (median of {args.repeats})", t_agg),
        (f"    aggregate, 0 resamples (median of {args.repeats})", t_agg0),
        (f"    => bootstrap alone ({args.resamples} resamples x {len(groups)} groups, WER + CER)", t_boot),
        (f"naive: jiwer re-run per resample, measured ({args.naive_resamples} resamples, normalized WER only)", t_naive),
        (f"naive: extrapolated linearly to {args.resamples} resamples", naive_full),
    ]
    print(f"\n{len(utterances)} utterances, {args.resamples} resamples, {len(groups)} groups (overall + slices)")
    width = max(len(label) for label, _ in rows)
    print(f"{'':{width}}  {'seconds':>9}")
    for label, seconds in rows:
        print(f"{label:{width}}  {seconds:9.2f}")
    print(f"\nratio naive (extrapolated) / fast evaluate() end to end: {naive_full / fast:,.0f}x")
    print(f"ratio naive (extrapolated) / fast bootstrap alone:        {naive_full / max(t_boot, 1e-9):,.0f}x")
    print(f"per resample: naive {t_naive / args.naive_resamples:.2f} s vs fast bootstrap "
          f"{1000 * t_boot / args.resamples:.2f} ms (one scorecard)")
    met = fast < args.target
    print(f"target: evaluate() under {args.target:g} s -> {'MET' if met else 'NOT MET'} ({fast:.2f} s)")
    print("note: the naive figure is extrapolated from the resamples actually run; timings are noisy on a shared machine")
    return 0 if ok else 1


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
