"""Measured numbers beyond WER: language-ID accuracy per slice, hallucination on no-speech clips.

Both read the per-utterance signals stored with each hypothesis, so they are computed
from the run store like every score, and recomputed the same way after any change.
`guard_figures` gathers them from a run's stored hypotheses for the forgetting guard
(`policy.guard_misses`), so the escalation and the TUI judge a rung the same way.
"""

from dataclasses import dataclass
from typing import Mapping, Sequence

from .backends.base import language_code
from .dataset import is_true
from .normalizers import get_normalizer
from .policy import OVERALL, GuardFigures

__all__ = ["LanguageIdScore", "HallucinationScore", "language_id", "hallucination", "guard_figures"]


@dataclass(frozen=True)
class LanguageIdScore:
    column: str
    value: str
    utterances: int  # with a known reference language and a detection
    correct: int
    confusions: tuple[tuple[str, int], ...]  # most frequent wrong detections

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.utterances if self.utterances else None


@dataclass(frozen=True)
class HallucinationScore:
    clips: int  # no-speech clips scored
    clips_with_output: int  # clips where the model produced any word
    words: int  # words produced in total (normalized)
    examples: tuple[tuple[str, str], ...]  # (utterance id, text) of the first few

    @property
    def rate(self) -> float | None:
        return self.clips_with_output / self.clips if self.clips else None


def language_id(items: Sequence, signals: Mapping[str, dict], slice_columns: Sequence[str]) -> list[LanguageIdScore]:
    """Accuracy of the detected language against the dataset's language column."""
    rows = []
    judged = [
        (u, language_code(u.language), signals[u.id].get("detected_language"))
        for u in items
        if u.id in signals and u.language and signals[u.id].get("detected_language")
    ]

    def score(column: str, value: str, group) -> LanguageIdScore:
        from collections import Counter

        wrong = Counter(detected for _, ref, detected in group if detected != ref)
        return LanguageIdScore(column, value, len(group), sum(1 for _, ref, d in group if d == ref), tuple(wrong.most_common(3)))

    rows.append(score("overall", "all", judged))
    for column in slice_columns:
        groups: dict[str, list] = {}
        for entry in judged:
            groups.setdefault(entry[0].slices.get(column, ""), []).append(entry)
        rows.extend(score(column, value, groups[value]) for value in sorted(groups))
    return rows


def hallucination(items: Sequence, hypotheses: Mapping[str, str], examples: int = 5) -> HallucinationScore:
    """What the model wrote on clips that contain no speech."""
    normalize = get_normalizer("multilingual")
    clips = [u for u in items if u.id in hypotheses]
    outputs = [(u.id, hypotheses[u.id].strip()) for u in clips]
    with_output = [(i, t) for i, t in outputs if normalize(t)]
    words = sum(len(normalize(t).split()) for _, t in with_output)
    return HallucinationScore(len(clips), len(with_output), words, tuple(with_output[:examples]))


def guard_figures(rows: Sequence, slice_columns: Sequence[str]) -> GuardFigures:
    """The forgetting guard's measures over one run's stored hypotheses (`StoredHypothesis`):
    language ID on the speech clips, words on the no-speech clips. Failed decodes and missing hypotheses are left out."""
    usable = [h for h in rows if "error" not in (h.extra or {}) and not (h.extra or {}).get("missing")]
    speech = [h for h in usable if not is_true(h.slices.get("no_speech", ""))]
    silent = [h for h in usable if is_true(h.slices.get("no_speech", ""))]
    lid = language_id(speech, {h.id: h.extra or {} for h in speech}, slice_columns)
    silence = hallucination(silent, {h.id: h.hypothesis for h in silent})
    return GuardFigures(
        language_id=tuple((OVERALL if s.column == "overall" else f"{s.column}={s.value}", s.utterances, 100.0 * s.accuracy)
                          for s in lid if s.accuracy is not None),
        no_speech_clips=silence.clips,
        no_speech_words=silence.words,
    )
