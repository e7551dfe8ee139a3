"""Scoring of long recordings (meetings, calls, lectures) against a timed reference.

`score_recording(reference, hypothesis, normalizer, language)` takes the reference
`Segment`s (from an SRT, WebVTT or STM file, or one untimed text) and the hypothesis
segments a decoder wrote (start/end per segment, word times when it has them) and returns
a `RecordingScore`:

- **Whole-recording WER** from ONE jiwer alignment of the full normalized texts: the
  reference segments' texts joined, and the hypothesis segments' texts joined, each
  normalized as one text. It equals jiwer's WER of those two strings to the digit, and
  it is what a short clip's score would be if the recording were one clip. An hour of
  speech (about 9,000 words) aligns in a few hundredths of a second.
- **Where each word is in time.** A reference word's time is its segment's span divided
  evenly among the segment's words; a hypothesis word's time is its own (word
  timestamps) or, failing that, its segment's span divided evenly. Times are worked out
  on a plain tokenization of each segment and carried over to the normalized words by a
  token alignment, so a normalizer that rewrites words ("twenty five" -> "25") keeps
  every word's time.
- **WER per minute** of audio, by reference time: the one alignment's errors put in the
  minute of their reference word (an inserted word in the minute of its own time, or
  of the reference word before it when the hypothesis has no times). The minutes add up
  to the whole-recording counts.
- **Segment-level WER** (time-constrained, where both sides have times), per reference
  segment: hypothesis words go to reference segments by their times. A word the one
  alignment matches to a reference word counts as matched there only when its time is
  within `match_collar_s` (5 s) of that word's segment; otherwise the reference word is
  missed and the word is inserted where it was written. Unmatched words go to the
  nearest segment within the collar (farther ones are unassigned, and still errors).
  So segment-level WER >= whole-recording WER, equal when every word is written near
  where it was said: the difference is the words put at the wrong time. (Aligning each
  segment separately with the words whose estimated time falls in it was tried: Whisper
  segments without word timestamps run on through pauses, so an even split puts words
  seconds early, and on the demo it read 76 % against a true 19 %.)
- **Failure metrics**: words written inside reference silences (gaps of more than
  `silence_gap_s` between reference segments, and before the first one; shrunk by
  `collar_s` on each side; a word is placed by its own timestamp, or else by its
  segment's middle, since an even share of a segment that spans a pause would put real
  words in the pause; only words the one alignment inserts count: a word it pairs with
  a spoken word, even a wrong one, was heard, just put at the wrong time, which without
  word timestamps is common: on the demo, segments 3 s early), repeated n-gram loops (an n-gram of up
  to `max_ngram` words repeated `min_repeats` times or more in a row, as
  `regression.repetition_loop` defines them, counted when the loop holds words the
  reference does not have), reference segments dropped entirely (no hypothesis word's
  time overlaps them) and segments whose every word the alignment deletes, and the
  timestamp error: the mean |start difference| of the reference segments whose first
  word is matched to a hypothesis word whose start is known (its segment's first word, or
  a word with its own timestamp).

Every failure is also listed as an `Event` with its time span, for reports and review.
With an untimed reference (a .txt file) only the whole-recording counts, the loops and
the deleted segments are computed; with an untimed hypothesis, the failures that need
hypothesis times are None.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, NamedTuple, Sequence

import jiwer
import regex
from rapidfuzz.distance import Levenshtein

from .subtitles import Segment, is_timed, reference_text

__all__ = [
    "LongformOptions",
    "Event",
    "SegmentScore",
    "MinuteScore",
    "RecordingScore",
    "score_recording",
    "find_loops",
    "summarize",
    "minute_summary",
]


@dataclass(frozen=True)
class LongformOptions:
    silence_gap_s: float = 1.0  # a gap between reference segments longer than this is a silence
    collar_s: float = 0.5  # timing slack of a silence: it is shrunk by this much on each side
    # how far (s) a hypothesis word may be from its reference segment and still count as
    # matching it in the segment-level WER; 5 s as meeteval's tcpWER uses for estimated
    # word times (a Whisper segment without word timestamps often spans a pause)
    match_collar_s: float = 5.0
    min_repeats: int = 4  # a loop: an n-gram repeated this many times in a row ...
    max_ngram: int = 6  # ... for n up to this (regression.repetition_loop's definition)
    max_events: int = 200  # events kept per kind (the counts are always complete)

    def __post_init__(self) -> None:
        if min(self.silence_gap_s, self.collar_s, self.match_collar_s) < 0:
            raise ValueError(
                f"silence_gap_s, collar_s and match_collar_s must be >= 0, got {self.silence_gap_s!r}, {self.collar_s!r}, {self.match_collar_s!r}"
            )
        if self.min_repeats < 2 or self.max_ngram < 1:
            raise ValueError(f"need min_repeats >= 2 and max_ngram >= 1, got {self.min_repeats!r} and {self.max_ngram!r}")


@dataclass(frozen=True)
class Event:
    """One failure, where it happened: "dropped" (a reference segment no hypothesis word
    overlaps), "deleted" (a reference segment whose words the alignment all deletes, though
    hypothesis words overlap it in time), "silence" (words written inside a reference
    silence), "loop" (a repeated n-gram)."""

    kind: str
    start: float | None
    end: float | None
    text: str  # the reference text dropped, the words written, or "n-gram x repeats"
    words: int  # reference words lost, or hypothesis words written


@dataclass(frozen=True)
class SegmentScore:
    """A reference segment aligned with the hypothesis words whose time falls in it."""

    index: int  # position among the reference's scored segments, in time order
    start: float
    end: float
    speaker: str | None
    ref_words: int
    hyp_words: int
    substitutions: int
    deletions: int
    insertions: int
    dropped: bool  # no hypothesis word overlaps it in time

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions


@dataclass(frozen=True)
class MinuteScore:
    """The whole-recording alignment's errors that fall in one minute of reference time."""

    minute: int  # 0 for [0 s, 60 s), 1 for [60 s, 120 s), ...
    ref_words: int
    substitutions: int
    deletions: int
    insertions: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float | None:
        return self.errors / self.ref_words if self.ref_words else None


