"""Domain-term metrics: did the terms that matter come out right, and what did fixing cost?

- term recall: lexicon terms in the reference that appear in the hypothesis;
- term precision: lexicon terms in the hypothesis that are really in the reference;
- over-correction: reference words a strategy turned from right (in the baseline) to wrong;
- words touched: the word edit distance between the transcript before and after the
  strategy (words it replaced or deleted plus words it inserted), what "broken" is a
  share of;
- words invented: words the strategy wrote (its output's words in a substitution or an
  insertion of the before -> after alignment) that occur nowhere in the utterance's
  reference: a word nobody said. A wrong term counts (the speaker did not say it); a
  right word moved to another place does not (that is broken/fixed, not invented).

Counted on normalized text with the same normalizer as WER, per slice.
"""

from collections import Counter
from dataclasses import dataclass
from typing import Mapping, Sequence

import jiwer

from .normalizers import Normalizer
from .slicing import slice_value

__all__ = ["TermScore", "OverCorrection", "term_scores", "over_corrections"]


@dataclass(frozen=True)
class TermScore:
    column: str
    value: str
    in_reference: int  # term occurrences in the references
    in_hypothesis: int  # term occurrences in the hypotheses
    recalled: int  # reference occurrences also found in the hypothesis
    correct: int  # hypothesis occurrences also in the reference

    @property
    def recall(self) -> float | None:
        return self.recalled / self.in_reference if self.in_reference else None

    @property
    def precision(self) -> float | None:
        return self.correct / self.in_hypothesis if self.in_hypothesis else None


@dataclass(frozen=True)
class OverCorrection:
    column: str
    value: str
    broken: int  # reference words right in the baseline and wrong after the strategy
    fixed: int  # reference words wrong in the baseline and right after
    ref_words: int
    touched: int = 0  # word edit distance between the transcript before and after the strategy
    invented: int = 0  # words the strategy wrote that are nowhere in the reference
    written: int = 0  # words the strategy wrote (substituted or inserted): what `invented` is a share of

    @property
    def rate(self) -> float | None:
        return self.broken / self.ref_words if self.ref_words else None

    @property
    def broken_share(self) -> float | None:
        """Broken words per word touched."""
        return self.broken / self.touched if self.touched else None


def _groups(items, slice_columns):
    yield "overall", "all", list(items)
    for column in slice_columns:
        by_value: dict[str, list] = {}
        for u in items:
            by_value.setdefault(slice_value(u.slices, column), []).append(u)
        for value in sorted(by_value):
            yield column, value, by_value[value]


def _count(tokens: list[str], patterns: Sequence[tuple[str, ...]]) -> Counter:
    found: Counter = Counter()
    for pattern in patterns:
        n = len(pattern)
        for i in range(len(tokens) - n + 1):
            if tuple(tokens[i : i + n]) == pattern:
                found[pattern] += 1
    return found


def term_scores(items: Sequence, hypotheses: Mapping[str, str], terms_by_language, normalizer: Normalizer, slice_columns) -> list[TermScore]:
    """terms_by_language(language) -> the lexicon terms (strings) that apply to it."""
    cache: dict = {}

    def patterns(language):
        if language not in cache:
            normalized = (tuple(normalizer(t, language).split()) for t in terms_by_language(language))
            cache[language] = tuple(sorted({p for p in normalized if p}, key=len, reverse=True))
        return cache[language]

    per_utt = {}
    for u in items:
        pats = patterns(u.language)
        ref = _count(normalizer(u.reference, u.language).split(), pats)
        hyp = _count(normalizer(hypotheses.get(u.id, ""), u.language).split(), pats)
        matched = sum((ref & hyp).values())
        per_utt[u.id] = (sum(ref.values()), sum(hyp.values()), matched)
    out = []
    for column, value, group in _groups(items, slice_columns):
        r = sum(per_utt[u.id][0] for u in group)
        h = sum(per_utt[u.id][1] for u in group)
        m = sum(per_utt[u.id][2] for u in group)
        out.append(TermScore(column, value, r, h, m, m))
    return out


def _right_positions(ref: str, hyp: str) -> set[int]:
    if not ref.split():
        return set()
    out = jiwer.process_words(ref, hyp or "")
    right = set()
    for chunk in out.alignments[0]:
        if chunk.type == "equal":
            right.update(range(chunk.ref_start_idx, chunk.ref_end_idx))
    return right


def _edits(before: str, after: str) -> tuple[int, list[str]]:
    """(word edit distance, the words `after` wrote) from `before` to `after`."""
    b, a = before.split(), after.split()
    if b == a:
        return 0, []
    if not b:
        return len(a), a
    if not a:
        return len(b), []
    out = jiwer.process_words(before, after)
    written = [w for chunk in out.alignments[0] if chunk.type in ("substitute", "insert")
               for w in a[chunk.hyp_start_idx:chunk.hyp_end_idx]]
    return out.substitutions + out.deletions + out.insertions, written


def over_corrections(items: Sequence, baseline: Mapping[str, str], strategy: Mapping[str, str], normalizer: Normalizer, slice_columns) -> list[OverCorrection]:
    per_utt = {}
    for u in items:
        ref = normalizer(u.reference, u.language)
        hyp_before = normalizer(baseline.get(u.id, ""), u.language)
        hyp_after = normalizer(strategy.get(u.id, ""), u.language)
        before = _right_positions(ref, hyp_before)
        after = _right_positions(ref, hyp_after)
        touched, written = _edits(hyp_before, hyp_after)
        said = set(ref.split())
        invented = sum(1 for w in written if w not in said)
        per_utt[u.id] = (len(before - after), len(after - before), len(ref.split()), touched, invented, len(written))
    out = []
    for column, value, group in _groups(items, slice_columns):
        sums = [sum(per_utt[u.id][k] for u in group) for k in range(6)]
        out.append(OverCorrection(column, value, *sums))
    return out
