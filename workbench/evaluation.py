"""The one evaluation path: every run, every strategy, every rescore is scored here.

It scores the same utterances twice, raw and normalized, so both can be reported side
by side, and checks the targets a CI job gates on.
"""

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from .bootstrap import BootstrapOptions
from .normalizers import get_normalizer
from .scoring import Scorable, Scorecard, UtteranceScore, score_many

__all__ = ["EvaluationOptions", "Evaluation", "Thresholds", "evaluate", "check_thresholds"]


@dataclass(frozen=True)
class EvaluationOptions:
    normalizer: str = "auto"  # see workbench.normalizers; "raw" is always scored too
    slice_columns: tuple[str, ...] = ()  # columns to break scores down by
    bootstrap: BootstrapOptions = field(default_factory=BootstrapOptions)

    def __post_init__(self) -> None:
        get_normalizer(self.normalizer)  # fail early, quoting the bad name


@dataclass(frozen=True)
class Evaluation:
    normalized: Scorecard
    raw: Scorecard
    # under the normalized scorer; built when first read (a `score` of 100,000 utterances
    # that only reports slices never builds them)
    per_utterance: Sequence[UtteranceScore]
    options: EvaluationOptions


@dataclass(frozen=True)
class Thresholds:
    """Targets in WER percentage points; None means not checked."""

    max_wer: float | None = None  # overall normalized WER
    max_slice_wer: float | None = None  # every slice's normalized WER
    min_slice_utterances: int = 1  # slices smaller than this are not gated (too noisy)

    def __post_init__(self) -> None:
        for name in ("max_wer", "max_slice_wer"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1000:
                raise ValueError(f"{name} is in WER percentage points (0-1000), got {value!r}")

    @property
    def active(self) -> bool:
        return self.max_wer is not None or self.max_slice_wer is not None


def evaluate(utterances: Sequence[Scorable], hypotheses: Mapping[str, str], options: EvaluationOptions) -> Evaluation:
    normalizer = get_normalizer(options.normalizer)
    (normalized, per_utterance), (raw, _) = score_many(
        utterances, hypotheses, [normalizer, get_normalizer("raw")], options.slice_columns, options.bootstrap
    )
    return Evaluation(normalized, raw, per_utterance, options)


def check_thresholds(card: Scorecard, thresholds: Thresholds) -> list[str]:
    """Every missed target, in words, e.g. 'accent=Scottish: WER 31.2% > 15% target'."""
    missed = []
    if thresholds.max_wer is not None and card.overall.wer is not None:
        wer = 100 * card.overall.wer
        if wer > thresholds.max_wer:
            missed.append(f"overall: WER {wer:.2f}% > {thresholds.max_wer:g}% target")
    if thresholds.max_slice_wer is not None:
        for s in card.slices:
            if s.wer is None or s.utterances < thresholds.min_slice_utterances:
                continue
            wer = 100 * s.wer
            if wer > thresholds.max_slice_wer:
                missed.append(f"{s.column}={s.value}: WER {wer:.2f}% > {thresholds.max_slice_wer:g}% slice target")
    return missed