@dataclass(frozen=True)
class RecordingScore:
    normalizer: str  # the normalizer's id (e.g. "auto@1")
    # whole recording: one alignment of the full normalized texts
    ref_words: int
    hyp_words: int
    hits: int
    substitutions: int
    deletions: int
    insertions: int
    wer: float | None  # None when the reference has no words
    timed: bool  # the reference has times (everything below that needs them is computed)
    hypothesis_timed: bool
    duration_s: float | None  # the audio's duration when given, else the reference's last end time
    # time-constrained segment-level counts (None without times on both sides)
    segment_errors: int | None
    segment_wer: float | None
    unassigned_words: int | None  # hypothesis words farther than match_collar_s from every segment
    # failures
    silence_s: float | None  # reference time in silences (gaps > silence_gap_s)
    silence_words: int | None  # hypothesis words written inside them
    loops: int  # repeated n-gram loops with words the reference does not have
    loop_words: int  # words in those loops the alignment inserts
    scored_segments: int  # reference segments with at least one word
    dropped_segments: int | None  # ... that no hypothesis word overlaps in time
    dropped_s: float | None  # their total duration
    deleted_segments: int  # ... whose every word the alignment deletes
    timestamp_error_s: float | None  # mean |start difference| of matched segments
    timestamp_matches: int  # how many segments that mean is over
    segments: tuple[SegmentScore, ...] = field(default=(), repr=False)
    minutes: tuple[MinuteScore, ...] = field(default=(), repr=False)
    events: tuple[Event, ...] = field(default=(), repr=False)

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    def to_dict(self) -> dict:
        data = asdict(self)
        data["errors"] = self.errors
        for minute, row in zip(self.minutes, data["minutes"]):
            row["wer"] = minute.wer
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "RecordingScore":
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["segments"] = tuple(SegmentScore(**s) for s in data.get("segments", ()))
        fields["minutes"] = tuple(MinuteScore(**{k: v for k, v in m.items() if k != "wer"}) for m in data.get("minutes", ()))
        fields["events"] = tuple(Event(**e) for e in data.get("events", ()))
        return cls(**fields)


