"""Score hypotheses against references: one alignment per utterance, then derive the rest.

jiwer aligns each (normalized) reference/hypothesis pair once at word level and once at
character level. Every figure after that (WER, CER, S/D/I, confusion pairs, per-slice
totals and their bootstrap intervals) is derived from those per-utterance counts, so
rescoring a slice, or drawing 1,000 bootstrap resamples, never re-aligns anything.
"""

from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence

import jiwer
import numpy as np
from jiwer.transformations import wer_default
from rapidfuzz.distance import Levenshtein

from .bootstrap import BootstrapOptions, Interval, intervals_from_replicates, replicates_many, slice_rng
from .normalizers import Normalizer, warm_up
from .parallel import can_fork, chunk_ranges, fork_map, usable_cpus
from .slicing import slice_value

__all__ = [
    "UtteranceScore",
    "Confusion",
    "SliceScore",
    "Scorecard",
    "align",
    "align_counts",
    "COUNT_FIELDS",
    "aggregate",
    "aggregate_counts",
    "aggregate_many",
    "score",
    "score_many",
    "scorecard_to_dict",
    "scorecard_from_dict",
]


@dataclass(frozen=True, slots=True)
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


def _counts(chunks, ref: Sequence[str], hyp: Sequence[str]):
    hits = subs = dels = ins = 0
    pairs: list[tuple[str, str]] = []
    for chunk in chunks:
        kind = chunk.type
        if kind == "equal":
            hits += chunk.ref_end_idx - chunk.ref_start_idx
        elif kind == "substitute":
            subs += chunk.ref_end_idx - chunk.ref_start_idx
            pairs.extend(zip(ref[chunk.ref_start_idx : chunk.ref_end_idx], hyp[chunk.hyp_start_idx : chunk.hyp_end_idx]))
        elif kind == "delete":
            dels += chunk.ref_end_idx - chunk.ref_start_idx
            pairs.extend((w, "") for w in ref[chunk.ref_start_idx : chunk.ref_end_idx])
        elif kind == "insert":
            ins += chunk.hyp_end_idx - chunk.hyp_start_idx
            pairs.extend(("", w) for w in hyp[chunk.hyp_start_idx : chunk.hyp_end_idx])
    return hits, subs, dels, ins, tuple(pairs)


# Per-utterance counts, in this order, as the columns of the count arrays.
COUNT_FIELDS = ("ref_words", "hyp_words", "hits", "substitutions", "deletions", "insertions", "ref_chars", "char_errors")
_REF_WORDS, _HYP_WORDS, _HITS, _SUBS, _DELS, _INS, _REF_CHARS, _CHAR_ERRORS = range(len(COUNT_FIELDS))


def align_counts(references: Sequence[str], hypotheses: Sequence[str]) -> tuple[np.ndarray, list[tuple]]:
    """Align already-normalized texts: (counts, pairs). counts: int64 array (n, 8), columns
    `COUNT_FIELDS`; pairs: each utterance's (reference word, hypothesis word) errors.

    jiwer aligns words (one `process_words` call) and rapidfuzz's Levenshtein (the engine
    under jiwer) counts character errors on the same strings jiwer's CER uses. A pair
    whose texts are identical is not sent to jiwer: its alignment is all hits."""
    n = len(references)
    counts = np.zeros((n, len(COUNT_FIELDS)), dtype=np.int64)
    pairs: list[tuple] = [()] * n
    if not n:
        return counts, pairs
    same = [i for i in range(n) if references[i] and references[i] == hypotheses[i]]
    if same:
        tokens = wer_default([references[i] for i in same])
        for i, words in zip(same, tokens):
            chars = len(" ".join(words))
            counts[i] = (len(words), len(words), len(words), 0, 0, 0, chars, 0)
    rest = [i for i in range(n) if not (references[i] and references[i] == hypotheses[i])] if same else range(n)
    if not rest:
        return counts, pairs
    words = jiwer.process_words([references[i] for i in rest], [hypotheses[i] for i in rest])
    distance = Levenshtein.distance
    rows = []
    for k, i in enumerate(rest):
        ref_tokens, hyp_tokens = words.references[k], words.hypotheses[k]
        hits, subs, dels, ins, pairs[i] = _counts(words.alignments[k], ref_tokens, hyp_tokens)
        ref_chars, hyp_chars = " ".join(ref_tokens), " ".join(hyp_tokens)
        rows.append((len(ref_tokens), len(hyp_tokens), hits, subs, dels, ins, len(ref_chars), distance(ref_chars, hyp_chars)))
    counts[np.asarray(rest, dtype=np.int64)] = np.array(rows, dtype=np.int64).reshape(len(rows), len(COUNT_FIELDS))
    return counts, pairs


