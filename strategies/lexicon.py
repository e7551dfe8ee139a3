"""Lexicon correction as a post-processing strategy (see `lexicon_correction`); on a run
decoded with n-best lists (`nbest+lexicon`) it rescores them first (`lexicon_rescoring`)."""

from dataclasses import asdict, dataclass

from .lexicon_correction import CorrectionOptions, LexiconCorrector
from .lexicon_rescoring import rescore
from .registry import register


@dataclass(frozen=True)
class LexiconOptions(CorrectionOptions):
    """The correction options, and how an n-best list is rescored when there is one."""

    # Per-token log-probability one more lexicon term is worth. 1.0: a term outweighs
    # any hypothesis within `nbest_max_gap`, so within it the hypothesis with most terms wins.
    nbest_term_weight: float = 1.0
    # How much less likely (log-probability per token) than the decoder's first choice a
    # hypothesis may be and still be chosen.
    nbest_max_gap: float = 0.3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.nbest_term_weight < 0:
            raise ValueError(f"nbest_term_weight must be >= 0, got {self.nbest_term_weight!r}")
        if self.nbest_max_gap < 0:
            raise ValueError(f"nbest_max_gap must be >= 0, got {self.nbest_max_gap!r}")


class LexiconStrategy:
    name = "lexicon"

    def __init__(self, options: LexiconOptions, lexicon):
        if lexicon is None:
            raise ValueError("the lexicon strategy needs a lexicon (--lexicon FILE)")
        self.options = options
        self.corrector = LexiconCorrector(lexicon, options)

    def postprocess(self, text: str, language: str | None) -> tuple[str, list[dict]]:
        """The corrected text and every replacement made, for the audit trail."""
        correction = self.corrector.correct(text, language)
        return correction.text, [asdict(r) for r in correction.replacements]

    def postprocess_hypothesis(self, text: str, language: str | None, extra: dict) -> tuple[str, list[dict]]:
        """As `postprocess`, rescoring the decoder's n-best list first when it kept one."""
        return rescore(self.corrector, text, language, extra.get("nbest"), self.options.nbest_term_weight,
                       self.options.nbest_max_gap)


@register("lexicon", "post", LexiconOptions, cost=1, description="fix domain terms after decoding (fuzzy + phonetic)", needs_lexicon=True)
def make_lexicon(config: LexiconOptions, lexicon=None) -> LexiconStrategy:
    return LexiconStrategy(config, lexicon)
