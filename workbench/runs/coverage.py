"""What WER covers: one rule for every command, stated in every output.

WER and CER are computed over SPEECH utterances that HAVE a hypothesis. Everything else
is counted and shown on its own, never folded into WER and never dropped silently:

- no-speech clips (the `no_speech` column, or an empty reference): any words there are
  hallucinations, reported as such;
- failed decodes (the audio could not be read or decoded): excluded, with the reason;
- missing hypotheses (a hypotheses file without this utterance, an unparsable row, a run
  stopped before it got there): excluded, counted.
"""

from dataclasses import dataclass
from typing import Iterable, Sequence

from ..dataset import is_true

__all__ = ["COVERAGE_RULE", "Coverage", "partition", "is_no_speech"]

COVERAGE_RULE = (
    "WER covers speech utterances with a hypothesis; no-speech clips (hallucinations), failed decodes "
    "and missing hypotheses are counted separately"
)


def is_no_speech(item) -> bool:
    """A clip with no speech: flagged in the manifest, or with an empty reference."""
    return is_true(item.slices.get("no_speech", "")) or not item.reference.strip()


@dataclass(frozen=True)
class Coverage:
    speech: tuple  # stored hypotheses scored for WER/CER
    no_speech: tuple  # no-speech clips with a hypothesis (hallucination is measured on these)
    failed: tuple[tuple[str, str], ...]  # (utterance id, why) of clips that could not be decoded
    missing: tuple[str, ...]  # utterance ids expected but without a hypothesis

    def to_dict(self) -> dict:
        return {
            "rule": COVERAGE_RULE,
            "speech_scored": len(self.speech),
            "no_speech_clips": len(self.no_speech),
            "failed": len(self.failed),
            "missing": len(self.missing),
            "failed_examples": [f"{i}: {why}" for i, why in self.failed[:20]],
            "missing_examples": list(self.missing[:20]),
        }

    def describe(self) -> str:
        """One line: what was scored and what was not."""
        parts = [f"{len(self.speech)} speech utterances scored"]
        if self.no_speech:
            parts.append(f"{len(self.no_speech)} no-speech clips (hallucination only)")
        if self.failed:
            parts.append(f"{len(self.failed)} failed decodes excluded")
        if self.missing:
            parts.append(f"{len(self.missing)} without a hypothesis excluded")
        return "; ".join(parts)


def partition(hypotheses: Iterable, expected_ids: Sequence[str] | None = None) -> Coverage:
    """Split stored hypotheses by the rule above. `expected_ids`: the utterances the run was
    meant to cover (ids with no stored row count as missing); None = exactly those stored."""
    stored = {h.utterance_id: h for h in hypotheses}
    order = list(expected_ids) if expected_ids is not None else list(stored)
    speech, silent, failed, missing = [], [], [], []
    for utt_id in order:
        h = stored.get(utt_id)
        extra = (h.extra or {}) if h is not None else {}
        if h is None or extra.get("missing"):
            missing.append(utt_id)
        elif "error" in extra:
            failed.append((utt_id, str(extra["error"])))
        elif is_no_speech(h):
            silent.append(h)
        else:
            speech.append(h)
    return Coverage(tuple(speech), tuple(silent), tuple(failed), tuple(missing))
