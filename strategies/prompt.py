"""Prompt biasing: Whisper's initial prompt (or faster-whisper's hotwords) from the lexicon.

Whisper reads the prompt as text that came before the utterance, so spelling a domain's
terms there makes the decoder likelier to write them. The prompt holds the terms of the
utterance's language first, then language-neutral ones, within Whisper's prompt budget
(the decoder keeps at most 223 prompt tokens). Prompts also make Whisper write text on
silence more often; the no-speech clips measure exactly that.
"""

from dataclasses import dataclass
from functools import lru_cache

from workbench.strategy_api import backend_takes_hotwords, language_code

from .registry import register

__all__ = ["PromptConfig", "PromptBias"]


@dataclass(frozen=True)
class PromptConfig:
    max_tokens: int = 223  # Whisper keeps the last n_text_ctx // 2 - 1 prompt tokens
    prefix: str = "Glossary: "  # reads as text, which is what the decoder was trained on
    use_hotwords: bool = True  # with a backend that takes hotwords (faster-whisper), pass the terms as hotwords instead

    def __post_init__(self) -> None:
        if not 0 < self.max_tokens <= 223:
            raise ValueError(f"max_tokens must be in 1..223, got {self.max_tokens!r}")


@lru_cache(maxsize=1)
def _encoding():
    # The multilingual Whisper vocabulary; English-only models tokenize English the same
    # or shorter, so a prompt that fits here fits there.
    from whisper.tokenizer import get_encoding

    return get_encoding("multilingual")


class PromptBias:
    name = "prompt"

    def __init__(self, config: PromptConfig, lexicon):
        if lexicon is None:
            raise ValueError("the prompt strategy needs a lexicon (--lexicon FILE)")
        self.config = config
        self.lexicon = lexicon
        self._cache: dict[str | None, str] = {}

    def prompt_for(self, language: str | None) -> str:
        """The prompt for utterances of this language (cached per language)."""
        if language not in self._cache:
            self._cache[language] = self._build(language)
        return self._cache[language]

    def _build(self, language: str | None) -> str:
        code = language_code(language)
        own = [t.text for t in self.lexicon.terms if t.language and language_code(t.language) == code]
        neutral = [t.text for t in self.lexicon.terms if not t.language]
        return self.fit(own + neutral)

    def fit(self, terms: list[str]) -> str:
        """'Glossary: a, b, c.' with as many of `terms` (in order, once each) as fit the budget."""
        chosen: list[str] = []
        encoding = _encoding()
        for term in dict.fromkeys(terms):  # keep order, drop duplicates
            candidate = self.config.prefix + ", ".join(chosen + [term]) + "."
            if len(encoding.encode(candidate)) > self.config.max_tokens:
                break
            chosen.append(term)
        return self.config.prefix + ", ".join(chosen) + "." if chosen else ""

    def decode_overrides(self, language: str | None, backend: str) -> dict:
        """Per-utterance decoding options: hotwords for faster-whisper, else the prompt."""
        text = self.prompt_for(language)
        if not text:
            return {}
        if self.config.use_hotwords and backend_takes_hotwords(backend):
            return {"hotwords": text}
        return {"prompt": text}


@register("prompt", "decode", PromptConfig, cost=2, description="decoder prompt / hotwords built from the lexicon", needs_lexicon=True)
def make_prompt(config: PromptConfig, lexicon=None) -> PromptBias:
    return PromptBias(config, lexicon)
