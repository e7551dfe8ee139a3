"""Score hypotheses against references: one alignment per utterance, then derive the rest.

jiwer aligns each (normalized) reference/hypothesis pair once at word level and once at
character level. Every figure after that (WER, CER, S/D/I, confusion pairs, per-slice
totals and their bootstrap intervals) is derived from those per-utterance counts, so
rescoring a slice, or drawing 1,000 bootstrap resamples, never re-aligns anything.
"""

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Protocol, Sequence

import jiwer
import numpy as np

from .bootstrap import BootstrapOptions, Interval, ratio_intervals, slice_rng
from .normalizers import Normalizer

__all__ = [
    "UtteranceScore",
    "Confusion",
    "SliceScore",
    "Scorecard",
    "align",
    "aggregate",
    "score",
    "scorecard_to_dict",
    "scorecard_from_dict",
]


@dataclass(frozen=True)
class UtteranceScore:
    """Alignment counts of one utterance under one normalizer."""

    id: str
    reference: str  # normalized reference that was aligned
    hypothesis: str  # normalized hypothesis that was aligned
    ref_words: int
    hyp_words: int
    hits: int
    substitutions: int
    deletions: int
    insertions: int
    ref_chars: int
    char_errors: int
    # (reference word, hypothesis word); "" stands for a deleted or inserted word
    pairs: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions


@dataclass(frozen=True)
class Confusion:
    reference: str  # "" for an insertion
    hypothesis: str  # "" for a deletion
    count: int


@dataclass(frozen=True)
class SliceScore:
    """Corpus-level scores of one slice (or of everything: column "overall")."""

    column: str
    value: str
    utterances: int
    ref_words: int
    hyp_words: int
    substitutions: int
    deletions: int
    insertions: int
    ref_chars: int
    char_errors: int
    utterances_with_errors: int
    wer: float | None  # None when the slice has no reference words (e.g. only silence)
    wer_ci: Interval | None
    cer: float | None
    cer_ci: Interval | None
    confusions: tuple[Confusion, ...] = ()

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def sentence_error_rate(self) -> float | None:
        return self.utterances_with_errors / self.utterances if self.utterances else None


@dataclass(frozen=True)
class Scorecard:
    """Every slice's scores under one normalizer."""

    normalizer: str  # normalizer id, e.g. "auto@1"
    overall: SliceScore
    slices: tuple[SliceScore, ...]
    bootstrap: BootstrapOptions
    confusions: tuple[Confusion, ...] = ()  # most frequent over everything

    def slice(self, column: str, value: str) -> SliceScore:
        for s in self.slices:
            if s.column == column and s.value == value:
                return s
        raise KeyError(f"no slice {column}={value!r}")


def _counts(chunks, ref: Sequence[str], hyp: Sequence[str], want_pairs: bool):
    hits = subs = dels = ins = 0
    pairs: list[tuple[str, str]] = []
    for chunk in chunks:
        r = chunk.ref_end_idx - chunk.ref_start_idx
        h = chunk.hyp_end_idx - chunk.hyp_start_idx
        if chunk.type == "equal":
            hits += r
        elif chunk.type == "substitute":
            subs += r
            if want_pairs:
                pairs.extend(zip(ref[chunk.ref_start_idx : chunk.ref_end_idx], hyp[chunk.hyp_start_idx : chunk.hyp_end_idx]))
        elif chunk.type == "delete":
            dels += r
            if want_pairs:
                pairs.extend((w, "") for w in ref[chunk.ref_start_idx : chunk.ref_end_idx])
        elif chunk.type == "insert":
            ins += h
            if want_pairs:
                pairs.extend(("", w) for w in hyp[chunk.hyp_start_idx : chunk.hyp_end_idx])
    return hits, subs, dels, ins, tuple(pairs)


def align(ids: Sequence[str], references: Sequence[str], hypotheses: Sequence[str]) -> list[UtteranceScore]:
    """Align already-normalized texts: one jiwer pass at word and at character level."""
    if not ids:
        return []
    words = jiwer.process_words(list(references), list(hypotheses))
    chars = jiwer.process_characters(list(references), list(hypotheses))
    out = []
    for i, utt_id in enumerate(ids):
        ref_tokens, hyp_tokens = words.references[i], words.hypotheses[i]
        hits, subs, dels, ins, pairs = _counts(words.alignments[i], ref_tokens, hyp_tokens, True)
        _, c_subs, c_dels, c_ins, _ = _counts(chars.alignments[i], (), (), False)
        out.append(
            UtteranceScore(
                utt_id,
                references[i],
                hypotheses[i],
                len(ref_tokens),
                len(hyp_tokens),
                hits,
                subs,
                dels,
                ins,
                len(chars.references[i]),
                c_subs + c_dels + c_ins,
                pairs,
            )
        )
    return out


