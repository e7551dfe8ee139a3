"""Measured numbers beyond WER: language-ID accuracy per slice, hallucination on no-speech clips.

Both read the per-utterance signals stored with each hypothesis, so they are computed
from the run store like every score, and recomputed the same way after any change.
`guard_figures` gathers them from a run's stored hypotheses for the forgetting guard
(`policy.guard_misses`), so the escalation and the TUI judge a rung the same way.
"""

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from .backends.base import language_code
from .dataset import is_true
from .normalizers import get_normalizer
from .policy import OVERALL, GuardFigures
from .slicing import slice_value

__all__ = [
    "LanguageIdScore",
    "HallucinationScore",
    "language_id",
    "hallucination",
    "ECHO_SHARE",
    "ECHO_GAP",
    "echoed_words",
    "echoes_prompt",
    "guard_figures",
    "run_guard_figures",
]

# Prompt echo: a transcript echoes its prompt when it holds a run of the prompt's words, in
# the prompt's order, covering at least ECHO_SHARE of them (and at least 2 words), with at
# most ECHO_GAP other words between consecutive ones, and that run is longer than the
# longest such run in the reference (what the speaker said is not an echo). So a drug name
# the prompt listed and the speaker said is prompt biasing working, a speaker reading the
# glossary aloud is transcribed, while "Glossary: metoprolol, warfarin, amoxicillin"
# written over a clip that says one of them (or nothing) is an echo.
ECHO_SHARE = 0.6
ECHO_GAP = 1


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
            groups.setdefault(slice_value(entry[0].slices, column), []).append(entry)
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


def echoed_words(prompt_words: Sequence[str], text_words: Sequence[str], gap: int = ECHO_GAP) -> int:
    """The longest chain of prompt words found in the text in the prompt's order (prompt
    words may be skipped), with at most `gap` other text words between consecutive links."""
    if not prompt_words or not text_words:
        return 0
    n = len(prompt_words)
    # upto[j][i]: the longest chain ending at text word j on a prompt word at index <= i.
    upto: list[list[int]] = []
    best = 0
    for j, word in enumerate(text_words):
        row = [0] * n
        running = 0
        for i in range(n):
            if prompt_words[i] == word:
                before = max((upto[k][i - 1] for k in range(max(0, j - 1 - gap), j)), default=0) if i > 0 else 0
                running = max(running, before + 1)
            row[i] = running
        upto.append(row)
        best = max(best, running)
    return best


def echoes_prompt(prompt: str, hypothesis: str, reference: str = "", gap: int = ECHO_GAP, share: float = ECHO_SHARE) -> bool:
    """Whether `hypothesis` copies most of `prompt` (see ECHO_SHARE) beyond what `reference` says.

    Both are compared after the multilingual normalizer (case, punctuation), word by word."""
    normalize = get_normalizer("multilingual")
    words = normalize(prompt).split()
    if not words:
        return False
    need = max(2, math.ceil(share * len(words)))
    if need > len(words):
        return False  # a one-word prompt: one shared word is not an echo
    copied = echoed_words(words, normalize(hypothesis).split(), gap)
    said = echoed_words(words, normalize(reference).split(), gap) if reference else 0
    return copied >= need and copied > said


def guard_figures(rows: Sequence, slice_columns: Sequence[str], default_prompt: str | None = None, examples: int = 3) -> GuardFigures:
    """The forgetting guard's measures over one run's stored hypotheses (`StoredHypothesis`):
    language ID on the speech clips, words on the no-speech clips, and transcripts that echo
    the prompt they were decoded with (`extra["prompt"]` or `extra["hotwords"]`, as the
    transcription path stores a strategy's; else `default_prompt`, the run's decoding
    option). Failed decodes and missing hypotheses are left out."""
    usable = [h for h in rows if "error" not in (h.extra or {}) and not (h.extra or {}).get("missing")]
    speech = [h for h in usable if not is_true(h.slices.get("no_speech", ""))]
    silent = [h for h in usable if is_true(h.slices.get("no_speech", ""))]
    lid = language_id(speech, {h.id: h.extra or {} for h in speech}, slice_columns)
    silence = hallucination(silent, {h.id: h.hypothesis for h in silent})
    prompted, echoes = 0, []
    for h in usable:
        prompt = (h.extra or {}).get("prompt") or (h.extra or {}).get("hotwords") or default_prompt
        if not prompt:
            continue
        prompted += 1
        if echoes_prompt(prompt, h.hypothesis, h.reference):
            echoes.append(h.id)
    long = _longform_failures(speech)
    return GuardFigures(
        language_id=tuple((OVERALL if s.column == "overall" else f"{s.column}={s.value}", s.utterances, 100.0 * s.accuracy)
                          for s in lid if s.accuracy is not None),
        recordings=long[0],
        loop_words=long[1],
        silence_words=long[2],
        dropped_segments=long[3],
        no_speech_clips=silence.clips,
        no_speech_words=silence.words,
        prompted=prompted,
        prompt_echoes=len(echoes),
        echo_examples=tuple(echoes[:examples]),
    )


def _longform_failures(speech: Sequence) -> tuple[int, int, int, int]:
    """(recordings, loop words, words in silences, dropped segments) over the rows that carry
    a timed reference (long recordings), by `workbench.longform.score_recording`."""
    from .longform import score_stored_recording

    normalizer = get_normalizer("auto")
    scores = [score for h in speech if (score := score_stored_recording(h, normalizer)) is not None]
    totals = [len(scores), 0, 0, 0]
    for score in scores:
        totals[1] += score.loop_words
        totals[2] += score.silence_words or 0
        totals[3] += score.dropped_segments or 0
    return tuple(totals)


def run_guard_figures(store, run_id: str, slice_columns: Sequence[str] | None = None) -> GuardFigures:
    """`guard_figures` of a stored run (`store`: an open RunStore): its hypotheses, its slice
    columns unless given, and its run-wide decoding prompt for utterances without their own."""
    config = store.run(run_id).config or {}
    decoding = config.get("decoding") or {}
    columns = (config.get("slice_columns") or ()) if slice_columns is None else slice_columns
    return guard_figures(store.hypotheses(run_id), columns, decoding.get("initial_prompt") or decoding.get("hotwords"))
