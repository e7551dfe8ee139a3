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
from rapidfuzz.distance import Levenshtein

from .bootstrap import BootstrapOptions, Interval, ratio_intervals, slice_rng
from .normalizers import Normalizer, normalize_many

__all__ = [
    "UtteranceScore",
    "Confusion",
    "SliceScore",
    "Scorecard",
    "align",
    "aggregate",
    "aggregate_many",
    "score",
    "score_many",
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
    out = []
    for i, utt_id in enumerate(ids):
        ref_tokens, hyp_tokens = words.references[i], words.hypotheses[i]
        hits, subs, dels, ins, pairs = _counts(words.alignments[i], ref_tokens, hyp_tokens, True)
        # Character errors need only the edit distance, not an alignment: rapidfuzz's
        # Levenshtein (the engine under jiwer) on the same strings jiwer's CER uses.
        ref_chars, hyp_chars = " ".join(ref_tokens), " ".join(hyp_tokens)
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
                len(ref_chars),
                Levenshtein.distance(ref_chars, hyp_chars),
                pairs,
            )
        )
    return out


def _top_confusions(scores: Iterable[UtteranceScore], n: int) -> tuple[Confusion, ...]:
    counter = Counter(p for s in scores for p in s.pairs)
    return tuple(Confusion(r, h, c) for (r, h), c in counter.most_common(n))


def aggregate_many(
    scored: Sequence[tuple[str, Sequence[UtteranceScore]]],
    slices_by_id: Mapping[str, Mapping[str, str]],
    slice_columns: Sequence[str],
    options: BootstrapOptions = BootstrapOptions(),
    top_confusions: int = 20,
    slice_confusions: int = 5,
) -> list[Scorecard]:
    """Scorecards for several normalizers of the SAME utterances, from per-utterance counts.

    scored: (normalizer id, per-utterance scores in one shared utterance order) pairs.
    Each slice is resampled once for all of them (paired resamples: the raw and the
    normalized interval of a slice come from the same draws), so a second scorecard
    costs almost nothing in bootstrap time.
    """
    if not scored:
        return []
    ids = [s.id for s in scored[0][1]]
    for name, scores in scored:
        if [s.id for s in scores] != ids:
            raise ValueError(f"scores for {name} are not over the same utterances in the same order")
    m, n = len(scored), len(ids)

    def matrix(attribute: str) -> np.ndarray:
        return np.array([[getattr(s, attribute) for s in scores] for _, scores in scored], dtype=np.int64).reshape(m, n)

    errors, words, hyp_words = matrix("errors"), matrix("ref_words"), matrix("hyp_words")
    subs, dels, ins = matrix("substitutions"), matrix("deletions"), matrix("insertions")
    char_errors, chars = matrix("char_errors"), matrix("ref_chars")

    groups: list[tuple[str, str, np.ndarray]] = [("overall", "all", np.arange(n))]
    for column in slice_columns:
        members: dict[str, list[int]] = {}
        for i, utt_id in enumerate(ids):
            members.setdefault(slices_by_id.get(utt_id, {}).get(column, ""), []).append(i)
        groups.extend((column, value, np.array(members[value])) for value in sorted(members))

    per_card: list[list[SliceScore]] = [[] for _ in range(m)]
    for column, value, pos in groups:
        rng = slice_rng(options, (ids[i] for i in pos))
        intervals = ratio_intervals(
            np.vstack([errors[:, pos], char_errors[:, pos]]), np.vstack([words[:, pos], chars[:, pos]]), options, rng
        )
        for j, (_, scores) in enumerate(scored):
            total_words, total_chars = int(words[j, pos].sum()), int(chars[j, pos].sum())
            per_card[j].append(
                SliceScore(
                    column=column,
                    value=value,
                    utterances=len(pos),
                    ref_words=total_words,
                    hyp_words=int(hyp_words[j, pos].sum()),
                    substitutions=int(subs[j, pos].sum()),
                    deletions=int(dels[j, pos].sum()),
                    insertions=int(ins[j, pos].sum()),
                    ref_chars=total_chars,
                    char_errors=int(char_errors[j, pos].sum()),
                    utterances_with_errors=int((errors[j, pos] > 0).sum()),
                    wer=float(errors[j, pos].sum()) / total_words if total_words else None,
                    wer_ci=intervals[j] if total_words else None,
                    cer=float(char_errors[j, pos].sum()) / total_chars if total_chars else None,
                    cer_ci=intervals[m + j] if total_chars else None,
                    confusions=_top_confusions((scores[i] for i in pos), slice_confusions),
                )
            )
    return [
        Scorecard(name, per_card[j][0], tuple(per_card[j][1:]), options, _top_confusions(scores, top_confusions))
        for j, (name, scores) in enumerate(scored)
    ]


def aggregate(
    scores: Sequence[UtteranceScore],
    slices_by_id: Mapping[str, Mapping[str, str]],
    slice_columns: Sequence[str],
    normalizer_id: str,
    options: BootstrapOptions = BootstrapOptions(),
    top_confusions: int = 20,
    slice_confusions: int = 5,
) -> Scorecard:
    """Per-slice and overall scores of one normalizer (no re-alignment)."""
    (card,) = aggregate_many([(normalizer_id, scores)], slices_by_id, slice_columns, options, top_confusions, slice_confusions)
    return card


class Scorable(Protocol):
    """What scoring needs of an utterance: a dataset `Utterance` or a stored hypothesis row."""

    id: str
    reference: str
    slices: Mapping[str, str]

    @property
    def language(self) -> str | None: ...


def score_many(
    utterances: Sequence[Scorable],
    hypotheses: Mapping[str, str],
    normalizers: Sequence[Normalizer],
    slice_columns: Sequence[str],
    options: BootstrapOptions = BootstrapOptions(),
) -> list[tuple[Scorecard, list[UtteranceScore]]]:
    """Normalize and align once per normalizer, then aggregate all of them together.
    A missing hypothesis scores as an empty one (every reference word deleted)."""
    ids = [u.id for u in utterances]
    per_normalizer = []
    for normalizer in normalizers:
        languages = [u.language for u in utterances]
        texts = [u.reference for u in utterances] + [hypotheses.get(u.id, "") for u in utterances]
        normalized = normalize_many(normalizer, texts, languages + languages)
        refs, hyps = normalized[: len(ids)], normalized[len(ids) :]
        per_normalizer.append((normalizer.id, align(ids, refs, hyps)))
    cards = aggregate_many(per_normalizer, {u.id: u.slices for u in utterances}, slice_columns, options)
    return [(card, scores) for card, (_, scores) in zip(cards, per_normalizer)]


def score(
    utterances: Sequence[Scorable],
    hypotheses: Mapping[str, str],
    normalizer: Normalizer,
    slice_columns: Sequence[str],
    options: BootstrapOptions = BootstrapOptions(),
) -> tuple[Scorecard, list[UtteranceScore]]:
    """One normalizer's scorecard and per-utterance scores."""
    ((card, per_utterance),) = score_many(utterances, hypotheses, [normalizer], slice_columns, options)
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