# --------------------------------------------------------------------------- word times


class _Where(NamedTuple):  # a tuple: there is one per word of an hour of speech
    start: float | None
    end: float | None
    segment: int  # index of the (reference or hypothesis) segment the word is in
    exact_start: bool  # start is a segment's start or a word timestamp, not an even split
    from_word: bool  # the times are the word's own (word timestamps), not a share of a segment

    @property
    def mid(self) -> float | None:
        return None if self.start is None else (self.start + self.end) / 2


# The plain tokenization that word times are worked out on: the `multilingual@1`
# normalizer's words (letters, marks and digits of every script, lower-cased), by one
# compiled pattern instead of a loop over characters.
_PLAIN = regex.compile(r"[\p{L}\p{M}\p{N}]+")


def _spread(tokens: list[str], start, end, segment: int, word: bool, out: list, where: list) -> None:
    n = len(tokens)
    out.extend(tokens)
    if start is None or end is None:
        where.extend(_Where(None, None, segment, False, False) for _ in tokens)
        return
    start, end = float(start), float(end)  # plain floats, not numpy's, for JSON and equality
    step = (end - start) / n if n else 0.0
    where.extend(_Where(start + step * k, start + step * (k + 1), segment, k == 0, word) for k in range(n))


def _plain_tokens(segments: Sequence[Segment], use_words: bool) -> tuple[list[str], list[_Where]]:
    """Tokens of each segment (or word) in a plain tokenization, with their times."""
    tokens: list[str] = []
    where: list[_Where] = []
    for index, segment in enumerate(segments):
        if use_words and segment.words:
            for word, start, end in segment.words:
                _spread(_PLAIN.findall(word.lower()), start, end, index, True, tokens, where)
        else:
            _spread(_PLAIN.findall(segment.text.lower()), segment.start, segment.end, index, False, tokens, where)
    return tokens, where