def _top_confusions(scores: Iterable[UtteranceScore], n: int) -> tuple[Confusion, ...]:
    counter = Counter(p for s in scores for p in s.pairs)
    return tuple(Confusion(r, h, c) for (r, h), c in counter.most_common(n))


def _slice_score(column, value, scores: list[UtteranceScore], options: BootstrapOptions, top: int) -> SliceScore:
    errors = np.fromiter((s.errors for s in scores), dtype=np.int64, count=len(scores))
    words = np.fromiter((s.ref_words for s in scores), dtype=np.int64, count=len(scores))
    char_errors = np.fromiter((s.char_errors for s in scores), dtype=np.int64, count=len(scores))
    chars = np.fromiter((s.ref_chars for s in scores), dtype=np.int64, count=len(scores))
    total_words, total_chars = int(words.sum()), int(chars.sum())
    wer_ci, cer_ci = ratio_intervals(
        np.vstack([errors, char_errors]), np.vstack([words, chars]), options, slice_rng(options, (s.id for s in scores))
    )
    return SliceScore(
        column=column,
        value=value,
        utterances=len(scores),
        ref_words=total_words,
        hyp_words=sum(s.hyp_words for s in scores),
        substitutions=sum(s.substitutions for s in scores),
        deletions=sum(s.deletions for s in scores),
        insertions=sum(s.insertions for s in scores),
        ref_chars=total_chars,
        char_errors=int(char_errors.sum()),
        utterances_with_errors=int((errors > 0).sum()),
        wer=float(errors.sum()) / total_words if total_words else None,
        wer_ci=wer_ci if total_words else None,
        cer=float(char_errors.sum()) / total_chars if total_chars else None,
        cer_ci=cer_ci if total_chars else None,
        confusions=_top_confusions(scores, top),
    )


def aggregate(
    scores: Sequence[UtteranceScore],
    slices_by_id: Mapping[str, Mapping[str, str]],
    slice_columns: Sequence[str],
    normalizer_id: str,
    options: BootstrapOptions = BootstrapOptions(),
    top_confusions: int = 20,
    slice_confusions: int = 5,
) -> Scorecard:
    """Per-slice and overall scores from per-utterance counts (no re-alignment)."""
    scores = list(scores)
    overall = _slice_score("overall", "all", scores, options, slice_confusions)
    per_slice = []
    for column in slice_columns:
        groups: dict[str, list[UtteranceScore]] = {}
        for s in scores:
            groups.setdefault(slices_by_id.get(s.id, {}).get(column, ""), []).append(s)
        for value in sorted(groups):
            per_slice.append(_slice_score(column, value, groups[value], options, slice_confusions))
    return Scorecard(normalizer_id, overall, tuple(per_slice), options, _top_confusions(scores, top_confusions))


class Scorable(Protocol):
    """What scoring needs of an utterance: a dataset `Utterance` or a stored hypothesis row."""

    id: str
    reference: str
    slices: Mapping[str, str]

    @property
    def language(self) -> str | None: ...


def score(
    utterances: Sequence[Scorable],
    hypotheses: Mapping[str, str],
    normalizer: Normalizer,
    slice_columns: Sequence[str],
    options: BootstrapOptions = BootstrapOptions(),
) -> tuple[Scorecard, list[UtteranceScore]]:
    """Normalize, align once, aggregate. A missing hypothesis scores as an empty one."""
    ids = [u.id for u in utterances]
    refs = [normalizer(u.reference, u.language) for u in utterances]
    hyps = [normalizer(hypotheses.get(u.id, ""), u.language) for u in utterances]
    per_utterance = align(ids, refs, hyps)
    card = aggregate(per_utterance, {u.id: u.slices for u in utterances}, slice_columns, normalizer.id, options)
    return card, per_utterance


# ---------------------------------------------------------------- (de)serialization
# Scorecards are stored in the run store and written to JSON reports as plain dicts.


def scorecard_to_dict(card: Scorecard) -> dict:
    from dataclasses import asdict

    data = asdict(card)
    data["lower_is_better"] = {"wer": True, "cer": True, "sentence_error_rate": True}
    return data


def _interval(data: dict | None) -> Interval | None:
    return Interval(**data) if data else None


def _slice_from_dict(data: dict) -> SliceScore:
    fields = dict(data)
    fields["wer_ci"] = _interval(fields.get("wer_ci"))
    fields["cer_ci"] = _interval(fields.get("cer_ci"))
    fields["confusions"] = tuple(Confusion(**c) for c in fields.get("confusions", ()))
    return SliceScore(**fields)


def scorecard_from_dict(data: dict) -> Scorecard:
    return Scorecard(
        normalizer=data["normalizer"],
        overall=_slice_from_dict(data["overall"]),
        slices=tuple(_slice_from_dict(s) for s in data["slices"]),
        bootstrap=BootstrapOptions(**data["bootstrap"]),
        confusions=tuple(Confusion(**c) for c in data.get("confusions", ())),
    )
