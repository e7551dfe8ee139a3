"""Named, versioned text normalizers: every score says which one produced it.

- `raw@1`: Unicode NFC and whitespace only; casing and punctuation count as errors.
- `whisper-english@1`: openai-whisper's `EnglishTextNormalizer` (spelling, contractions,
  numbers to digits), plus standalone "one" -> "1", which Whisper leaves as a word, so
  that digits and number words always score as equal ("7" = "seven", "21" = "twenty one",
  "1" = "one").
- `multilingual@1`: lower-case, punctuation and symbols removed, but every letter and
  combining mark of every script kept. Whisper's `BasicTextNormalizer` strips combining
  marks (the vowel signs of Devanagari and other Brahmic scripts), which makes
  different words equal and fakes a low WER; this one does not.
- `auto@1`: per utterance, `whisper-english` when its language is English, else
  `multilingual`.

A normalizer's version changes whenever its output can change, so a stored score can
always be compared with one computed later, or recomputed.
"""

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

__all__ = ["Normalizer", "get_normalizer", "available_normalizers", "is_english", "normalize_many", "warm_up"]


@dataclass(frozen=True)
class Normalizer:
    name: str
    version: str
    description: str
    _apply: Callable[[str, str | None], str]

    @property
    def id(self) -> str:
        """What is stamped on every score: name@version."""
        return f"{self.name}@{self.version}"

    def __call__(self, text: str, language: str | None = None) -> str:
        return self._apply(text, language)


_SPACES = re.compile(r"\s+")
_ANNOTATIONS = re.compile(r"[<\[][^>\]]*[>\]]")  # [noise], <unk>: markup, not speech


