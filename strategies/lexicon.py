"""Lexicon correction as a post-processing strategy (see `lexicon_correction`)."""

from dataclasses import asdict

from .lexicon_correction import CorrectionOptions, LexiconCorrector
from .registry import register


class LexiconStrategy:
    name = "lexicon"

    def __init__(self, options: CorrectionOptions, lexicon):
        if lexicon is None:
            raise ValueError("the lexicon strategy needs a lexicon (--lexicon FILE)")
        self.corrector = LexiconCorrector(lexicon, options)

    def postprocess(self, text: str, language: str | None) -> tuple[str, list[dict]]:
        """The corrected text and every replacement made, for the audit trail."""
        correction = self.corrector.correct(text, language)
        return correction.text, [asdict(r) for r in correction.replacements]


@register("lexicon", "post", CorrectionOptions, cost=1, description="fix domain terms after decoding (fuzzy + phonetic)", needs_lexicon=True)
def make_lexicon(config: CorrectionOptions, lexicon=None) -> LexiconStrategy:
    return LexiconStrategy(config, lexicon)
