"""Confidence-triggered human review: the queue, what it is worth, and suspect references.

A person checks first the transcripts the model is least sure of. The queue orders a
stored run's transcripts by P(correct) from `workbench.confidence`, calibrated on a run of
the TRAIN part of the same split (same model, sharing no utterance with the run reviewed),
never on the utterances it orders. On the held-out part this module then measures what
that order buys:

- `parse_budget`: "20%" (of the utterances), "50" (utterances) or "12min" (of audio);
- `build_queue`: most likely wrong first, ties broken by utterance id;
- `review_curve`: corpus WER after the first k% of an order is corrected (hypothesis
  replaced by the reference), k = 0..100, for the queue, a random order (mean of seeded
  shuffles) and the oracle order (most word errors first); the area between the queue's
  and random's curves;
- `slice_capture`: per slice (accent, language, any slice column) the share of that
  slice's word errors the budget catches, its WER before and after, and its calibration
  error (ECE): whether review finds errors as well for accented speakers as for the rest;
- `suspect_references`: confident transcripts that still disagree with the reference,
  likely transcription errors in the data, counted per slice;
- `review_run`, `review_report`, `simulated_slice_wer`: all of it for a stored run.

Every figure goes through the run's normalizer and `workbench.scoring.align` (the one WER
definition), over speech utterances with a hypothesis (`workbench.runs.coverage`): no-speech
clips, failed decodes and missing hypotheses are not queued, and are counted.

The audio of each utterance is not stored with the hypotheses: it is looked up, by
utterance id, in the manifest(s) named in the run's configuration (`data`, `test`), as
written there, with the duration read from the file's header. A manifest that has moved
leaves `audio` and `duration_s` empty and says so in `ReviewQueue.notes`.
"""

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from .confidence import Calibrator, expected_calibration_error, fit_calibrator, low_confidence_words
from .dataset import CONTROL_COLUMNS
from .errors import BadInputError, WorkbenchError
from .normalizers import Normalizer, get_normalizer, normalize_many
from .review_budget import Budget, parse_budget
from .runs.coverage import partition
from .runstore import RunRecord, RunStore
from .scoring import UtteranceScore, align

__all__ = [
    "Budget",
    "parse_budget",
    "AudioRef",
    "QueueItem",
    "ReviewQueue",
    "build_queue",
    "is_reviewed",
    "ReviewCurve",
    "review_curve",
    "SliceCapture",
    "slice_capture",
    "Suspect",
    "suspect_references",
    "ReviewAnalysis",
    "analyse",
    "calibration_run",
    "decoded_run",
    "calibrator_for",
    "manifest_audio",
    "review_run",
    "review_report",
    "analysis_dict",
    "SimulatedSlice",
    "simulated_slice_wer",
    "REPORT_POINTS",
    "SUSPECT_CONFIDENCE",
]

DEFAULT_BUDGET = "20%"
SHUFFLES = 100  # random orders averaged for the random curve
SEED = 0
SUSPECT_CONFIDENCE = 0.9  # a transcript this likely to be right that still disagrees: check the reference
LOW_WORD_THRESHOLD = 0.5
REPORT_POINTS = (10, 20, 30, 50)  # budgets (% of utterances) in the report's table
SPEAKER = "speaker"  # one slice per speaker is noise here, as in the default slice columns


# ----------------------------------------------------------------------------- budgets


# ----------------------------------------------------------------------------- the queue


@dataclass(frozen=True)
class AudioRef:
    """Where an utterance's audio is: as written in the manifest, resolved, and its length."""

    audio: str | None  # as written in the manifest
    path: str | None = None  # absolute path (for a player, a training manifest)
    duration_s: float | None = None