def _collapse(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def raw(text: str, language: str | None = None) -> str:
    return _collapse(unicodedata.normalize("NFC", text))


def multilingual(text: str, language: str | None = None) -> str:
    # NFKC folds width and compatibility forms (full-width digits, ligatures) but keeps
    # combining marks, unlike NFKD + stripping Mn, which is what erases vowel signs.
    text = unicodedata.normalize("NFKC", text)
    text = _ANNOTATIONS.sub(" ", text)
    # lower(), not casefold(): casefold turns German ß into ss, which no writer intends.
    return _collapse(text.lower().translate(_MULTILINGUAL_TABLE))


class _CharacterTable(dict):
    """code point -> what `multilingual` makes of the character, filled as characters are
    met (the rule depends on the character alone), for `str.translate`."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        category = unicodedata.category(ch)
        if category[0] in "LMN":  # letters, combining marks, digits of every script
            out = ch
        elif category == "Cf":  # zero-width joiners and marks: invisible, dropped
            out = ""
        else:  # punctuation, symbols, separators: word boundaries
            out = " "
        self[code] = out
        return out


_MULTILINGUAL_TABLE = _CharacterTable()


def _whisper_normalizers_module():
    """openai-whisper's `normalizers` subpackage, without importing `whisper` itself.

    `import whisper.normalizers` runs `whisper/__init__.py`, which imports torch and the
    model code: over a second of start-up for a pure-text function, in every CLI call and
    every worker. The subpackage has no such dependency, so it is loaded from the
    installed package's files under a private name. The code run is Whisper's own.
    """
    import sys

    if "whisper.normalizers" in sys.modules:  # already paid for: use it
        return sys.modules["whisper.normalizers"]
    name = "_workbench_whisper_normalizers"
    if name in sys.modules:
        return sys.modules[name]
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("whisper")  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("openai-whisper is not installed (pip install openai-whisper)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "normalizers"
    sub = importlib.util.spec_from_file_location(name, folder / "__init__.py", submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(sub)
    sys.modules[name] = module
    try:
        sub.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


@lru_cache(maxsize=1)
def _whisper_english():
    return _whisper_normalizers_module().EnglishTextNormalizer()


@lru_cache(maxsize=1)
def _english():
    """Whisper's English normalizer, through `english_normalizer.fast_english`: the same
    output, a third of the time."""
    from .english_normalizer import fast_english

    return fast_english(_whisper_english())


_LONE_ONE = re.compile(r"(?<!\S)one(?!\S)")


def whisper_english(text: str, language: str | None = None) -> str:
    text = _english()(text)
    # Whisper keeps a lone "one" as a word (it is often a pronoun); map it to "1" on both
    # sides so "1" and "one" agree like every other digit and number word do.
    return _collapse(_LONE_ONE.sub("1", text))


def is_english(language: str | None) -> bool:
    if not language:
        return False
    code = re.split(r"[-_ ]", language.strip().lower(), maxsplit=1)[0]
    return code in ("en", "eng", "english")


def auto(text: str, language: str | None = None) -> str:
    return whisper_english(text) if is_english(language) else multilingual(text)


def _whisper_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("openai-whisper")
    except PackageNotFoundError:
        return "unknown"


_REGISTRY: dict[str, Normalizer] = {}


def _register(normalizer: Normalizer) -> None:
    if normalizer.name in _REGISTRY:
        raise ValueError(f"normalizer {normalizer.name!r} is already registered")
    _REGISTRY[normalizer.name] = normalizer


_register(Normalizer("raw", "1", "NFC and whitespace only: casing and punctuation are errors", raw))
_register(
    Normalizer(
        "whisper-english",
        "1",
        "openai-whisper EnglishTextNormalizer, digits = number words (incl. one = 1)",
        whisper_english,
    )
)
_register(Normalizer("multilingual", "1", "lower-case, no punctuation/symbols, all letters and combining marks kept", multilingual))
_register(Normalizer("auto", "1", "whisper-english@1 for English utterances, multilingual@1 otherwise", auto))


def available_normalizers() -> tuple[Normalizer, ...]:
    return tuple(_REGISTRY.values())


def get_normalizer(name: str) -> Normalizer:
    """Look up by name ("auto") or by id ("auto@1"); an id must match the version."""
    base, _, wanted = name.partition("@")
    try:
        normalizer = _REGISTRY[base]
    except KeyError:
        raise ValueError(f"unknown normalizer {name!r} (available: {', '.join(_REGISTRY)})") from None
    if wanted and wanted != normalizer.version:
        raise ValueError(f"normalizer {name!r}: only version {normalizer.version} is available")
    return normalizer


# Whisper's English normalizer costs ~60 µs a string (after `english_normalizer`'s
# shortcuts; ~200 µs without), the largest part of scoring a big test set. Above this
# many strings, and only where it is safe, the work is split across forked processes.
PARALLEL_MIN_TEXTS = 4000


def warm_up(normalizers) -> None:
    """Build what the normalizers load lazily (Whisper's English normalizer), so forked
    workers inherit it instead of each building it again."""
    if any(n.name in ("whisper-english", "auto") for n in normalizers):
        _english()


def _normalize_range(shared, start: int, stop: int) -> list[str]:
    normalizer, texts, languages = shared
    return _normalize_distinct(normalizer, texts[start:stop], languages[start:stop])


def _normalize_distinct(normalizer: Normalizer, texts, languages) -> list[str]:
    """Each distinct (text, language) normalized once: a hypothesis identical to its
    reference, or a repeated prompt, costs a dictionary lookup."""
    seen: dict[tuple[str, str | None], str] = {}
    out = []
    for text, language in zip(texts, languages):
        key = (text, language)
        value = seen.get(key)
        if value is None:
            value = seen[key] = normalizer(text, language)
        out.append(value)
    return out


def normalize_many(normalizer: Normalizer, texts: list[str], languages: list[str | None]) -> list[str]:
    """`[normalizer(t, lang) ...]`, in forked workers for large inputs (`workbench.parallel`:
    never inside a threaded host, such as the TUI's workers). The result is the same either way."""
    from .parallel import can_fork, chunk_ranges, fork_map, usable_cpus

    if len(texts) < PARALLEL_MIN_TEXTS or normalizer.name == "raw" or not can_fork():
        return _normalize_distinct(normalizer, texts, languages)
    warm_up([normalizer])
    workers = min(usable_cpus(), 8)
    parts = fork_map(_normalize_range, (normalizer, list(texts), list(languages)), chunk_ranges(len(texts), 4 * workers), workers)
    return [t for part in parts for t in part]
