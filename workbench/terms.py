"""Domain-term metrics: did the terms that matter come out right, and what did fixing cost?

- term recall: lexicon terms in the reference that appear in the hypothesis;
- term precision: lexicon terms in the hypothesis that are really in the reference;
- over-correction: reference words a strategy turned from right (in the baseline) to wrong.

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

    @property
    def rate(self) -> float | None:
        return self.broken / self.ref_words if self.ref_words else None


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


def over_corrections(items: Sequence, baseline: Mapping[str, str], strategy: Mapping[str, str], normalizer: Normalizer, slice_columns) -> list[OverCorrection]:
    per_utt = {}
    for u in items:
        ref = normalizer(u.reference, u.language)
        before = _right_positions(ref, normalizer(baseline.get(u.id, ""), u.language))
        after = _right_positions(ref, normalizer(strategy.get(u.id, ""), u.language))
        per_utt[u.id] = (len(before - after), len(after - before), len(ref.split()))
    out = []
    for column, value, group in _groups(items, slice_columns):
        out.append(
            OverCorrection(column, value, sum(per_utt[u.id][0] for u in group), sum(per_utt[u.id][1] for u in group), sum(per_utt[u.id][2] for u in group))
        )
    return out
