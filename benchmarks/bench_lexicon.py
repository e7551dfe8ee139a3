#!/usr/bin/env python3
"""Benchmark: lexicon correction throughput, 5,000 terms over 100,000 hypothesis words.

What it measures
----------------
On a deterministic synthetic workload (seeded RNG):

* lexicon: the demo corpus's shipped terms (`workbench/examples/demo/lexicon.csv`) plus
  pseudo-drug names built from stems and real drug-name suffixes ("bevoxapril",
  "taluvastatin", "remdaxolol sodium") up to ``--terms`` (default 5,000), all English;
* hypotheses: English sentences of 6-20 words, ``--words`` in all (default 100,000). Most
  words are drawn with Zipf-like weights from the 20,000 most frequent English words;
  ``--oov`` of them (default 4 %) are words outside that list, nearly all unique (the
  words that cost the most: every span around them is searched and nothing repeats).
  ``--oov-kind foreign`` (default) draws them from the German, Spanish, French, Italian
  and Portuguese word lists, less the English words: real-looking names and rare words.
  ``--oov-kind pseudo`` makes them from the same syllables as the pseudo-drug names: a
  worst case, since every one of them looks like a drug. About one sentence
  in three mentions a lexicon term as a speech recognizer might mishear it (vowels
  changed, voicing swapped, split into two or three pieces: "bivo xa pril").
  Sentences are cased and punctuated.

Then:

* fast path: one `LexiconCorrector` built for the lexicon (build time shown apart),
  `correct(hypothesis, "en")` over every hypothesis, timed from a cold span cache, and
  again with the cache warm. Words per second = hypothesis words / time.
* naive path: every span of 1-4 words against every term (no common-word skipping, no
  buckets, no cache), with the same two rapidfuzz tests: `process.extractOne` of the
  span over all 5,000 joined terms (`fuzz.ratio`, `score_cutoff`) and over all 5,000
  sound keys. Far too slow for 100,000 words, so it runs on the first
  ``--naive-words`` words (default 2,000) and its time is extrapolated linearly (its
  cost per word is constant: up to 4 spans per word, each against every term).
* checks (printed): how many of the misheard term mentions came back as the right term,
  and how many replacements were made where no term was mentioned. The run fails (exit
  1) below 50 % recall, or above 5 stray replacements per 1,000 words with foreign rare
  words (with pseudo ones, every rare word looks like a drug: strays are expected).

The process is pinned to one CPU (``os.sched_setaffinity``) and BLAS/OpenMP threads to
1; rapidfuzz's `process.extractOne` is single-threaded.

How to run (from the repository root, in the project's venv)::

    . .venv/bin/activate
    python benchmarks/bench_lexicon.py                 # about 15 s
    python benchmarks/bench_lexicon.py --naive-words 5000

Options: --terms 5000 --words 100000 --oov 0.04 --oov-kind foreign --naive-words 2000 --seed 0
--target 50000 (words per second, cold cache). Missing the speed target does not change
the exit status.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import platform
import random
import sys
import time
from pathlib import Path

from rapidfuzz import fuzz, process

from strategies.lexicon_correction import (
    CorrectionOptions,
    LexiconCorrector,
    _span_key,
    phonetic_key,
)
from workbench.lexicon import (
    Lexicon,
    Term,
    _ranked_words,
    load_lexicon,
    term_words,
    words,
)

DEMO_LEXICON = Path(__file__).resolve().parent.parent / "workbench" / "examples" / "demo" / "lexicon.csv"

_ONSETS = ["b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "cl", "dr", "fl", "pr", "tr", "st", "ch", "ph", "qu"]
_VOWELS = ["a", "e", "i", "o", "u", "a", "e", "i", "o", "y"]
_SUFFIXES = [
    "pril", "sartan", "olol", "statin", "mab", "cillin", "mycin", "azole", "floxacin", "tide", "dipine", "tinib",
    "vir", "zepam", "pine", "semide", "amide", "oxetine", "triptan", "parin", "dronate", "lukast", "gliptin", "afil",
    "tadine", "profen", "cycline", "conazole", "setron", "prazole",
]
_SALTS = ["sodium", "potassium", "hydrochloride", "acetate", "succinate"]


def pseudo_terms(rng: random.Random, count: int, taken: set[str]) -> list[Term]:
    """Plausible, distinct pseudo-drug names: 1-3 syllables + a real drug-name suffix."""
    out: list[Term] = []
    while len(out) < count:
        stem = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.randint(1, 3)))
        name = stem + rng.choice(_SUFFIXES)
        if rng.random() < 0.08:
            name += " " + rng.choice(_SALTS)
        if name in taken:
            continue
        taken.add(name)
        out.append(Term(name, "en", "drug", ()))
    return out


def build_lexicon(rng: random.Random, size: int) -> Lexicon:
    shipped = load_lexicon(DEMO_LEXICON)
    terms = list(shipped.terms)
    terms += pseudo_terms(rng, size - len(terms), {t.text.lower() for t in terms})
    return Lexicon(tuple(terms), "synthetic", (), len(terms))


_SWAPS = {"b": "p", "p": "b", "d": "t", "t": "d", "g": "k", "k": "c", "c": "k", "v": "f", "f": "ph", "z": "s", "s": "z", "x": "cks"}


def mishear(rng: random.Random, term: str) -> str:
    """A recognizer-style mishearing: a vowel or two changed, voicing swapped, pieces split."""
    chars = list(term.lower().replace(" ", ""))
    for _ in range(rng.randint(1, 2)):
        k = rng.randrange(len(chars))
        if chars[k] in "aeiouy":
            chars[k] = rng.choice("aeiou")
        elif chars[k] in _SWAPS:
            chars[k] = _SWAPS[chars[k]]
    text = "".join(chars)
    pieces = rng.choice([1, 1, 2, 2, 3])
    if pieces > 1 and len(text) >= 6 * pieces // 2:
        cuts = sorted(rng.sample(range(2, len(text) - 1), pieces - 1))
        text = " ".join(text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)]))
    return text


def pseudo_word(rng: random.Random) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.randint(2, 4)))


def foreign_words() -> list[str]:
    """Words of other languages that are not English words: stand-ins for names and rare words."""
    english = set(_ranked_words("en"))
    out: dict[str, None] = {}
    for code in ("de", "es", "fr", "it", "pt"):
        out.update((w, None) for w in _ranked_words(code) if w not in english and len(w) > 3)
    return sorted(out)


def build_hypotheses(rng: random.Random, lexicon: Lexicon, total_words: int, oov: float, oov_kind: str = "foreign"):
    """(hypotheses, mentions): mentions[i] = the term misheard in hypothesis i, or None."""
    vocabulary = list(_ranked_words("en")[:20_000])
    weights = [1.0 / (rank + 10) for rank in range(len(vocabulary))]
    cumulative = []
    acc = 0.0
    for w in weights:
        acc += w
        cumulative.append(acc)
    terms = [t.text for t in lexicon.terms]
    rare = foreign_words() if oov_kind == "foreign" else []
    hyps, mentions, count = [], [], 0
    while count < total_words:
        n = rng.randint(6, 20)
        sentence = []
        for _ in range(n):
            if rng.random() < oov:
                sentence.append(rng.choice(rare) if rare else pseudo_word(rng))
            else:
                sentence.append(rng.choices(vocabulary, cum_weights=cumulative)[0])
        mention = None
        if rng.random() < 0.33:
            mention = rng.choice(terms)
            sentence.insert(rng.randrange(1, len(sentence)), mishear(rng, mention))
        text = " ".join(sentence)
        if rng.random() < 0.5:
            cut = text.find(" ", len(text) // 2)
            text = text[:cut] + "," + text[cut:] if cut > 0 else text
        text = text[:1].upper() + text[1:] + rng.choice([".", ".", "?"])
        hyps.append(text)
        mentions.append(mention)
        count += len(words(text))
    return hyps, mentions


def naive_correct(hypothesis: str, joined: list[str], keys: list[str], options: CorrectionOptions) -> int:
    """Every span of 1-4 words against every term, both tests; returns the hits found."""
    tokens = [w for _, _, w in words(hypothesis)]
    hits = 0
    for i in range(len(tokens)):
        for j in range(i + 1, min(len(tokens), i + options.max_span_words) + 1):
            span = tokens[i:j]
            plain = process.extractOne("".join(span), joined, scorer=fuzz.ratio, score_cutoff=options.fuzzy_threshold)
            sound = process.extractOne(_span_key([phonetic_key(w) for w in span]), keys, scorer=fuzz.ratio, score_cutoff=options.phonetic_threshold)
            hits += plain is not None or sound is not None
    return hits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--terms", type=int, default=5000)
    parser.add_argument("--words", type=int, default=100_000)
    parser.add_argument("--oov", type=float, default=0.04)
    parser.add_argument("--oov-kind", choices=("foreign", "pseudo"), default="foreign")
    parser.add_argument("--naive-words", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", type=float, default=50_000.0, help="words per second")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rng = random.Random(args.seed)
    lexicon = build_lexicon(rng, args.terms)
    hyps, mentions = build_hypotheses(rng, lexicon, args.words, args.oov, args.oov_kind)
    total = sum(len(words(h)) for h in hyps)
    options = CorrectionOptions()

    print(f"python {platform.python_version()} on {platform.machine()}, 1 CPU pinned")
    print(f"lexicon: {len(lexicon.terms):,} terms; hypotheses: {len(hyps):,} ({total:,} words, "
          f"{sum(m is not None for m in mentions):,} misheard term mentions, {args.oov:.0%} rare words: {args.oov_kind})")

    started = time.perf_counter()
    corrector = LexiconCorrector(lexicon, options)
    corrector.correct("warm up", "en")  # builds the English index and loads the common words
    build_s = time.perf_counter() - started

    started = time.perf_counter()
    results = [corrector.correct(h, "en") for h in hyps]
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    for h in hyps:
        corrector.correct(h, "en")
    warm_s = time.perf_counter() - started

    sample, count = [], 0
    for h in hyps:
        if count >= args.naive_words:
            break
        sample.append(h)
        count += len(words(h))
    joined = ["".join(term_words(t.text)) for t in lexicon.terms]
    keys = [_span_key([phonetic_key(w) for w in term_words(t.text)]) for t in lexicon.terms]
    started = time.perf_counter()
    for h in sample:
        naive_correct(h, joined, keys, options)
    naive_sample_s = time.perf_counter() - started
    naive_s = naive_sample_s * total / count

    fast_wps, warm_wps, naive_wps = total / cold_s, total / warm_s, total / naive_s
    print(f"index build (incl. common words): {build_s:.2f} s")
    print(f"fast, cold cache: {cold_s:.2f} s = {fast_wps:,.0f} words/s")
    print(f"fast, warm cache: {warm_s:.2f} s = {warm_wps:,.0f} words/s")
    print(f"naive: {naive_sample_s:.2f} s for {count:,} words, extrapolated to {total:,}: {naive_s:,.0f} s = {naive_wps:,.0f} words/s")
    print(f"ratio (fast cold / naive): {fast_wps / naive_wps:,.0f}x")

    right = wrong = stray = 0
    for result, mention in zip(results, mentions):
        hit = [r.term for r in result.replacements]
        if mention is not None and mention in hit:
            right += 1
            hit.remove(mention)
        elif mention is not None and hit:
            wrong += 1
            hit.pop()
        stray += len(hit)
    mentioned = sum(m is not None for m in mentions)
    print(f"check: {right:,}/{mentioned:,} misheard mentions corrected to the right term ({right / mentioned:.0%}), "
          f"{wrong:,} to a wrong term; {stray:,} replacements where no term was mentioned "
          f"({stray / total * 1000:.2f} per 1,000 words)")
    print(f"target {args.target:,.0f} words/s: {'met' if fast_wps >= args.target else 'MISSED'}")
    # With --oov-kind pseudo every rare word is built like a drug name: strays are expected.
    ok = right / mentioned >= 0.5 and (args.oov_kind == "pseudo" or stray / total < 0.005)
    if not ok:
        print("CHECK FAILED: recall of misheard mentions below 50 % or more than 5 stray replacements per 1,000 words")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
