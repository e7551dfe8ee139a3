"""workbench_wer: the workbench's normalized WER and CER as a Hugging Face `evaluate` metric.

Nothing is recomputed here in a way of its own: texts go through the named, versioned
normalizers of `workbench.normalizers`, are aligned and summed by `workbench.scoring`
(corpus-level: all errors over all reference words, not a mean of per-utterance rates),
and the coverage rule of `workbench.runs.coverage` decides what WER covers (a row whose
reference is empty is a no-speech clip: counted, not scored). So the figure equals the
one `workbench score` or `workbench bench` reports for the same hypotheses.

`evaluate.load` copies this file into its modules cache and imports it from there, so
it imports the workbench by absolute name (the installed package), never relatively.
"""

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import datasets
import evaluate
from workbench.bootstrap import BootstrapOptions
from workbench.normalizers import get_normalizer
from workbench.runs.coverage import is_no_speech
from workbench.scoring import score

_DESCRIPTION = """\
Word and character error rate exactly as whisper-workbench scores them: each text goes
through a named, versioned normalizer (`auto@1` by default: Whisper's English normalizer,
with digits equal to number words, for English rows; a script-preserving multilingual
normalizer for the others; `raw@1` counts casing and punctuation), each pair is aligned
once with jiwer, and the rates are corpus-level (all errors over all reference words).
Rows with an empty reference are no-speech clips: they are counted, never scored.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): the hypotheses.
    references (list of str): the reference transcripts, one per prediction.
    language (str or list of str, optional): the language of every row, or one per row
        (ISO code or name); `auto` normalizes English rows with Whisper's English
        normalizer and the others with the multilingual one. Default: none (multilingual).
    normalizer (str, optional): a normalizer name or id (`auto`, `whisper-english`,
        `multilingual`, `raw`, or e.g. `auto@1`); default: the config name, else `auto`.
Returns:
    wer (float or None): word error rate, a fraction (None when no row has reference words),
    cer (float or None): character error rate, a fraction,
    normalizer (str): the normalizer id that produced them, e.g. "auto@1",
    utterances (int): rows scored; no_speech (int): rows left out for an empty reference,
    ref_words, substitutions, deletions, insertions, ref_chars, char_errors (int): the counts.
Examples:
    >>> wer = evaluate.load("path/to/workbench/metrics/workbench_wer")
    >>> wer.compute(predictions=["seven days"], references=["7 days."], language="en")["wer"]
    0.0
"""

_CITATION = """\
@misc{whisper-workbench,
  title = {whisper-workbench: adapting and evaluating Whisper on held-out speech},
  note = {normalized WER/CER metric: workbench/metrics/workbench_wer}
}
"""


@dataclass(frozen=True)
class _Row:
    """What workbench scoring needs of an utterance (`workbench.scoring.Scorable`)."""

    id: str  # the row's position: ids only key the alignment here
    reference: str
    language: str | None
    slices: Mapping[str, str] = field(default_factory=dict)  # none: one overall figure


def _languages(language, n: int) -> Sequence[str | None]:
    if language is None or isinstance(language, str):
        return [language] * n
    languages = list(language)
    if len(languages) != n:
        raise ValueError(f"language: expected one per row ({n}), got {len(languages)}")
    return languages


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class WorkbenchWER(evaluate.Metric):
    """Normalized corpus-level WER and CER, by the workbench's own scoring code."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string", id="sequence"), "references": datasets.Value("string", id="sequence")}
            ),
            codebase_urls=["https://github.com/jitsi/jiwer"],
            reference_urls=["https://en.wikipedia.org/wiki/Word_error_rate"],
        )

    def _normalizer_name(self, normalizer: str | None) -> str:
        if normalizer:
            return normalizer
        return "auto" if self.config_name in (None, "", "default") else self.config_name

    def _compute(self, predictions, references, language=None, normalizer=None):
        chosen = get_normalizer(self._normalizer_name(normalizer))  # a ValueError quotes a bad name
        languages = _languages(language, len(references))
        rows = [_Row(str(i), ref or "", lang) for i, (ref, lang) in enumerate(zip(references, languages))]
        speech = [r for r in rows if not is_no_speech(r)]
        hypotheses = {str(i): hyp or "" for i, hyp in enumerate(predictions)}
        out = {"wer": None, "cer": None, "normalizer": chosen.id, "utterances": len(speech),
               "no_speech": len(rows) - len(speech), "ref_words": 0, "substitutions": 0, "deletions": 0,
               "insertions": 0, "ref_chars": 0, "char_errors": 0}
        if not speech:
            return out
        # No bootstrap: the point estimates are all a metric returns (intervals need ids).
        card, _ = score(speech, hypotheses, chosen, (), BootstrapOptions(resamples=0))
        overall = card.overall
        out.update(wer=overall.wer, cer=overall.cer, ref_words=overall.ref_words,
                   substitutions=overall.substitutions, deletions=overall.deletions,
                   insertions=overall.insertions, ref_chars=overall.ref_chars, char_errors=overall.char_errors)
        return out
