"""openai-whisper's English text normalizer, three times faster, with the same output.

Whisper's `EnglishTextNormalizer` costs ~0.2 ms a string: some 60 `re.sub` calls
(looked up by pattern text each time), a Python generator over every character to strip
symbols and diacritics, and its number normalizer, a word-by-word state machine. On
100,000 references and 100,000 hypotheses that is most of a `workbench score`.

`fast_english(whisper_normalizer)` runs the SAME steps, in the same order, with the same
patterns and replacements, taken from Whisper's own objects, and only skips work that
cannot change the text:

- every pattern is compiled once, and a substitution whose pattern needs a literal
  (`won't`, `'s been`, `(`, `,`) is skipped when the text does not contain it;
- symbols and diacritics are mapped by `str.translate` with a table filled, one
  character at a time, by Whisper's own rule (the rule depends on the character alone);
- in a text with no digit and no "half", the number normalizer's preprocessing changes
  nothing, and a word outside its number vocabulary (read from Whisper's object) passes
  its word-by-word state machine unchanged and leaves the machine reset (no value, no
  prefix, nothing to skip: every branch that carries state on looks ahead to a number
  word). So only the runs of number words are sent through Whisper's own
  `process_words`, each as a sentence of its own, and a text without any (other than
  "and") is just its words joined by single spaces. Anything else goes through
  Whisper's number normalizer itself.

Those shortcuts are exact for the Whisper source they were written against. The source
of every function they stand in for is hashed at start-up, and when any of them differs
(another openai-whisper release), Whisper's own normalizer is used unchanged: the
output can never depend on which path ran.
"""

import hashlib
import inspect
import re
import sys
import unicodedata
from typing import Callable

__all__ = ["fast_english", "WHISPER_SOURCE_DIGEST"]

# sha256 over the source of the Whisper functions the shortcuts stand in for (see
# `_source_digest`), as in openai-whisper 20250625, the release they were checked against.
WHISPER_SOURCE_DIGEST = "81e7f3bddda01d383088b387ecf9636f49fd77d6ce1d4493117e4b94e68c5256"

_META = set(".^$*+?{}[]|()\\")
_DIGIT = re.compile(r"\d")


def _source_digest(english_module, basic_module) -> str | None:
    numbers = english_module.EnglishNumberNormalizer
    functions = (
        english_module.EnglishTextNormalizer.__call__,
        basic_module.remove_symbols_and_diacritics,
        numbers.__init__,
        numbers.__call__,
        numbers.preprocess,
        numbers.postprocess,
        numbers.process_words,
    )
    digest = hashlib.sha256()
    try:
        for function in functions:
            digest.update(inspect.getsource(function).encode("utf-8"))
    except (OSError, TypeError):  # no source (a frozen or compiled install): no shortcuts
        return None
    return digest.hexdigest()


def _literal(pattern: str) -> str | None:
    """The text a pattern matches when it is a literal between word boundaries, else None."""
    literal = pattern.replace(r"\b", "")
    return None if not literal or set(literal) & _META else literal


class _SymbolTable(dict):
    """code point -> what Whisper's `remove_symbols_and_diacritics(s, keep)` makes of it."""

    def __init__(self, keep: str, diacritics: dict[str, str]):
        super().__init__()
        self.keep, self.diacritics = keep, diacritics

    def __missing__(self, code: int) -> str:
        c = chr(code)
        if c in self.keep:
            out = c
        elif c in self.diacritics:
            out = self.diacritics[c]
        elif unicodedata.category(c) == "Mn":
            out = ""
        elif unicodedata.category(c)[0] in "MSP":
            out = " "
        else:
            out = c
        self[code] = out
        return out


def fast_english(whisper_normalizer) -> Callable[[str], str]:
    """A function with `whisper_normalizer`'s output (an `EnglishTextNormalizer`), faster
    where its source is the one the shortcuts were checked against, else the object itself."""
    english = sys.modules.get(type(whisper_normalizer).__module__)
    basic = sys.modules.get(english.__name__.rsplit(".", 1)[0] + ".basic") if english else None
    if english is None or basic is None or _source_digest(english, basic) != WHISPER_SOURCE_DIGEST:
        return whisper_normalizer
    w = whisper_normalizer
    replacers = [(re.compile(p), r, _literal(p)) for p, r in w.replacers.items()]
    brackets, parentheses = re.compile(r"[<\[][^>\]]*[>\]]"), re.compile(r"\(([^)]+?)\)")
    ignore, apostrophe = re.compile(w.ignore_patterns), re.compile(r"\s+'")
    digit_commas, periods = re.compile(r"(\d),(\d)"), re.compile(r"\.([^0-9]|$)")
    symbols, percent, spaces = re.compile(r"[.$¢€£]([^0-9])"), re.compile(r"([^0-9])%"), re.compile(r"\s+")
    table = _SymbolTable(".%$¢€£", basic.ADDITIONAL_DIACRITICS)
    # Every match of Whisper's filler pattern contains one of these (hmm, mm, mmm: "mm";
    # mhm: "mh"; uh; um); for another pattern, no shortcut.
    fillers = ("mm", "mh", "uh", "um") if w.ignore_patterns == r"\b(hmm|mm|mhm|mmm|uh|um)\b" else ("",)
    numbers, spellings = w.standardize_numbers, w.standardize_spellings
    vocabulary = frozenset(numbers.words)
    number_words = vocabulary - {"and"}
    process_words, postprocess = numbers.process_words, numbers.postprocess

    def standardize_numbers(s: str) -> str:
        if _DIGIT.search(s) is not None or "half" in s:
            return numbers(s)
        # No digit and no "half": Whisper's preprocessing changes nothing but blank text,
        # and every word outside its number vocabulary passes its state machine unchanged
        # and leaves it reset, so each run of number words between such words is processed
        # on its own, as a sentence of its own would be.
        words = s.split()
        if number_words.isdisjoint(words):
            return " ".join(words)
        out: list[str] = []
        run: list[str] = []
        for word in words:
            if word in vocabulary:
                run.append(word)
                continue
            if run:
                out.extend(x for x in process_words(run) if x is not None)
                run = []
            out.append(word)
        if run:
            out.extend(x for x in process_words(run) if x is not None)
        return postprocess(" ".join(out))

    def normalize(s: str) -> str:
        # Whisper's EnglishTextNormalizer.__call__, step by step.
        s = s.lower()
        if "<" in s or "[" in s:
            s = brackets.sub("", s)  # remove words between brackets
        if "(" in s:
            s = parentheses.sub("", s)  # remove words between parenthesis
        if any(f in s for f in fillers):
            s = ignore.sub("", s)
        if "'" in s:
            s = apostrophe.sub("'", s)  # when there's a space before an apostrophe
        for pattern, replacement, literal in replacers:
            if literal is None or literal in s:
                s = pattern.sub(replacement, s)
        if "," in s:
            s = digit_commas.sub(r"\1\2", s)  # remove commas between digits
        if "." in s:
            s = periods.sub(r" \1", s)  # remove periods not followed by numbers
        s = unicodedata.normalize("NFKD", s).translate(table)  # keep numeric symbols
        s = standardize_numbers(s)
        s = spellings(s)
        if "." in s or "$" in s or "¢" in s or "€" in s or "£" in s:
            s = symbols.sub(r" \1", s)  # prefix/suffix symbols not preceded/followed by numbers
        if "%" in s:
            s = percent.sub(r"\1 ", s)
        return spaces.sub(" ", s)  # replace any successive whitespaces with a space

    return normalize