@dataclass(frozen=True)
class QueueItem:
    rank: int  # 1 = most likely wrong
    utterance_id: str
    hypothesis: str
    confidence: float  # P(correct), in [0, 1]
    slices: Mapping[str, str]
    low_confidence_words: tuple[tuple[int, str, float], ...]  # (index in extra["words"], word, probability)
    audio: str | None = None  # as written in the manifest
    audio_path: str | None = None
    duration_s: float | None = None
    reference: str = field(default="", repr=False)  # for the simulation only: never exported
    reviewed: bool = False  # a person already checked it (an imported correction): queued last
    # Long recordings: where to listen, (start s, end s, low-confidence words there), merged
    # when less than 2 s apart; empty for clips (the whole clip is the span).
    spans: tuple[tuple[float, float, tuple[str, ...]], ...] = ()

    def to_dict(self, slice_columns: Sequence[str] = ()) -> dict:
        """The exported form (no reference: the reviewer must not see the answer)."""
        out = {
            "rank": self.rank,
            "utterance_id": self.utterance_id,
            "audio": self.audio,
            "duration_s": self.duration_s,
            "hypothesis": self.hypothesis,
            "confidence": round(self.confidence, 6),
            "low_confidence_words": [{"index": i, "word": w, "probability": round(p, 4)} for i, w, p in self.low_confidence_words],
            "spans": [{"start": round(a, 2), "end": round(b, 2), "words": list(words)} for a, b, words in self.spans],
            "reviewed": self.reviewed,
        }
        for column in slice_columns or sorted(self.slices):
            out.setdefault(column, self.slices.get(column, ""))
        return out


@dataclass(frozen=True)
class ReviewQueue:
    items: tuple[QueueItem, ...]  # queue order
    calibrator: Calibrator
    excluded: Mapping[str, int]  # no_speech / failed / missing: not queued (coverage rule)
    notes: tuple[str, ...] = ()

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(i.utterance_id for i in self.items)

    def count(self, budget: Budget | str) -> int:
        return parse_budget(budget).count([i.duration_s for i in self.items])

    def within(self, budget: Budget | str) -> tuple[QueueItem, ...]:
        """The head of the queue that fits in the budget."""
        return self.items[: self.count(budget)]


def is_reviewed(extra: Mapping | None) -> bool:
    """Whether a stored hypothesis is a person's (`workbench.review_io.import_corrections`
    records `"reviewed": true` in its replacement record)."""
    return any(isinstance(r, Mapping) and r.get("reviewed") for r in (extra or {}).get("replacements") or ())


def build_queue(held_rows: Sequence, calibrator: Calibrator, audio: Mapping[str, AudioRef] | None = None,
                low_word_threshold: float = LOW_WORD_THRESHOLD, notes: Sequence[str] = ()) -> ReviewQueue:
    """The speech utterances with a hypothesis (coverage rule), least likely correct first;
    equal confidences in utterance-id order, so the same run always gives the same queue.
    Utterances a person already reviewed (`is_reviewed`, a run made by importing corrections)
    go last: their confidence is the model's, but their text is the reviewer's."""
    coverage = partition(held_rows)
    rows = list(coverage.speech)
    try:
        scores = calibrator.scores([h.extra for h in rows])
    except BadInputError as exc:
        raise BadInputError(f"stored signals: {exc}") from None
    audio = audio or {}
    done = [is_reviewed(h.extra) for h in rows]
    order = sorted(range(len(rows)), key=lambda i: (done[i], float(scores[i]), rows[i].utterance_id))
    items = []
    for rank, i in enumerate(order, start=1):
        h = rows[i]
        ref = audio.get(h.utterance_id) or AudioRef(None)
        low = tuple(low_confidence_words(h.extra, low_word_threshold))
        items.append(QueueItem(rank, h.utterance_id, h.hypothesis, float(scores[i]), dict(h.slices), low,
                               ref.audio, ref.path, ref.duration_s, h.reference, done[i], listening_spans(h.extra, low)))
    excluded = {"no_speech": len(coverage.no_speech), "failed": len(coverage.failed), "missing": len(coverage.missing)}
    return ReviewQueue(tuple(items), calibrator, excluded, tuple(notes))


def listening_spans(extra: Mapping | None, low_words, gap_s: float = 2.0) -> tuple[tuple[float, float, tuple[str, ...]], ...]:
    """Where a reviewer of a long recording should listen: the times of its low-confidence
    words (`extra["word_times"]`, stored for long items, one per `extra["words"]` entry),
    merged when less than `gap_s` apart. Empty without word times."""
    extra = extra or {}
    times, words = extra.get("word_times") or (), extra.get("words") or ()
    if not times or len(times) != len(words):
        return ()
    spans: list[tuple[float, float, tuple[str, ...]]] = []
    for index, word, _ in low_words:
        start, end = float(times[index][0]), float(times[index][1])
        if spans and start - spans[-1][1] <= gap_s:
            a, b, seen = spans[-1]
            spans[-1] = (a, max(b, end), seen + (word,))
        else:
            spans.append((start, end, (word,)))
    return tuple(spans)