def _scores(ids: Sequence[str], references: Sequence[str], hypotheses: Sequence[str], counts, pairs) -> list[UtteranceScore]:
    return [
        UtteranceScore(utt_id, references[i], hypotheses[i], *counts[i], pairs[i])
        for i, utt_id in enumerate(ids)
    ]


class UtteranceScores(SequenceABC):
    """Per-utterance scores built when first read: a scorecard made only for its totals
    (the raw one beside the normalized) never pays for 100,000 objects."""

    def __init__(self, ids, references, hypotheses, counts: np.ndarray, pairs):
        self._parts = (ids, references, hypotheses, counts, pairs)
        self._built: list[UtteranceScore] | None = None

    def _items(self) -> list[UtteranceScore]:
        if self._built is None:
            ids, references, hypotheses, counts, pairs = self._parts
            self._built = _scores(ids, references, hypotheses, counts.tolist(), pairs)
        return self._built

    def __len__(self) -> int:
        return len(self._parts[0])

    def __getitem__(self, index):
        return self._items()[index]

    def __iter__(self):
        return iter(self._items())

    def __eq__(self, other) -> bool:
        return list(self) == list(other) if isinstance(other, (list, tuple, SequenceABC)) else NotImplemented


def align(ids: Sequence[str], references: Sequence[str], hypotheses: Sequence[str]) -> list[UtteranceScore]:
    """Align already-normalized texts: one jiwer pass at word and at character level."""
    if not ids:
        return []
    counts, pairs = align_counts(references, hypotheses)
    return _scores(ids, references, hypotheses, counts.tolist(), pairs)


class _PairIndex:
    """Every error pair of one scorecard, coded once, so a slice's most frequent pairs are a
    bincount over its members instead of a Counter over Python tuples.

    Ties are broken as `Counter.most_common` breaks them: by first appearance, walking the
    slice's utterances in order (pairs are coded in that order, and a slice's first
    occurrence of a pair is its first index among the slice's occurrences)."""

    def __init__(self, pairs: Sequence[tuple]):
        flat = [pair for utterance_pairs in pairs for pair in utterance_pairs]
        self.pairs = list(dict.fromkeys(flat))  # in order of first appearance
        code_of = {pair: k for k, pair in enumerate(self.pairs)}
        self.code = np.fromiter(map(code_of.__getitem__, flat), dtype=np.int64, count=len(flat))
        self.owner = np.repeat(np.arange(len(pairs), dtype=np.int64), np.fromiter(map(len, pairs), dtype=np.int64, count=len(pairs)))

    def top(self, members: np.ndarray | None, n: int, size: int) -> tuple[Confusion, ...]:
        """The n most frequent pairs among utterances `members` (ascending; None = all)."""
        if n <= 0 or not self.code.size:
            return ()
        if members is None:
            codes = self.code
        else:
            mask = np.zeros(size, dtype=bool)
            mask[members] = True
            codes = self.code[mask[self.owner]]
        if not codes.size:
            return ()
        present, first = np.unique(codes, return_index=True)
        counts = np.bincount(codes, minlength=len(self.pairs))[present]
        order = np.lexsort((first, -counts))[:n]
        return tuple(Confusion(*self.pairs[present[k]], int(counts[k])) for k in order)


