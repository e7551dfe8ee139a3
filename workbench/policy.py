"""The escalation decision: given one rung's held-out scores, stop, climb, or say why not.

A pure function over numbers, so it is tested with tables and never touches a model:
the caller scores a rung (through the one evaluation path), hands the figures here, and
acts on the `Decision`. Like Whisper's temperature fallback, it climbs a ladder of
ever more expensive remedies only while the cheaper ones miss the targets.

A slice counts as a regression only when it is SIGNIFICANTLY worse than the baseline
(the paired interval of its WER change lies wholly above zero) AND the rise exceeds the
allowance: a noisy wobble or a small, real rise is tolerated. Without an interval (the
bootstrap turned off, `--bootstrap 0`) a rise cannot be told from noise, so it cannot be
excused as noise either: a rise above the allowance then counts, and the miss says why.
Turning the bootstrap off never turns regression gating off.

The forgetting guard (`guard_misses`) judges what WER does not show, each against its
own allowance: language-ID accuracy, words written on no-speech clips, transcripts that
echo the prompt. Its findings travel with the rung's scores (`RungScores.guard`) and are
misses like any other, so a rung the guard rejected is never accepted; and when the
ladder is exhausted it is never reported as the best rung tried while one the guard
passed exists.

Deployment parity (`parity_misses`) travels the same way: a trained rung whose shipped
form (the merged LoRA model, a CTranslate2 quantization) is significantly worse than the
model as trained, beyond `max_parity_wer_rise`, is refused, by the same rule as a slice's
regression against the baseline.
"""

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from .escalation_config import Targets

__all__ = [
    "ACTIONS",
    "TRAINING_RUNGS",
    "OVERALL",
    "SliceFigure",
    "RungScores",
    "Miss",
    "Decision",
    "GuardFigures",
    "GUARD_TARGETS",
    "guard_misses",
    "PARITY_TARGET",
    "parity_misses",
    "misses",
    "decide",
]

ACTIONS = ("stop", "next", "needs_gpu", "exhausted")
TRAINING_RUNGS = frozenset({"lora", "full"})
OVERALL = "overall"
# The forgetting guard's targets (escalation_config.Targets), in the order its findings are listed.
GUARD_TARGETS = ("max_language_id_drop", "max_no_speech_insertions", "max_prompt_echo", "max_longform_failures")
PARITY_TARGET = "max_parity_wer_rise"  # deployment parity (`parity_misses`): refuses the rung like a guard finding
_TARGET_ORDER = ("max_wer", "max_slice_wer", "slice_max_wer", "max_regression") + GUARD_TARGETS + (PARITY_TARGET,)  # tie-break among equal misses
_RUNG_NAMES = {"lora": "LoRA", "full": "Full fine-tuning"}
UNJUDGED = "untested: no interval with the bootstrap off, so it counts"


