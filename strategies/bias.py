"""Targeted biasing: decode again, with the domain's terms as hotwords, only the
utterances whose first decoding looks like they hold a term, and only with those terms.

The `prompt` strategy gives every utterance the whole glossary. That helps the
utterances that hold a term and harms the rest: on the demo corpus it made general
speech 2.9 points worse and turned ordinary words into drug names. Here the first pass
is the plain decoding (the baseline run, reused when stored). Each transcript is matched
against the lexicon of its language, more loosely than the correction layer would dare
to replace (`detect_fuzzy`, `detect_phonetic`): a loose match only decides to listen
again, and the acoustic model, now primed with the candidate terms, decides what was
said. An utterance with no candidate keeps its first decoding, untouched, so biasing
cannot invent a term in speech that gave it no reason to, and a no-speech clip (empty
first pass) is never decoded again.

`scope="found"` primes with the candidate terms alone (the default: the fewer the terms,
the less the decoder is pulled towards ones that were not said); `scope="language"` with
every term of the utterance's language, candidates first, within Whisper's prompt budget.
With faster-whisper the terms go in as hotwords, elsewhere as the initial prompt.

Cost: the first pass, plus the second pass of the utterances decoded again (both are
reported beside the gain).
"""

from dataclasses import dataclass
from typing import Literal

from workbench.strategy_api import backend_takes_hotwords, language_code

from .lexicon_correction import CorrectionOptions, LexiconCorrector
from .prompt import PromptBias, PromptConfig
from .registry import register

__all__ = ["BiasConfig", "TargetedBias"]


@dataclass(frozen=True)
class BiasConfig:
    # Looser than the correction layer's 80 / 85: a match here only asks for a second
    # listen, it never writes a term by itself.
    detect_fuzzy: float = 70.0
    detect_phonetic: float = 80.0
    detect_max_span_words: int = 4
    scope: Literal["found", "language"] = "found"
    prefix: str = "Glossary: "
    use_hotwords: bool = True  # with a backend that takes hotwords (faster-whisper); else the prompt
    max_tokens: int = 223  # Whisper keeps at most 223 prompt tokens
    # What the first pass is, in a spec with another decode-time strategy ('bias+nbest'):
    # "plain", the plain decoding (the baseline run), kept as it is where nothing calls for
    # a second listen, so speech without a candidate term is exactly the baseline's; or
    # "rest", the rest of the spec's decoding (the n-best run), kept where not decoded again.
    first_pass: Literal["plain", "rest"] = "plain"

    def __post_init__(self) -> None:
        for name in ("detect_fuzzy", "detect_phonetic"):
            value = getattr(self, name)
            if not 0 < value <= 100:
                raise ValueError(f"{name} must be in (0, 100], got {value!r}")
        if not 0 < self.max_tokens <= 223:
            raise ValueError(f"max_tokens must be in 1..223, got {self.max_tokens!r}")


class TargetedBias:
    name = "bias"
    first_pass = True  # the run path decodes the plain first pass and asks `second_pass` per utterance

    def __init__(self, config: BiasConfig, lexicon):
        if lexicon is None:
            raise ValueError("the bias strategy needs a lexicon (--lexicon FILE)")
        self.config = config
        self.lexicon = lexicon
        self.detector = LexiconCorrector(lexicon, CorrectionOptions(
            max_span_words=config.detect_max_span_words, fuzzy_threshold=config.detect_fuzzy,
            phonetic_threshold=config.detect_phonetic, phonetic_fuzzy_floor=min(60.0, config.detect_fuzzy)))
        self.glossary = PromptBias(PromptConfig(config.max_tokens, config.prefix, config.use_hotwords), lexicon)

    def candidates(self, text: str, language: str | None) -> tuple[str, ...]:
        """The terms the first-pass `text` may hold: written out, or loosely matched."""
        found = self.detector.terms_in(text, language)
        found += tuple(r.term for r in self.detector.correct(text, language).replacements)
        return tuple(dict.fromkeys(found))

    def second_pass(self, language: str | None, backend: str, text: str, extra: dict) -> dict | None:
        """The fields to decode this utterance again with, or None to keep its first pass."""
        if not text.strip():
            return None  # nothing heard: nothing to bias (no-speech clips stay empty)
        found = self.candidates(text, language)
        if not found:
            return None
        terms = list(found)
        if self.config.scope == "language":
            code = language_code(language)
            terms += [t.text for t in self.lexicon.terms if (not t.language or language_code(t.language) == code)]
        glossary = self.glossary.fit(list(dict.fromkeys(terms)))
        if self.config.use_hotwords and backend_takes_hotwords(backend):
            return {"hotwords": glossary}
        return {"prompt": glossary}

    def decode_overrides(self, language: str | None, backend: str) -> dict:
        """Without a first pass (never, in the run path): the language's glossary."""
        return self.glossary.decode_overrides(language, backend)


@register("bias", "decode", BiasConfig, cost=3, needs_lexicon=True,
          description="decode again with hotwords only where the first pass suggests a domain term")
def make_bias(config: BiasConfig, lexicon=None) -> TargetedBias:
    return TargetedBias(config, lexicon)
