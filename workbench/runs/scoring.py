"""Scoring a run: the ONE function that turns stored hypotheses into figures.

`bench`, `score`, `rescore`, strategy runs, comparisons, escalation's trained models and
the TUI all score through `score_stored`, and store through `store_scores`. It reads only
what the run store holds (references, hypotheses, slices, backend signals), so the same
hypotheses give the same figures, to the digit, whichever command produced them.
"""

import json
from dataclasses import asdict, dataclass
from typing import Sequence

from ..diagnostics import HallucinationScore, LanguageIdScore, hallucination, language_id
from ..errors import BadInputError
from ..evaluation import Evaluation, EvaluationOptions, Thresholds, check_thresholds, evaluate
from ..normalizers import get_normalizer
from ..scoring import scorecard_to_dict
from .coverage import Coverage, partition
from ..slicing import slice_value

__all__ = ["RunScores", "score_stored", "store_scores", "normalizer_notes"]


@dataclass(frozen=True)
class RunScores:
    evaluation: Evaluation  # speech utterances with a hypothesis only (see coverage)
    coverage: Coverage
    language_id: tuple[LanguageIdScore, ...]
    hallucination: HallucinationScore  # on the no-speech clips
    missed: tuple[str, ...]  # thresholds missed, in words
    notes: tuple[str, ...]  # what a reader must know about how it was scored
    longform: dict | None = None  # long recordings: per-recording and per-slice long-form measures

    def summary(self) -> dict:
        """The figures stored with the run record (runs list, leaderboards)."""
        return {
            "wer": self.evaluation.normalized.overall.wer,
            "raw_wer": self.evaluation.raw.overall.wer,
            "cer": self.evaluation.normalized.overall.cer,
            "missed": list(self.missed),
            "coverage": self.coverage.to_dict(),
            "language_id_accuracy": self.language_id[0].accuracy if self.language_id else None,
            "hallucination_rate": self.hallucination.rate,
            "notes": list(self.notes),
            "longform": {"slices": self.longform["slices"]} if self.longform else None,
        }

    def to_dict(self) -> dict:
        """The scoring part of every JSON report."""
        return {
            "coverage": self.coverage.to_dict(),
            "normalizer": {"id": self.evaluation.normalized.normalizer,
                           "description": get_normalizer(self.evaluation.options.normalizer).description},
            "notes": list(self.notes),
            "language_id": [asdict(s) | {"accuracy": s.accuracy} for s in self.language_id],
            "hallucination": asdict(self.hallucination) | {"rate": self.hallucination.rate},
            "longform": self.longform,
            "scores": {"normalized": scorecard_to_dict(self.evaluation.normalized), "raw": scorecard_to_dict(self.evaluation.raw)},
        }


def normalizer_notes(normalizer: str, speech: Sequence) -> tuple[str, ...]:
    """Say so when `auto` cannot see a language: it then treats every utterance as non-English."""
    if get_normalizer(normalizer).name != "auto":
        return ()
    unknown = sum(1 for h in speech if not h.language)
    if not unknown:
        return ()
    return (f"normalizer auto: {unknown} of {len(speech)} utterances have no language column value, so the "
            "multilingual normalizer was applied to them; for English data add a language column or pass "
            "--normalizer whisper-english",)


def score_stored(
    hypotheses: Sequence,
    options: EvaluationOptions,
    thresholds: Thresholds = Thresholds(),
    expected_ids: Sequence[str] | None = None,
    label: str = "run",
) -> RunScores:
    """Score stored hypothesis rows (`StoredHypothesis`) by the one coverage rule."""
    coverage = partition(hypotheses, expected_ids)
    if not coverage.speech:
        why = coverage.describe() if (coverage.no_speech or coverage.failed or coverage.missing) else "nothing stored"
        raise BadInputError(f"{label}: no speech utterance with a hypothesis to score ({why})")
    texts = {h.utterance_id: h.hypothesis for h in coverage.speech}
    evaluation = evaluate(coverage.speech, texts, options)
    signals = {h.utterance_id: (h.extra or {}) for h in coverage.speech}
    lid = tuple(language_id(coverage.speech, signals, options.slice_columns))
    halluc = hallucination(coverage.no_speech, {h.utterance_id: h.hypothesis for h in coverage.no_speech})
    missed = tuple(check_thresholds(evaluation.normalized, thresholds))
    notes = normalizer_notes(options.normalizer, coverage.speech)
    return RunScores(evaluation, coverage, lid, halluc, missed, notes, longform_scores(coverage.speech, options))


def longform_scores(speech: Sequence, options: EvaluationOptions) -> dict | None:
    """For rows with a timed reference (long recordings): `workbench.longform.score_recording`
    on the stored reference and hypothesis segments, per recording, and totals per slice.
    The whole-recording WER is the same one alignment the scorecard uses."""
    from ..longform import score_stored_recording, summarize

    normalizer = get_normalizer(options.normalizer)
    scored = [(h, score) for h in speech if (score := score_stored_recording(h, normalizer)) is not None]
    if not scored:
        return None
    groups = [("overall", "all", [s for _, s in scored])]
    for column in options.slice_columns:
        values: dict[str, list] = {}
        for h, s in scored:
            values.setdefault(slice_value(h.slices, column), []).append(s)
        groups.extend((column, value, values[value]) for value in sorted(values))
    return {
        "recordings": [{"utterance_id": h.utterance_id, **s.to_dict()} for h, s in scored],
        "slices": [{"column": c, "value": v, **summarize(group)} for c, v, group in groups],
    }


def store_scores(store, run_id: str, scores: RunScores, timings: dict, summary: dict, finish: bool = True,
                 note: str | None = None) -> int | None:
    """Store a scoring as a new scorecard version; with `finish`, mark the run succeeded in
    the same transaction. A re-scoring identical to the latest stored version adds nothing
    (a reused run scored again the same way). Returns the version written, or None."""
    # Through JSON, as the store keeps them, so an identical scoring compares equal.
    cards = json.loads(json.dumps({card.normalizer: scorecard_to_dict(card)
                                   for card in (scores.evaluation.normalized, scores.evaluation.raw)}, sort_keys=True))
    summary = {**summary, **scores.summary()}
    if finish:
        record = store.run(run_id)
        if record.status == "succeeded" and all(store.scores(run_id).get(k) == v for k, v in cards.items()):
            return None
        store.finish_run(run_id, cards, timings, summary, note)
        return len(store.score_versions(run_id))
    latest = store.scores(run_id)
    if all(latest.get(k) == v for k, v in cards.items()):
        return None
    return store.add_scores(run_id, cards, note)