@dataclass(frozen=True)
class SliceFigure:
    """One slice's WER on a rung, and how it moved against the baseline."""

    key: str  # "overall" or "column=value", e.g. "accent=Scottish"
    utterances: int
    wer: float  # percent
    baseline_wer: float | None  # percent; None for the baseline rung itself
    change_low: float | None = None  # 95% interval of the PAIRED WER change vs baseline, pp
    change_high: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"key: must be a non-empty string, got {self.key!r}")
        if not isinstance(self.utterances, int) or isinstance(self.utterances, bool) or self.utterances < 0:
            raise ValueError(f"{self.key}: utterances must be a non-negative integer, got {self.utterances!r}")
        for name in ("wer", "baseline_wer", "change_low", "change_high"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise ValueError(f"{self.key}: {name} must be a finite number, got {value!r}")
        if self.change_low is not None and self.change_high is not None and self.change_low > self.change_high:
            raise ValueError(f"{self.key}: change_low {self.change_low!r} is above change_high {self.change_high!r}")

    @property
    def significantly_worse(self) -> bool:
        return self.change_low is not None and self.change_low > 0

    @property
    def unjudged(self) -> bool:
        """No interval to test the change against noise (e.g. the bootstrap was off)."""
        return self.baseline_wer is not None and self.change_low is None and self.change_high is None

    @property
    def rise(self) -> float | None:
        """Points of WER gained against the baseline (negative: better)."""
        return None if self.baseline_wer is None else self.wer - self.baseline_wer


@dataclass(frozen=True)
class Miss:
    """One target one slice missed."""

    target: str  # one of _TARGET_ORDER: "max_wer" | "max_slice_wer" | "max_regression" | a GUARD_TARGETS entry
    slice: str
    value: float  # the WER, or the rise, in pp; for the guard: the drop in pp, or the count over the baseline's
    limit: float
    detail: str = ""  # what the numbers were measured on, shown after them

    def __post_init__(self) -> None:
        if self.target not in _TARGET_ORDER:
            raise ValueError(f"target: must be one of {', '.join(_TARGET_ORDER)}, got {self.target!r}")

    @property
    def excess(self) -> float:
        """Points over the limit: how severe the miss is."""
        return self.value - self.limit

    @property
    def guard(self) -> bool:
        """A forgetting-guard (or deployment-parity) finding: the rung is rejected whatever its WER."""
        return self.target in GUARD_TARGETS or self.target == PARITY_TARGET

    def describe(self) -> str:
        if self.target == "max_regression":
            return (
                f"{self.slice} rose {_pp(self.value)} points against the baseline "
                f"({self.detail or 'significant'}; {_pp(self.limit)} allowed)"
            )
        if self.target == "max_language_id_drop":
            return (f"forgetting guard: language ID ({self.slice}) fell {_pp(self.value)} points"
                    f"{', ' + self.detail if self.detail else ''} ({_pp(self.limit)} allowed)")
        if self.target == "max_no_speech_insertions":
            return (f"forgetting guard: {self.value:g} more words than the baseline on no-speech clips "
                    f"({self.detail + '; ' if self.detail else ''}{self.limit:g} allowed)")
        if self.target == "max_prompt_echo":
            return (f"forgetting guard: {self.value:g} more transcripts than the baseline echo the prompt "
                    f"({self.detail + '; ' if self.detail else ''}{self.limit:g} allowed)")
        if self.target == "max_longform_failures":
            return (f"forgetting guard: {self.value:g} more than the baseline on {self.slice} "
                    f"({self.detail + '; ' if self.detail else ''}{self.limit:g} allowed)")
        if self.target == PARITY_TARGET:
            return (f"deployment parity: {self.slice} rose {_pp(self.value)} WER points against the model as trained "
                    f"({self.detail or 'significant'}; {_pp(self.limit)} allowed: targets.max_parity_wer_rise)")
        which = {"max_slice_wer": "slice target", "slice_max_wer": "target for this slice"}.get(self.target, "target")
        return f"{self.slice} at {_pp(self.value)}% WER misses the {_pp(self.limit)}% {which} by {_by(self.excess)} points"


@dataclass(frozen=True)
class RungScores:
    rung: str  # e.g. "baseline", "lexicon+prompt", "lora"
    slices: tuple[SliceFigure, ...]  # must include "overall"
    # The forgetting guard's findings (`guard_misses`, and regressions on a retention set):
    # any finding rejects the rung, whatever its WER.
    guard: tuple[Miss, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "slices", tuple(self.slices))
        object.__setattr__(self, "guard", tuple(self.guard))
        keys = [s.key for s in self.slices]
        if OVERALL not in keys:
            raise ValueError(f"{self.rung}: scores need an {OVERALL!r} slice, got {keys!r}")
        if len(set(keys)) != len(keys):
            raise ValueError(f"{self.rung}: a slice appears twice in {keys!r}")
        if not all(isinstance(m, Miss) for m in self.guard):
            raise ValueError(f"{self.rung}: guard findings must be Miss objects, got {self.guard!r}")

    @property
    def overall(self) -> SliceFigure:
        return next(s for s in self.slices if s.key == OVERALL)

    @property
    def rejected(self) -> bool:
        """The forgetting guard rejected this rung."""
        return bool(self.guard)


@dataclass(frozen=True)
class GuardFigures:
    """What the forgetting guard compares between a rung and the baseline, on the same clips
    (built from stored hypotheses by `diagnostics.guard_figures`)."""

    language_id: tuple[tuple[str, int, float], ...] = ()  # (slice key, utterances judged, accuracy %)
    no_speech_clips: int = 0
    no_speech_words: int = 0  # words written on the no-speech clips, in total
    prompted: int = 0  # transcripts decoded with a prompt (or hotwords)
    prompt_echoes: int = 0  # of those, transcripts that echo it (`diagnostics.echoes_prompt`)
    echo_examples: tuple[str, ...] = ()  # utterance ids of the first few echoes
    # Long recordings (a timed reference): the long-form failures, summed over recordings.
    recordings: int = 0
    loop_words: int = 0  # words inside repeated n-gram loops
    silence_words: int = 0  # words written inside reference silences
    dropped_segments: int = 0  # reference segments no hypothesis word overlaps


def guard_misses(tuned: GuardFigures, baseline: GuardFigures, targets: Targets, where: str = "") -> tuple[Miss, ...]:
    """What the tuned rung broke outside WER, each measure against its own allowance.

    Language ID: any slice (overall always; others when at least `min_slice_utterances`
    were judged) whose accuracy fell more than `max_language_id_drop` points. No-speech
    clips: more words than the baseline's beyond `max_no_speech_insertions`. Prompt echo:
    more echoing transcripts than the baseline's beyond `max_prompt_echo`. `where` prefixes
    the slice names (e.g. "retention set ").
    """
    found: list[Miss] = []
    base_lid = {key: accuracy for key, _, accuracy in baseline.language_id}
    for key, judged, accuracy in tuned.language_id:
        before = base_lid.get(key)
        if before is None or not (key == OVERALL or judged >= targets.min_slice_utterances):
            continue
        drop = before - accuracy
        if drop > targets.max_language_id_drop:
            found.append(Miss("max_language_id_drop", f"{where}{key}", drop, targets.max_language_id_drop,
                              f"from {_pp(before)}% to {_pp(accuracy)}%"))
    extra = tuned.no_speech_words - baseline.no_speech_words
    if tuned.no_speech_clips and extra > targets.max_no_speech_insertions:
        found.append(Miss("max_no_speech_insertions", f"{where}no-speech clips", float(extra), float(targets.max_no_speech_insertions),
                          f"{tuned.no_speech_words} words on {tuned.no_speech_clips} clips against the baseline's {baseline.no_speech_words}"))
    if tuned.recordings:
        # A tuned model that loops, talks over pauses or skips whole passages of a long
        # recording has forgotten something the baseline could do, whatever its WER.
        for name, label in (("loop_words", "words in repetition loops"), ("silence_words", "words in reference silences"),
                            ("dropped_segments", "reference segments dropped")):
            rise = getattr(tuned, name) - getattr(baseline, name)
            if rise > targets.max_longform_failures:
                found.append(Miss("max_longform_failures", f"{where}long recordings", float(rise), float(targets.max_longform_failures),
                                  f"{label}: {getattr(tuned, name)} against the baseline's {getattr(baseline, name)}"))
    extra = tuned.prompt_echoes - baseline.prompt_echoes
    if extra > targets.max_prompt_echo:
        examples = f", e.g. {', '.join(tuned.echo_examples)}" if tuned.echo_examples else ""
        found.append(Miss("max_prompt_echo", f"{where}{OVERALL}", float(extra), float(targets.max_prompt_echo),
                          f"{tuned.prompt_echoes} of {tuned.prompted} prompted transcripts{examples}"))
    return tuple(found)


def parity_misses(forms: Mapping[str, Sequence[SliceFigure]], targets: Targets) -> tuple[Miss, ...]:
    """Each shipped form's slices against the model as trained (`SliceFigure.baseline_wer`
    is the trained model's WER on the same clips): a rise beyond `max_parity_wer_rise` that
    is significant (or cannot be judged: no interval) refuses the rung. The same rule, and
    the same gated slices, as `max_regression` against the baseline."""
    found: list[Miss] = []
    limit = targets.max_parity_wer_rise
    for form, figures in forms.items():
        for s in figures:
            gated = s.key == OVERALL or s.utterances >= targets.min_slice_utterances
            if not gated or s.rise is None or s.rise <= limit:
                continue
            if s.significantly_worse or s.unjudged:
                detail = UNJUDGED if s.unjudged else f"95% interval {_pp(s.change_low)} to {_pp(s.change_high)}"
                found.append(Miss(PARITY_TARGET, f"{form} {s.key}", float(s.rise), limit,
                                  f"{_pp(s.baseline_wer)}% -> {_pp(s.wer)}% WER, {detail}"))
    found.sort(key=lambda m: (-m.excess, m.slice))
    return tuple(found)


@dataclass(frozen=True)
class Decision:
    action: str  # one of ACTIONS
    rung: str  # the rung just judged (the best one tried when exhausted)
    met: bool  # that rung met every target
    misses: tuple[Miss, ...]  # that rung's misses, most severe first
    next_rung: str | None  # the rung to try next ("next", "needs_gpu"), else None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"action: must be one of {', '.join(ACTIONS)}, got {self.action!r}")
        if self.met != (self.action == "stop"):
            raise ValueError(f"met={self.met!r} contradicts action {self.action!r}")
        if (self.next_rung is not None) != (self.action in ("next", "needs_gpu")):
            raise ValueError(f"next_rung={self.next_rung!r} contradicts action {self.action!r}")

    def explain(self) -> str:
        """What was decided and why, in plain words, one point a line."""
        if self.met:
            return f"{self.rung} meets every target: stop here."
        if self.action == "needs_gpu":
            first = self.misses[0].describe() if self.misses else "targets missed"
            lines = [f"{_rung_name(self.next_rung)} needed: {first}; no GPU here."]
            lines += [f"  also: {m.describe()}" for m in self.misses[1:]]
            lines.append(
                f"Run the {self.next_rung} rung on a machine with a GPU, or allow CPU training (very slow)."
            )
            return "\n".join(lines)
        count = len(self.misses)
        lines = [f"{self.rung} misses {count} target{'s' if count != 1 else ''}:"]
        lines += [f"  - {m.describe()}" for m in self.misses]
        if self.action == "next":
            lines.append(f"Next: try {self.next_rung}.")
        else:
            lines.append(f"No rungs left on the ladder: {self.rung} is the best tried, and it still misses the targets above.")
        return "\n".join(lines)


def misses(scores: RungScores, targets: Targets) -> tuple[Miss, ...]:
    """Every target `scores` misses: the forgetting guard's findings first (each rejects the
    rung), then the WER targets, most severe (furthest over its limit) first."""
    found: list[Miss] = []
    overall = scores.overall
    if targets.max_wer is not None and overall.wer > targets.max_wer:
        found.append(Miss("max_wer", OVERALL, float(overall.wer), targets.max_wer))
    for s in scores.slices:
        gated = s.key == OVERALL or s.utterances >= targets.min_slice_utterances
        if not gated:
            continue
        if targets.max_slice_wer is not None and s.key != OVERALL and s.wer > targets.max_slice_wer:
            found.append(Miss("max_slice_wer", s.key, float(s.wer), targets.max_slice_wer))
        # The baseline is what regressions are measured against: it cannot regress.
        if targets.max_regression is None or scores.rung == "baseline" or s.rise is None:
            continue
        if s.rise > targets.max_regression and (s.significantly_worse or s.unjudged):
            found.append(Miss("max_regression", s.key, float(s.rise), targets.max_regression, UNJUDGED if s.unjudged else ""))
    # Per-slice targets (targets.slice_max_wer) are gated whatever the slice's size: a
    # user who names a slice (an accent's clinical dictation) wants it held to its target.
    by_key = {s.key: s for s in scores.slices}
    for key, limit in targets.slice_max_wer:
        s = by_key.get(key)
        if s is not None and s.wer > limit:
            found.append(Miss("slice_max_wer", key, float(s.wer), limit, f"{s.utterances} utterances"))
    # Sorted on every field, so equal inputs always give the same order.
    found.sort(key=lambda m: (-m.excess, _TARGET_ORDER.index(m.target), m.slice))
    return scores.guard + tuple(found)


def decide(
    scores: RungScores,
    ladder: Sequence[str],
    targets: Targets,
    *,
    gpu_available: bool,
    allow_cpu: bool = False,
    earlier: Sequence[RungScores] = (),
) -> Decision:
    """Stop at `scores.rung` if it meets every target, else name the next rung (or why not).

    `earlier`: the scores of rungs already tried, only used when the ladder is exhausted,
    to report the best rung so far (one the forgetting guard passed, then the fewest points
    over the WER limits, then the lowest overall WER, then the cheapest) rather than
    merely the last. A rung the guard rejected has misses, so it is never a "stop", and it
    is the best tried only when every rung tried was rejected (never: the baseline is not).
    """
    ladder = tuple(ladder)
    if scores.rung not in ladder:
        raise ValueError(f"rung {scores.rung!r} is not on the ladder {list(ladder)!r}")
    missed = misses(scores, targets)
    if not missed:
        return Decision("stop", scores.rung, True, (), None)
    position = ladder.index(scores.rung)
    if position + 1 < len(ladder):
        next_rung = ladder[position + 1]
        if next_rung in TRAINING_RUNGS and not (gpu_available or allow_cpu):
            return Decision("needs_gpu", scores.rung, False, missed, next_rung)
        return Decision("next", scores.rung, False, missed, next_rung)
    best, best_missed = scores, missed
    for tried in earlier:
        if tried.rung not in ladder:
            raise ValueError(f"rung {tried.rung!r} is not on the ladder {list(ladder)!r}")
        tried_missed = misses(tried, targets)
        if _rank(tried, tried_missed, ladder) < _rank(best, best_missed, ladder):
            best, best_missed = tried, tried_missed
    if not best_missed:  # an earlier rung met every target: the caller should have stopped there
        return Decision("stop", best.rung, True, (), None)
    return Decision("exhausted", best.rung, False, best_missed, None)


def _rank(scores: RungScores, missed: tuple[Miss, ...], ladder: tuple[str, ...]) -> tuple:
    # The guard's counts and the WER points are different units: a rejection ranks first, alone.
    return (scores.rejected, sum(m.excess for m in missed if not m.guard), scores.overall.wer, ladder.index(scores.rung))


def _rung_name(rung: str | None) -> str:
    return _RUNG_NAMES.get(rung or "", rung or "")


def _pp(value: float) -> str:
    return f"{value:.1f}"


def _by(excess: float) -> str:
    # A miss by 0.04 points would print as "by 0.0": say what is true instead.
    return "less than 0.1" if excess < 0.05 else f"{excess:.1f}"