# ----------------------------------------------------------------------------- the curves


def _normalizer(normalizer: Normalizer | str) -> Normalizer:
    return get_normalizer(normalizer) if isinstance(normalizer, str) else normalizer


def utterance_scores(rows: Sequence, normalizer: Normalizer | str) -> dict[str, UtteranceScore]:
    """Per speech utterance with a hypothesis: its alignment counts, as scoring computes them."""
    norm = _normalizer(normalizer)
    speech = list(partition(rows).speech)
    if not speech:
        return {}
    languages = [h.language for h in speech]
    texts = normalize_many(norm, [h.reference for h in speech] + [h.hypothesis for h in speech], languages + languages)
    n = len(speech)
    return {s.id: s for s in align([h.utterance_id for h in speech], texts[:n], texts[n:])}


@dataclass(frozen=True)
class ReviewCurve:
    """WER (%) after the first k% of an order is corrected, k = 0..100."""

    ks: tuple[int, ...]
    queue: tuple[float, ...]
    random: tuple[float, ...]  # mean over `shuffles` seeded random orders
    oracle: tuple[float, ...]  # most word errors first
    utterances: int
    ref_words: int
    errors: int
    shuffles: int
    seed: int
    # Area between the curves over k in [0, 1], in WER points: how much lower the queue's
    # curve lies than random's on average over every budget. Oracle: the most any order could.
    area_vs_random: float
    oracle_area_vs_random: float

    @property
    def share_of_oracle(self) -> float | None:
        """The queue's area as a share of the oracle's (1 = as good as knowing the errors)."""
        return self.area_vs_random / self.oracle_area_vs_random if self.oracle_area_vs_random > 0 else None

    def at(self, k: int) -> tuple[float, float, float]:
        """(queue, random, oracle) WER % at k% of the utterances."""
        i = self.ks.index(k)
        return self.queue[i], self.random[i], self.oracle[i]


def _check_order(order: Sequence[str], ids: set[str]) -> list[str]:
    order = list(order)
    if len(set(order)) != len(order) or set(order) != ids:
        extra, lacking = sorted(set(order) - ids), sorted(ids - set(order))
        raise BadInputError(f"review order: must list each speech utterance with a hypothesis once "
                            f"({len(order)} given, {len(ids)} expected; e.g. unknown {extra[:1]}, missing {lacking[:1]})")
    return order


def _oracle_order(scores: Mapping[str, UtteranceScore]) -> list[str]:
    return sorted(scores, key=lambda i: (-scores[i].errors, i))