def _carry(full: list[str], plain: list[str], where: list[_Where]) -> list[_Where | None]:
    """Each normalized word's time, from the plain-tokenized word it aligns to (or, for a
    word the normalizer added, the one before it)."""
    if full == plain:
        return list(where)
    out: list[_Where | None] = [None] * len(full)
    if not plain:
        return out
    for op in Levenshtein.opcodes(plain, full):
        src, dst = op.src_end - op.src_start, op.dest_end - op.dest_start
        for k in range(dst):
            if op.tag in ("equal", "replace"):
                out[op.dest_start + k] = where[op.src_start + (k * src) // dst]
            elif op.tag == "insert":
                out[op.dest_start + k] = where[max(0, min(op.src_start, len(plain)) - 1)]
    return out


# --------------------------------------------------------------------------- alignment


def _align(ref: list[str], hyp: list[str]):
    """(ref_op, hyp_op, hyp_to_ref, insertion_anchor) from one jiwer alignment.

    ref_op[i] / hyp_op[j] is "hit", "sub", "del" / "hit", "sub", "ins"; hyp_to_ref[j] the
    reference word a matched hypothesis word is aligned with; insertion_anchor[j] the
    reference word before an inserted one (-1 at the start)."""
    ref_op = ["del"] * len(ref)
    hyp_op = ["ins"] * len(hyp)
    hyp_to_ref = [-1] * len(hyp)
    anchor = [-1] * len(hyp)
    if ref and hyp:
        chunks = jiwer.process_words(" ".join(ref), " ".join(hyp)).alignments[0]
        for chunk in chunks:
            if chunk.type == "insert":
                for j in range(chunk.hyp_start_idx, chunk.hyp_end_idx):
                    anchor[j] = chunk.ref_start_idx - 1
                continue
            if chunk.type == "delete":
                continue
            tag = "hit" if chunk.type == "equal" else "sub"
            for k in range(chunk.ref_end_idx - chunk.ref_start_idx):
                ref_op[chunk.ref_start_idx + k] = tag
                hyp_op[chunk.hyp_start_idx + k] = tag
                hyp_to_ref[chunk.hyp_start_idx + k] = chunk.ref_start_idx + k
    return ref_op, hyp_op, hyp_to_ref, anchor


# --------------------------------------------------------------------------- loops


def find_loops(tokens: Sequence[str], min_repeats: int = 4, max_ngram: int = 6) -> list[tuple[int, int, int]]:
    """(first token, n, repeats) of every run of one n-gram repeated at least min_repeats
    times in a row, shortest n first; a run inside an already found one is not reported
    again. `regression.repetition_loop(text)` is `bool(find_loops(text's words))`."""
    covered = [False] * len(tokens)
    loops = []
    for n in range(1, max_ngram + 1):
        i = 0
        while i + n * min_repeats <= len(tokens):
            if tokens[i] != tokens[i + n]:  # the common case, without slicing
                i += 1
                continue
            gram = tokens[i : i + n]
            repeats = 1
            while tokens[i + repeats * n : i + (repeats + 1) * n] == gram:
                repeats += 1
            if repeats >= min_repeats and not any(covered[i : i + repeats * n]):
                loops.append((i, n, repeats))
                covered[i : i + repeats * n] = [True] * (repeats * n)
                i += repeats * n
            else:
                i += 1
    return sorted(loops)


# --------------------------------------------------------------------------- intervals


def _union(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def _inside(spans: list[tuple[float, float]], starts: list[float], t: float) -> int:
    """Index of the (disjoint, sorted) span containing t, or -1."""
    k = bisect.bisect_right(starts, t) - 1
    return k if k >= 0 and spans[k][0] <= t < spans[k][1] else -1


def _overlaps(spans: list[tuple[float, float]], starts: list[float], start: float, end: float) -> bool:
    """Whether [start, end] overlaps any of the disjoint sorted spans (a zero-length
    segment overlaps a span that contains it)."""
    k = bisect.bisect_right(starts, end) - 1
    while k >= 0:
        a, b = spans[k]
        if (a < end and b > start) or (start == end and a <= start <= b):
            return True
        if b < start:  # the spans before this one end earlier still
            return False
        k -= 1
    return False


# --------------------------------------------------------------------------- scoring


def _normalizer_id(normalizer) -> str:
    return getattr(normalizer, "id", None) or getattr(normalizer, "__name__", None) or type(normalizer).__name__


def score_recording(
    reference: Sequence[Segment],
    hypothesis: Sequence[Segment],
    normalizer: Callable[[str, str | None], str],
    language: str | None,
    duration_s: float | None = None,
    options: LongformOptions = LongformOptions(),
) -> RecordingScore:
    """Score one recording (see the module docstring). `duration_s` (the audio's length)
    lets a silence at the end count; without it the reference's last end is the end."""
    ignored = [(s.start, s.end) for s in reference if s.ignored and s.timed]
    ref_segments = [s for s in reference if not s.ignored and s.text.strip()]
    timed = is_timed(ref_segments)
    if timed:
        ref_segments = sorted(ref_segments, key=lambda s: (s.start, s.end))
    hyp_segments = [s for s in hypothesis if s.text.strip() or s.words]
    hyp_timed = bool(hyp_segments) and all(s.timed or s.words for s in hyp_segments)
    if ignored and hyp_timed:  # sclite: hypothesis words inside an ignored span are not scored
        hyp_segments = _drop_ignored(hyp_segments, _union(ignored))
    use_words = hyp_timed and any(s.words for s in hyp_segments)

    # the one alignment, over the full texts, each normalized as one text
    ref_full = normalizer(reference_text(ref_segments), language).split()
    hyp_text = " ".join(_segment_text(s) for s in hyp_segments)
    hyp_full = normalizer(hyp_text, language).split()
    ref_op, hyp_op, hyp_to_ref, anchor = _align(ref_full, hyp_full)
    hits = ref_op.count("hit")
    subs = ref_op.count("sub")
    dels = ref_op.count("del")
    ins = hyp_op.count("ins")

    ref_plain, ref_where_plain = _plain_tokens(ref_segments, False)
    ref_where = _carry(ref_full, ref_plain, ref_where_plain)
    hyp_plain, hyp_where_plain = _plain_tokens(hyp_segments, use_words)
    hyp_where = _carry(hyp_full, hyp_plain, hyp_where_plain)

    # segments with words, and the reference words of each
    words_of: dict[int, list[int]] = {}
    for i, w in enumerate(ref_where):
        if w is not None:
            words_of.setdefault(w.segment, []).append(i)
    scored = sorted(words_of)
    deleted = [k for k in scored if all(ref_op[i] == "del" for i in words_of[k])]
    events: list[Event] = []
    loops, loop_words = _loops(hyp_full, hyp_op, hyp_where, options, events)

    end_time = duration_s
    if timed:
        end_time = max([duration_s or 0.0] + [s.end for s in ref_segments])
    base = dict(
        normalizer=_normalizer_id(normalizer),
        ref_words=len(ref_full),
        hyp_words=len(hyp_full),
        hits=hits,
        substitutions=subs,
        deletions=dels,
        insertions=ins,
        wer=(subs + dels + ins) / len(ref_full) if ref_full else None,
        timed=timed,
        hypothesis_timed=hyp_timed,
        duration_s=end_time,
        loops=loops,
        loop_words=loop_words,
        scored_segments=len(scored),
        deleted_segments=len(deleted),
    )
    if not timed:
        _add_events(events, "deleted", ((None, None, ref_segments[k].text, len(words_of[k])) for k in deleted), options)
        return RecordingScore(
            **base, segment_errors=None, segment_wer=None, unassigned_words=None, silence_s=None, silence_words=None,
            dropped_segments=None, dropped_s=None, timestamp_error_s=None, timestamp_matches=0,
            events=_ordered(events),
        )

    minutes = _minutes(ref_op, ref_where, hyp_op, hyp_where, anchor, end_time or 0.0, hyp_timed)
    silences = _silences(ref_segments, ignored, end_time if duration_s is not None else None, options.silence_gap_s)
    silence_s = sum(b - a for a, b in silences)
    if not hyp_timed:
        _add_events(events, "deleted", ((ref_segments[k].start, ref_segments[k].end, ref_segments[k].text, len(words_of[k])) for k in deleted), options)
        return RecordingScore(
            **base, segment_errors=None, segment_wer=None, unassigned_words=None, silence_s=silence_s, silence_words=None,
            dropped_segments=None, dropped_s=None, timestamp_error_s=None, timestamp_matches=0,
            minutes=minutes, events=_ordered(events),
        )

    # dropped: no hypothesis word overlaps the segment in time
    spoken = _union((w.start, w.end) for w in hyp_where if w is not None)
    spoken_starts = [a for a, _ in spoken]
    dropped = [k for k in scored if not _overlaps(spoken, spoken_starts, ref_segments[k].start, ref_segments[k].end)]
    dropped_set = set(dropped)
    _add_events(events, "dropped", ((ref_segments[k].start, ref_segments[k].end, ref_segments[k].text, len(words_of[k])) for k in dropped), options)
    _add_events(
        events, "deleted",
        ((ref_segments[k].start, ref_segments[k].end, ref_segments[k].text, len(words_of[k])) for k in deleted if k not in dropped_set),
        options,
    )

    # silences: words the alignment inserts (matches to no spoken word), inside a gap
    shrunk = [(a + options.collar_s, b - options.collar_s, a, b) for a, b in silences if b - a > 2 * options.collar_s]
    shrunk_spans = [(a, b) for a, b, _, _ in shrunk]
    shrunk_starts = [a for a, _ in shrunk_spans]
    in_silence: dict[int, list[int]] = {}
    for j, w in enumerate(hyp_where):
        if w is not None and hyp_op[j] == "ins":
            # a word's own time, or else its segment's middle: an even share of a segment
            # that spans a pause would put real words in the pause
            segment = hyp_segments[w.segment]
            t = w.mid if w.from_word or segment.start is None else (segment.start + segment.end) / 2
            k = _inside(shrunk_spans, shrunk_starts, t)
            if k >= 0:
                in_silence.setdefault(k, []).append(j)
    silence_words = sum(len(v) for v in in_silence.values())
    _add_events(
        events, "silence",
        ((shrunk[k][2], shrunk[k][3], " ".join(hyp_full[j] for j in js), len(js)) for k, js in sorted(in_silence.items())),
        options,
    )

    segment_scores, unassigned = _segment_level(
        ref_segments, scored, ref_op, ref_where, hyp_op, hyp_to_ref, hyp_where, dropped_set, options.match_collar_s
    )
    segment_errors = sum(s.errors for s in segment_scores) + unassigned

    # timestamp error: segments whose first word is matched to a word with a known start
    hyp_of_ref = {i: j for j, i in enumerate(hyp_to_ref) if i >= 0}
    diffs = []
    for k in scored:
        i = words_of[k][0]
        j = hyp_of_ref.get(i)
        if ref_op[i] == "hit" and j is not None and hyp_where[j] is not None and hyp_where[j].exact_start:
            diffs.append(abs(ref_segments[k].start - hyp_where[j].start))

    return RecordingScore(
        **base,
        segment_errors=segment_errors,
        segment_wer=segment_errors / len(ref_full) if ref_full else None,
        unassigned_words=unassigned,
        silence_s=silence_s,
        silence_words=silence_words,
        dropped_segments=len(dropped),
        dropped_s=sum(ref_segments[k].end - ref_segments[k].start for k in dropped),
        timestamp_error_s=sum(diffs) / len(diffs) if diffs else None,
        timestamp_matches=len(diffs),
        segments=tuple(segment_scores),
        minutes=minutes,
        events=_ordered(events),
    )


def _segment_text(segment: Segment) -> str:
    """What the decoder wrote: the segment's text (its words only time it); the words
    joined when a producer gave words without the text."""
    if segment.text.strip() or not segment.words:
        return segment.text
    return " ".join(word for word, _, _ in segment.words)


def _drop_ignored(segments: list[Segment], ignored: list[tuple[float, float]]) -> list[Segment]:
    starts = [a for a, _ in ignored]
    kept = []
    for s in segments:
        if s.words:
            words = tuple(w for w in s.words if _inside(ignored, starts, (w[1] + w[2]) / 2) < 0)
            if words:
                kept.append(Segment(s.start, s.end, " ".join(w[0] for w in words), s.speaker, words))
        elif _inside(ignored, starts, (s.start + s.end) / 2) < 0:
            kept.append(s)
    return kept


def _silences(ref_segments: list[Segment], ignored, end: float | None, gap_s: float) -> list[tuple[float, float]]:
    """Reference time with nobody speaking for longer than gap_s: between segments, before
    the first, and after the last when the audio's end is known."""
    spans = _union([(s.start, s.end) for s in ref_segments] + list(ignored))
    out = []
    previous = 0.0
    for a, b in spans:
        if a - previous > gap_s:
            out.append((previous, a))
        previous = max(previous, b)
    if end is not None and end - previous > gap_s:
        out.append((previous, end))
    return out


def _minutes(ref_op, ref_where, hyp_op, hyp_where, anchor, end: float, hyp_timed: bool) -> tuple[MinuteScore, ...]:
    count = max(1, math.ceil(end / 60)) if end else 1

    def minute(t: float | None) -> int:
        return 0 if t is None else min(max(0, int(t // 60)), count - 1)

    rows = [[0, 0, 0, 0] for _ in range(count)]  # ref words, S, D, I
    for i, op in enumerate(ref_op):
        m = minute(ref_where[i].mid if ref_where[i] is not None else None)
        rows[m][0] += 1
        if op == "sub":
            rows[m][1] += 1
        elif op == "del":
            rows[m][2] += 1
    for j, op in enumerate(hyp_op):
        if op != "ins":
            continue
        if hyp_timed and hyp_where[j] is not None:
            t = hyp_where[j].mid
        else:
            i = anchor[j]
            t = ref_where[i].end if i >= 0 and ref_where[i] is not None else (ref_where[0].start if ref_where and ref_where[0] else None)
        rows[minute(t)][3] += 1
    return tuple(MinuteScore(m, *row) for m, row in enumerate(rows))


def _segment_level(ref_segments, scored, ref_op, ref_where, hyp_op, hyp_to_ref, hyp_where, dropped_set, collar: float):
    """Per reference segment, the whole alignment's errors with time as a constraint: a
    matched hypothesis word counts as matched only if its time is within `collar` of its
    reference word's segment; a match farther away is a deletion there plus an insertion
    where the word was written. An inserted word goes to the nearest segment within the
    collar; one farther from every segment stays unassigned (and counts as an error)."""
    position = {k: p for p, k in enumerate(scored)}
    spans = [(ref_segments[k].start, ref_segments[k].end) for k in scored]
    starts = [a for a, _ in spans]
    reach = []  # the latest end among segments up to here: how far back a long segment reaches
    latest = -math.inf
    for _, b in spans:
        latest = max(latest, b)
        reach.append(latest)

    def nearest(t: float) -> int:
        best, best_distance = -1, math.inf
        k = bisect.bisect_right(starts, t + collar) - 1
        while k >= 0 and reach[k] >= t - collar:
            a, b = spans[k]
            distance = 0.0 if a <= t <= b else min(abs(t - a), abs(t - b))
            if distance < best_distance or (distance == best_distance and k < best):
                best, best_distance = k, distance
            k -= 1
        return best if best_distance <= collar else -1

    rows = [[0, 0, 0, 0, 0] for _ in scored]  # ref words, hyp words, S, D, I
    unassigned = 0
    for i, op in enumerate(ref_op):
        w = ref_where[i]
        if w is None:  # a word no segment holds (the normalizer made it from nothing)
            unassigned += op != "hit"
            continue
        row = rows[position[w.segment]]
        row[0] += 1
        row[3] += op == "del"
    for j, op in enumerate(hyp_op):
        w = hyp_where[j]
        if op != "ins":
            i = hyp_to_ref[j]
            p = position.get(ref_where[i].segment, -1) if ref_where[i] is not None else -1
            if p >= 0 and w is not None and spans[p][0] - collar <= w.mid <= spans[p][1] + collar:
                rows[p][1] += 1
                rows[p][2] += op == "sub"
                continue
            if p >= 0:  # matched too far away in time: missed here ...
                rows[p][3] += 1
            else:
                unassigned += op == "sub"
        p = nearest(w.mid) if w is not None else -1  # ... and written where it is
        if p >= 0:
            rows[p][1] += 1
            rows[p][4] += 1
        else:
            unassigned += 1
    out = []
    for p, k in enumerate(scored):
        segment = ref_segments[k]
        out.append(SegmentScore(p, segment.start, segment.end, segment.speaker, *rows[p], k in dropped_set))
    return out, unassigned


def _loops(hyp_full, hyp_op, hyp_where, options: LongformOptions, events: list) -> tuple[int, int]:
    count = words = 0
    found = []
    for first, n, repeats in find_loops(hyp_full, options.min_repeats, options.max_ngram):
        last = first + n * repeats
        inserted = sum(1 for j in range(first, last) if hyp_op[j] == "ins")
        if not inserted:  # the reference says it as often: speech, not a loop
            continue
        count += 1
        words += inserted
        a, b = hyp_where[first], hyp_where[last - 1]
        found.append((a.start if a else None, b.end if b else None, f"{' '.join(hyp_full[first:first + n])} x{repeats}", inserted))
    _add_events(events, "loop", found, options)
    return count, words


def _add_events(events: list, kind: str, rows, options: LongformOptions) -> None:
    for n, (start, end, text, words) in enumerate(rows):
        if n >= options.max_events:
            break
        events.append(Event(kind, start, end, text if len(text) <= 200 else text[:197] + "...", words))


def _ordered(events: list[Event]) -> tuple[Event, ...]:
    return tuple(sorted(events, key=lambda e: (e.start is None, e.start or 0.0, e.kind)))


# --------------------------------------------------------------------------- many recordings


def summarize(scores: Sequence[RecordingScore]) -> dict:
    """Totals over recordings (a slice, a run): summed counts, rates from the sums, and the
    timestamp error weighted by its matches. Time-based totals are None when no recording
    has them."""

    def total(name: str):
        values = [getattr(s, name) for s in scores if getattr(s, name) is not None]
        return sum(values) if values else None

    ref_words = sum(s.ref_words for s in scores)
    errors = sum(s.errors for s in scores)
    timed_words = sum(s.ref_words for s in scores if s.segment_errors is not None)
    segment_errors = total("segment_errors")
    matches = sum(s.timestamp_matches for s in scores)
    silence_s = total("silence_s")
    silence_words = total("silence_words")
    return {
        "recordings": len(scores),
        "ref_words": ref_words,
        "hyp_words": sum(s.hyp_words for s in scores),
        "substitutions": sum(s.substitutions for s in scores),
        "deletions": sum(s.deletions for s in scores),
        "insertions": sum(s.insertions for s in scores),
        "errors": errors,
        "wer": errors / ref_words if ref_words else None,
        "segment_errors": segment_errors,
        "segment_wer": segment_errors / timed_words if segment_errors is not None and timed_words else None,
        "silence_s": silence_s,
        "silence_words": silence_words,
        "silence_words_per_minute": silence_words / (silence_s / 60) if silence_words is not None and silence_s else None,
        "loops": sum(s.loops for s in scores),
        "loop_words": sum(s.loop_words for s in scores),
        "scored_segments": sum(s.scored_segments for s in scores),
        "dropped_segments": total("dropped_segments"),
        "dropped_s": total("dropped_s"),
        "deleted_segments": sum(s.deleted_segments for s in scores),
        "timestamp_error_s": (
            sum(s.timestamp_error_s * s.timestamp_matches for s in scores if s.timestamp_error_s is not None) / matches if matches else None
        ),
        "timestamp_matches": matches,
    }


def minute_summary(recordings: Sequence[tuple[str, RecordingScore]]) -> dict:
    """WER per minute over every minute with reference words of the (id, score)
    recordings, so where a run goes wrong shows beside its whole-recording WER: how many
    minutes, their median and 90th-percentile WER (nearest rank), the worst minute and
    where it is, and how many minutes are at 50% WER or worse."""
    minutes = sorted(((m.wer, rid, m.minute) for rid, s in recordings for m in s.minutes if m.wer is not None),
                     key=lambda x: (x[0], x[1], x[2]))
    if not minutes:
        return {"minutes": 0, "median_wer": None, "p90_wer": None, "worst_wer": None, "worst": None, "minutes_over_half": 0}

    def rank(q: float) -> float:
        return minutes[max(0, math.ceil(q * len(minutes)) - 1)][0]

    wer, rid, minute = max(minutes, key=lambda x: (x[0], -x[2]))
    return {
        "minutes": len(minutes),
        "median_wer": rank(0.5),
        "p90_wer": rank(0.9),
        "worst_wer": wer,
        "worst": {"utterance_id": rid, "minute": minute},
        "minutes_over_half": sum(1 for w, _, _ in minutes if w >= 0.5),
    }


def score_stored_recording(row, normalizer) -> RecordingScore | None:
    """`score_recording` of a stored hypothesis row (`StoredHypothesis`) of a long recording:
    its timed reference (`extra["reference_segments"]`) against its hypothesis segments
    (`extra["segments"]`, else the whole text untimed). None for a row without a timed
    reference (a clip). The one place the run store's long-form fields are read."""
    extra = row.extra or {}
    if not extra.get("reference_segments"):
        return None
    reference = [Segment(a, b, t) for a, b, t in extra["reference_segments"]]
    hypothesis = [Segment(a, b, t) for a, b, t in extra.get("segments") or []] or [Segment(None, None, row.hypothesis)]
    return score_recording(reference, hypothesis, normalizer, row.language, extra.get("duration_s"))