def _groups(ids: Sequence[str], slices_by_id: Mapping[str, Mapping[str, str]], slice_columns: Sequence[str]) -> list[tuple[str, str, np.ndarray | None]]:
    """(column, value, member positions) for overall (None: everyone) and every slice value."""
    groups: list[tuple[str, str, np.ndarray | None]] = [("overall", "all", None)]
    empty: Mapping[str, str] = {}
    for column in slice_columns:
        members: dict[str, list[int]] = {}
        for i, utt_id in enumerate(ids):
            members.setdefault(slice_value(slices_by_id.get(utt_id, empty), column), []).append(i)
        groups.extend((column, value, np.asarray(members[value], dtype=np.int64)) for value in sorted(members))
    return groups


def _membership(members: np.ndarray | None, n: int) -> bytes:
    """A key equal for equal member sets (positions are ascending and distinct)."""
    return b"all" if members is None or len(members) == n else members.tobytes()


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
    counts = np.array([[[getattr(s, f) for f in COUNT_FIELDS] for s in scores] for _, scores in scored], dtype=np.int64)
    counts = counts.reshape(len(scored), len(ids), len(COUNT_FIELDS))
    pairs = [[s.pairs for s in scores] for _, scores in scored]
    return aggregate_counts([name for name, _ in scored], ids, counts, pairs, slices_by_id, slice_columns, options,
                            top_confusions, slice_confusions)