def _shuffles(ids: Sequence[str], shuffles: int, seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    base = sorted(ids)  # a fixed start, so the seed alone decides the orders
    return [[base[j] for j in rng.permutation(len(base))] for _ in range(shuffles)]


def review_curve(rows: Sequence, order: Sequence[str], normalizer: Normalizer | str, shuffles: int = SHUFFLES,
                 seed: int = SEED, scores: Mapping[str, UtteranceScore] | None = None) -> ReviewCurve:
    """Corpus WER after replacing the first k% (rounded down) of `order`'s hypotheses by their
    references, k = 0..100, beside the same for random orders and the oracle order."""
    scores = scores if scores is not None else utterance_scores(rows, normalizer)
    order = _check_order(order, set(scores))
    n = len(order)
    words = sum(s.ref_words for s in scores.values())
    total = sum(s.errors for s in scores.values())
    if not words:
        raise BadInputError("review curve: no reference words to score")
    counts = np.array([int(math.floor(k * n / 100 + 1e-9)) for k in range(101)])

    def curve(ids: Sequence[str]) -> np.ndarray:
        caught = np.concatenate([[0], np.cumsum([scores[i].errors for i in ids])])
        return 100.0 * (total - caught[counts]) / words

    queue = curve(order)
    oracle = curve(_oracle_order(scores))
    random = np.mean([curve(o) for o in _shuffles(order, shuffles, seed)], axis=0) if shuffles else curve(sorted(order))
    area = float(np.trapezoid(random - queue, dx=0.01))
    best = float(np.trapezoid(random - oracle, dx=0.01))
    return ReviewCurve(tuple(range(101)), tuple(map(float, queue)), tuple(map(float, random)), tuple(map(float, oracle)),
                       n, words, total, shuffles, seed, area, best)


# ----------------------------------------------------------------------------- per slice


@dataclass(frozen=True)
class SliceCapture:
    """One slice at the budget: its word errors, the share of them the review catches, and
    how well the confidence is calibrated on it."""

    column: str  # "overall" or a slice column
    value: str
    utterances: int
    ref_words: int
    errors: int  # word errors before review
    reviewed: int  # of its utterances in the queue's budget
    caught_queue: int  # word errors removed by reviewing the queue's head
    caught_random: float  # mean over the random orders
    caught_oracle: int
    ece: float  # expected calibration error of the confidence on this slice
    mean_confidence: float
    correct_share: float  # utterances without a word error
    suspects: int

    @property
    def key(self) -> str:
        return "overall" if self.column == "overall" else f"{self.column}={self.value}"

    def share(self, caught: float) -> float | None:
        return caught / self.errors if self.errors else None

    @property
    def wer_before(self) -> float | None:
        return 100.0 * self.errors / self.ref_words if self.ref_words else None

    @property
    def wer_after(self) -> float | None:
        """WER % after the queue's head is corrected (simulated: hypothesis := reference)."""
        return 100.0 * (self.errors - self.caught_queue) / self.ref_words if self.ref_words else None


def _columns(items: Sequence[QueueItem], columns: Sequence[str] | None) -> list[str]:
    if columns:
        return [c for c in columns if c not in CONTROL_COLUMNS]
    seen: list[str] = []
    for item in items:
        seen.extend(c for c in item.slices if c not in seen and c not in CONTROL_COLUMNS and c != SPEAKER)
    return [c for c in seen if any(i.slices.get(c) for i in items)]


def slice_capture(queue: ReviewQueue, scores: Mapping[str, UtteranceScore], budget: Budget | str,
                  columns: Sequence[str] | None = None, shuffles: int = SHUFFLES, seed: int = SEED,
                  suspect_confidence: float = SUSPECT_CONFIDENCE) -> tuple[SliceCapture, ...]:
    """Overall, then each value of each slice column, at the budget. The random figure is the
    mean over the same seeded shuffles as the curve; with a minutes budget each shuffle takes
    as many utterances as fit in the minutes."""
    budget = parse_budget(budget)
    items = list(queue.items)
    ids = _check_order([i.utterance_id for i in items], set(scores))
    position = {u: j for j, u in enumerate(ids)}
    errors = np.array([scores[u].errors for u in ids], dtype=np.int64)
    words = np.array([scores[u].ref_words for u in ids], dtype=np.int64)
    confidence = np.array([i.confidence for i in items])
    correct = (errors == 0).astype(float)
    durations = [i.duration_s for i in items]

    def head(order: Sequence[str]) -> np.ndarray:
        """Which utterances (by queue position) the budget covers when `order` is followed."""
        taken = order[: budget.count([durations[position[u]] for u in order])]
        mask = np.zeros(len(ids), dtype=bool)
        mask[[position[u] for u in taken]] = True
        return mask

    queued = head(ids)
    oracle = head(_oracle_order(scores))
    randoms = np.array([head(o) for o in _shuffles(ids, shuffles, seed)]) if shuffles else np.zeros((0, len(ids)), dtype=bool)
    suspect = (confidence >= suspect_confidence) & (errors > 0)
    groups: list[tuple[str, str, np.ndarray]] = [("overall", "all", np.arange(len(ids)))]
    for column in _columns(items, columns):
        members: dict[str, list[int]] = {}
        for j, item in enumerate(items):
            members.setdefault(item.slices.get(column, ""), []).append(j)
        groups.extend((column, value, np.array(members[value])) for value in sorted(members))
    out = []
    for column, value, g in groups:
        e = errors[g]
        caught_random = float((randoms[:, g] * e).sum(axis=1).mean()) if len(randoms) else 0.0
        out.append(SliceCapture(
            column, value, len(g), int(words[g].sum()), int(e.sum()), int(queued[g].sum()), int(e[queued[g]].sum()),
            caught_random, int(e[oracle[g]].sum()), expected_calibration_error(confidence[g], correct[g]),
            float(confidence[g].mean()), float(correct[g].mean()), int(suspect[g].sum()),
        ))
    return tuple(out)


# ----------------------------------------------------------------------------- suspects


@dataclass(frozen=True)
class Suspect:
    """A transcript the model was confident in that still disagrees with the reference: the
    reference may be what is wrong (a typo, a mislabelled clip), worth a person's look."""

    utterance_id: str
    confidence: float
    errors: int  # word errors against the reference, normalized
    reference: str
    hypothesis: str
    slices: Mapping[str, str]
    audio: str | None


def suspect_references(queue: ReviewQueue, scores: Mapping[str, UtteranceScore],
                       threshold: float = SUSPECT_CONFIDENCE) -> tuple[Suspect, ...]:
    """Most confident first."""
    found = [Suspect(i.utterance_id, i.confidence, scores[i.utterance_id].errors, i.reference, i.hypothesis, i.slices, i.audio)
             for i in queue.items if i.confidence >= threshold and scores[i.utterance_id].errors > 0]
    return tuple(sorted(found, key=lambda s: (-s.confidence, s.utterance_id)))


# ----------------------------------------------------------------------------- one analysis


@dataclass(frozen=True)
class ReviewAnalysis:
    run_id: str | None
    normalizer: str
    budget: Budget
    queue: ReviewQueue
    curve: ReviewCurve
    reviewed: int  # utterances the budget covers (queue order)
    reviewed_minutes: float | None  # their audio, when every duration is known
    # WER % at the budget: before review, after reviewing the queue's head, a random
    # selection of the same size (mean over the shuffles), the oracle's selection
    wer_before: float
    wer_queue: float
    wer_random: float
    wer_oracle: float
    slices: tuple[SliceCapture, ...]
    suspects: tuple[Suspect, ...]
    suspect_confidence: float
    calibration_run: str | None  # the train-part run the confidence was fitted on

    @property
    def ratio_vs_random(self) -> float | None:
        """Word errors the queue removes at the budget, over what a random order removes."""
        removed = self.wer_before - self.wer_random
        return (self.wer_before - self.wer_queue) / removed if removed > 0 else None


def analyse(rows: Sequence, calibrator: Calibrator, budget: Budget | str, normalizer: Normalizer | str,
            columns: Sequence[str] | None = None, audio: Mapping[str, AudioRef] | None = None, run_id: str | None = None,
            shuffles: int = SHUFFLES, seed: int = SEED, suspect_confidence: float = SUSPECT_CONFIDENCE,
            notes: Sequence[str] = ()) -> ReviewAnalysis:
    """The queue of `rows` (a run's stored hypotheses) and every figure about it."""
    budget = parse_budget(budget)
    queue = build_queue(rows, calibrator, audio, notes=notes)
    if not queue.items:
        raise BadInputError(f"{f'run {run_id}' if run_id else 'review'}: no speech utterance with a hypothesis to review "
                            f"({', '.join(f'{n} {k}' for k, n in queue.excluded.items() if n) or 'nothing stored'})")
    scores = utterance_scores(rows, normalizer)
    curve = review_curve(rows, queue.order, normalizer, shuffles, seed, scores)
    slices = slice_capture(queue, scores, budget, columns, shuffles, seed, suspect_confidence)
    overall = slices[0]
    oracle_after = 100.0 * (overall.errors - overall.caught_oracle) / overall.ref_words
    random_after = 100.0 * (overall.errors - overall.caught_random) / overall.ref_words
    reviewed = queue.count(budget)
    durations = [i.duration_s for i in queue.items[:reviewed]]
    minutes = sum(durations) / 60 if all(d is not None for d in durations) else None
    return ReviewAnalysis(run_id, _normalizer(normalizer).id, budget, queue, curve, reviewed, minutes,
                          overall.wer_before, overall.wer_after, random_after, oracle_after, slices,
                          suspect_references(queue, scores, suspect_confidence), suspect_confidence, calibrator.fitted_on)


# ----------------------------------------------------------------------------- from the run store


def decoded_run(store: RunStore, record: RunRecord) -> RunRecord:
    """The decoded run under a derived one (a strategy applied to stored transcripts): its
    split, model and manifest are the ones that count."""
    seen = {record.id}
    while record.kind != "bench" and (record.config or {}).get("base_run"):
        base = (record.config or {})["base_run"]
        if base in seen:
            break
        seen.add(base)
        try:
            record = store.run(base)
        except WorkbenchError:
            break
    return record


def _split_of(record: RunRecord) -> str | None:
    parts = ((record.config or {}).get("identity") or {}).get("parts") or {}
    return parts.get("split_heldout_id")


def _model_of(record: RunRecord) -> tuple:
    """Which weights through which backend decoded the run (by content when known)."""
    config = record.config or {}
    weights = ((config.get("decoding") or {}).get("model") or {}).get("sha256")
    return config.get("backend"), weights or config.get("model")


def calibration_run(store: RunStore, record: RunRecord) -> str | None:
    """The newest succeeded baseline run of the TRAIN part that the confidence of `record`
    may be calibrated on: the same split and the same model and backend (confidence is a
    property of the model), sharing no utterance with `record` (checked by id). As
    `session.latest_train_run`, plus the model check."""
    decoded = decoded_run(store, record)
    held_ids = {h.utterance_id for h in store.hypotheses(record.id)}
    for candidate in store.runs():
        config = candidate.config or {}
        if not (candidate.kind == "bench" and candidate.status == "succeeded" and config.get("part") == "train"
                and config.get("strategy", "baseline") in (None, "baseline") and candidate.id != record.id):
            continue
        if _split_of(candidate) != _split_of(decoded) or _model_of(candidate) != _model_of(decoded):
            continue
        if held_ids & {h.utterance_id for h in store.hypotheses(candidate.id)}:
            continue
        return candidate.id
    return None


def calibrator_for(store: RunStore, record: RunRecord, train_run: str | None = None,
                   method: str = "logistic") -> tuple[Calibrator, tuple[str, ...]]:
    """(the calibrator for `record`'s confidences, notes). `train_run` names the train-part
    run to fit on (checked: of the train part, sharing no utterance with `record`); by
    default the newest one that fits (`calibration_run`). Without one: uncalibrated."""
    notes: list[str] = []
    if train_run is None:
        train_run = calibration_run(store, record)
        if train_run is None:
            # Named as the user gave it (the weights' hash is what is matched, not what is typed).
            model = (decoded_run(store, record).config or {}).get("model") or "the same model"
            reason = (f"no baseline run of the train part of this split decoded with {model}: run "
                      f"`workbench bench --part train --model {model}` (same data and backend) to calibrate")
            return Calibrator("uncalibrated", None, 0, None, normalizer=record.normalizer, reason=reason), (reason,)
    train = store.run(train_run)
    if (train.config or {}).get("part") != "train":
        raise BadInputError(f"--calibrate-on: run {train.id} is not of the train part: calibrating on the part being "
                            "reviewed would grade the confidence on its own answers")
    rows = store.hypotheses(train.id)
    leaked = sorted({h.utterance_id for h in store.hypotheses(record.id)} & {h.utterance_id for h in rows})
    if leaked:
        raise BadInputError(f"--calibrate-on: run {train.id} shares {len(leaked)} utterances with run {record.id} "
                            f"(e.g. {leaked[0]!r}): calibrating on them would grade the confidence on its own answers")
    if _model_of(train) != _model_of(decoded_run(store, record)):
        notes.append(f"calibration run {train.id} was decoded by another model or backend than run {record.id}: "
                     "its confidences may be calibrated poorly")
    # When nothing could be fitted, the calibrator's `reason` says why (and names no note twice).
    return fit_calibrator(rows, record.normalizer or "auto", method, train.id), tuple(notes)


def manifest_audio(config: Mapping, ids: Sequence[str] | None = None) -> tuple[dict[str, AudioRef], tuple[str, ...]]:
    """The audio of each utterance as written in the manifest(s) of a run's config, by id,
    with its duration from the file header. Nothing is decoded; a manifest that cannot be
    read gives no entries and a note."""
    from .audio import probe
    from .manifest import LoadOptions, load_dataset

    stored = config.get("load_options") or {}
    options = LoadOptions(check_audio="none", min_duration_s=0.0, max_duration_s=float("inf"),
                          language=stored.get("language"), hf_config=stored.get("hf_config"), hf_split=stored.get("hf_split"))
    wanted = set(ids) if ids is not None else None
    found: dict[str, tuple] = {}
    notes = []
    for spec in (config.get("data"), config.get("test")):  # the test manifest wins for its ids
        if not spec:
            continue
        try:
            dataset = load_dataset(spec, options)
        except (WorkbenchError, OSError, ValueError) as exc:
            notes.append(f"audio paths unavailable: the run's manifest {spec} cannot be read now ({exc})")
            continue
        for u in dataset.utterances:
            if wanted is None or u.id in wanted:
                found[u.id] = u
    if not found and not notes:
        notes.append("audio paths unavailable: the run's config names no manifest")

    def measure(u) -> float | None:
        try:
            return round(probe(u.audio).duration_s, 3)
        except (WorkbenchError, OSError, ValueError, RuntimeError):
            return None

    utterances = list(found.values())
    with ThreadPoolExecutor(max_workers=4) as pool:
        durations = list(pool.map(measure, utterances))
    out = {u.id: AudioRef(u.audio.label or u.audio.path, u.audio.path, d) for u, d in zip(utterances, durations)}
    if wanted is not None and wanted - set(out) and found:
        notes.append(f"{len(wanted - set(out))} utterances are not in the run's manifest now: no audio path for them")
    unreadable = sum(1 for d in durations if d is None)
    if unreadable:
        notes.append(f"{unreadable} audio files could not be read now: their duration is unknown")
    return out, tuple(notes)


def _slice_columns(record: RunRecord) -> list[str] | None:
    columns = (record.config or {}).get("slice_columns")
    return [c for c in columns if c != SPEAKER] if columns else None


def review_run(workspace: str, run: str, budget: Budget | str = DEFAULT_BUDGET, train_run: str | None = None,
               method: str = "logistic", shuffles: int = SHUFFLES, seed: int = SEED,
               suspect_confidence: float = SUSPECT_CONFIDENCE, with_audio: bool = True) -> ReviewAnalysis:
    """The review queue of a stored run and what it is worth, from the run store alone
    (opened read-only: nothing is written)."""
    budget = parse_budget(budget)
    with RunStore(workspace, read_only=True) as store:
        record = store.run(run)
        if record.status != "succeeded":
            raise BadInputError(f"run {record.id} is {record.effective_status}: review a finished run")
        calibrator, notes = calibrator_for(store, record, train_run, method)
        rows = store.hypotheses(record.id)
        decoded = decoded_run(store, record)
    audio, audio_notes = ({}, ())
    if with_audio:
        audio, audio_notes = manifest_audio(decoded.config or {}, [h.utterance_id for h in partition(rows).speech])
    return analyse(rows, calibrator, budget, record.normalizer or "auto", _slice_columns(record), audio, record.id,
                   shuffles, seed, suspect_confidence, (*notes, *audio_notes))


def review_report(workspace: str, run: str, budget: Budget | str = DEFAULT_BUDGET, train_run: str | None = None,
                  analysis: ReviewAnalysis | None = None, head: int = 20, **options) -> dict:
    """The review section of a run as a plain dict (JSON, Markdown, HTML render it): the
    settings, the curve, the table at REPORT_POINTS and at the budget, per-slice capture and
    calibration, the suspect references and the head of the queue."""
    analysis = analysis or review_run(workspace, run, budget, train_run, **options)
    return analysis_dict(analysis, head)


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


def analysis_dict(a: ReviewAnalysis, head: int = 20) -> dict:
    curve = a.curve
    columns = sorted({c for i in a.queue.items for c in i.slices if c not in CONTROL_COLUMNS})
    return {
        "kind": "review",
        "simulated": True,  # corrections are simulated: hypothesis replaced by the reference
        "run": a.run_id,
        "normalizer": a.normalizer,
        "calibration": {"method": a.queue.calibrator.method, "run": a.calibration_run,
                        "utterances": a.queue.calibrator.utterances, "reason": a.queue.calibrator.reason},
        "budget": {"kind": a.budget.kind, "value": a.budget.value, "description": a.budget.describe(),
                   "utterances": a.reviewed, "minutes": _r(a.reviewed_minutes)},
        "queued": len(a.queue.items),
        "excluded": dict(a.queue.excluded),
        "notes": list(a.queue.notes),
        "at_budget": {"before": _r(a.wer_before), "queue": _r(a.wer_queue), "random": _r(a.wer_random),
                      "oracle": _r(a.wer_oracle), "ratio_vs_random": _r(a.ratio_vs_random)},
        "curve": {"k": list(curve.ks), "queue": [_r(v, 3) for v in curve.queue], "random": [_r(v, 3) for v in curve.random],
                  "oracle": [_r(v, 3) for v in curve.oracle], "shuffles": curve.shuffles, "seed": curve.seed,
                  "utterances": curve.utterances, "ref_words": curve.ref_words, "errors": curve.errors,
                  "area_vs_random": _r(curve.area_vs_random, 3), "oracle_area_vs_random": _r(curve.oracle_area_vs_random, 3),
                  "share_of_oracle": _r(curve.share_of_oracle, 3)},
        "table": [{"k": k, "utterances": int(math.floor(k * curve.utterances / 100 + 1e-9)),
                   "queue": _r(curve.at(k)[0]), "random": _r(curve.at(k)[1]), "oracle": _r(curve.at(k)[2])}
                  for k in REPORT_POINTS],
        "slices": [{"column": s.column, "value": s.value, "utterances": s.utterances, "errors": s.errors,
                    "reviewed": s.reviewed, "wer_before": _r(s.wer_before), "wer_after": _r(s.wer_after),
                    "caught_queue": s.caught_queue, "caught_random": _r(s.caught_random), "caught_oracle": s.caught_oracle,
                    "share_queue": _r(s.share(s.caught_queue), 4), "share_random": _r(s.share(s.caught_random), 4),
                    "share_oracle": _r(s.share(s.caught_oracle), 4), "ece": _r(s.ece, 4),
                    "mean_confidence": _r(s.mean_confidence, 4), "correct_share": _r(s.correct_share, 4),
                    "suspects": s.suspects} for s in a.slices],
        "suspects": {"threshold": a.suspect_confidence, "count": len(a.suspects),
                     "items": [{"utterance_id": s.utterance_id, "confidence": _r(s.confidence, 4), "errors": s.errors,
                                "reference": s.reference, "hypothesis": s.hypothesis, "audio": s.audio,
                                **{c: s.slices.get(c, "") for c in columns}} for s in a.suspects]},
        "head": [i.to_dict(columns) for i in a.queue.items[:head]],
    }


# ----------------------------------------------------------------------------- for the ladder


@dataclass(frozen=True)
class SimulatedSlice:
    """A slice's WER before and after reviewing the queue's head within a budget. SIMULATED:
    each reviewed hypothesis is replaced by its reference, as a perfect reviewer would."""

    key: str  # "overall" or "column=value"
    utterances: int
    reviewed: int
    wer_before: float | None  # percent
    wer_after: float | None  # percent


def simulated_slice_wer(workspace: str, run: str, budget: Budget | str, train_run: str | None = None,
                        analysis: ReviewAnalysis | None = None) -> tuple[SimulatedSlice, ...]:
    """Per slice (overall first) the simulated WER of `run` after review within `budget`:
    what the escalation ladder's review rung reports, labelled as simulated."""
    analysis = analysis or review_run(workspace, run, budget, train_run, with_audio=parse_budget(budget).kind == "minutes")
    return tuple(SimulatedSlice(s.key, s.utterances, s.reviewed, s.wer_before, s.wer_after) for s in analysis.slices)