def aggregate_counts(
    names: Sequence[str],
    ids: Sequence[str],
    counts: np.ndarray,
    pairs: Sequence[Sequence[tuple]],
    slices_by_id: Mapping[str, Mapping[str, str]],
    slice_columns: Sequence[str],
    options: BootstrapOptions = BootstrapOptions(),
    top_confusions: int = 20,
    slice_confusions: int = 5,
) -> list[Scorecard]:
    """`aggregate_many` from count arrays: counts has shape (normalizers, utterances, 8)
    with columns `COUNT_FIELDS`; pairs[j][i] are utterance i's error pairs under names[j].
    Slices and intervals are sums and one bootstrap per slice over these arrays."""
    m, n = len(names), len(ids)
    totals = counts.astype(np.int64, copy=False)
    errors = totals[:, :, _SUBS] + totals[:, :, _DELS] + totals[:, :, _INS]
    words, chars, char_errors = totals[:, :, _REF_WORDS], totals[:, :, _REF_CHARS], totals[:, :, _CHAR_ERRORS]
    indexes = [_PairIndex(p) for p in pairs]
    groups = _groups(ids, slices_by_id, slice_columns)
    # One bootstrap per distinct membership: a slice holding every utterance (one language
    # only) or the same ones as another slice gets the same draws, hence the same interval.
    tasks: dict[bytes, tuple] = {}
    for _, _, pos in groups:
        key = _membership(pos, n)
        if key not in tasks:
            every = slice(None) if pos is None else pos
            tasks[key] = (np.vstack([errors[:, every], char_errors[:, every]]), np.vstack([words[:, every], chars[:, every]]),
                          slice_rng(options, ids if pos is None else (ids[i] for i in pos)))
    replicates = dict(zip(tasks, replicates_many(list(tasks.values()), options)))
    per_card: list[list[SliceScore]] = [[] for _ in range(m)]
    for column, value, pos in groups:
        every = slice(None) if pos is None else pos
        intervals = intervals_from_replicates(replicates[_membership(pos, n)], options) if n else [None] * (2 * m)
        sums = totals[:, every, :].sum(axis=1)  # (m, 8)
        wrong = (errors[:, every] > 0).sum(axis=1)
        size = n if pos is None else len(pos)
        for j in range(m):
            total_words, total_chars = int(sums[j, _REF_WORDS]), int(sums[j, _REF_CHARS])
            n_errors = int(sums[j, _SUBS] + sums[j, _DELS] + sums[j, _INS])
            per_card[j].append(
                SliceScore(
                    column=column,
                    value=value,
                    utterances=size,
                    ref_words=total_words,
                    hyp_words=int(sums[j, _HYP_WORDS]),
                    substitutions=int(sums[j, _SUBS]),
                    deletions=int(sums[j, _DELS]),
                    insertions=int(sums[j, _INS]),
                    ref_chars=total_chars,
                    char_errors=int(sums[j, _CHAR_ERRORS]),
                    utterances_with_errors=int(wrong[j]),
                    wer=float(n_errors) / total_words if total_words else None,
                    wer_ci=intervals[j] if total_words else None,
                    cer=float(sums[j, _CHAR_ERRORS]) / total_chars if total_chars else None,
                    cer_ci=intervals[m + j] if total_chars else None,
                    confusions=indexes[j].top(pos, slice_confusions, n),
                )
            )
    return [
        Scorecard(name, per_card[j][0], tuple(per_card[j][1:]), options, indexes[j].top(None, top_confusions, n))
        for j, name in enumerate(names)
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


# From this many utterances on, normalizing and aligning run in forked workers.
PARALLEL_MIN_UTTERANCES = 2000


def _normalize_and_align(shared, start: int, stop: int) -> list[tuple[list[str], list[str], np.ndarray, list[tuple]]]:
    """For each normalizer: utterances start:stop normalized (each distinct text once) and
    aligned: (references, hypotheses, counts, pairs)."""
    normalizers, references, hypotheses, languages = shared
    out = []
    for normalizer in normalizers:
        seen: dict[tuple[str, str | None], str] = {}

        def normal(text: str, language: str | None) -> str:
            key = (text, language)
            value = seen.get(key)
            if value is None:
                value = seen[key] = normalizer(text, language)
            return value

        refs = [normal(references[i], languages[i]) for i in range(start, stop)]
        hyps = [normal(hypotheses[i], languages[i]) for i in range(start, stop)]
        counts, pairs = align_counts(refs, hyps)
        out.append((refs, hyps, counts, pairs))
    return out


def score_many(
    utterances: Sequence[Scorable],
    hypotheses: Mapping[str, str],
    normalizers: Sequence[Normalizer],
    slice_columns: Sequence[str],
    options: BootstrapOptions = BootstrapOptions(),
) -> list[tuple[Scorecard, Sequence[UtteranceScore]]]:
    """Normalize and align once per normalizer, then aggregate all of them together.
    A missing hypothesis scores as an empty one (every reference word deleted).

    Large inputs are split across forked workers (`workbench.parallel`), each normalizing
    and aligning its share for every normalizer; the figures do not depend on it."""
    ids = [u.id for u in utterances]
    names = [normalizer.id for normalizer in normalizers]
    shared = (list(normalizers), [u.reference for u in utterances],
              [hypotheses.get(u.id, "") for u in utterances], [u.language for u in utterances])
    n = len(ids)
    if n >= PARALLEL_MIN_UTTERANCES and can_fork():
        warm_up(normalizers)  # loaded once here, inherited by every worker
        # a few chunks per worker, handed out as workers free up: a busy core does not hold the rest back
        parts = list(fork_map(_normalize_and_align, shared, chunk_ranges(n, 4 * usable_cpus()), usable_cpus()))
    else:
        parts = [_normalize_and_align(shared, 0, n)]
    results = []
    for j in range(len(normalizers)):
        refs = [t for part in parts for t in part[j][0]]
        hyps = [t for part in parts for t in part[j][1]]
        counts = np.concatenate([part[j][2] for part in parts]) if parts else np.zeros((0, len(COUNT_FIELDS)), np.int64)
        pairs = [p for part in parts for p in part[j][3]]
        results.append((refs, hyps, counts, pairs))
    cards = aggregate_counts(names, ids, np.stack([r[2] for r in results]) if results else np.zeros((0, n, len(COUNT_FIELDS)), np.int64),
                             [r[3] for r in results], {u.id: u.slices for u in utterances}, slice_columns, options)
    return [(card, UtteranceScores(ids, refs, hyps, counts, pairs)) for card, (refs, hyps, counts, pairs) in zip(cards, results)]


def score(
    utterances: Sequence[Scorable],
    hypotheses: Mapping[str, str],
    normalizer: Normalizer,
    slice_columns: Sequence[str],
    options: BootstrapOptions = BootstrapOptions(),
) -> tuple[Scorecard, list[UtteranceScore]]:
    """One normalizer's scorecard and per-utterance scores."""
    ((card, per_utterance),) = score_many(utterances, hypotheses, [normalizer], slice_columns, options)
    return card, list(per_utterance)


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
