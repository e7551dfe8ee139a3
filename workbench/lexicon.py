"""The domain lexicon: terms as they should be written, per language, with known mishearings.

A lexicon is a file a domain expert writes by hand, CSV (or TSV/JSONL) or YAML:

    term,language,category,misrecognitions
    metoprolol,en,drug,meta pro law|metaprol
    Blutdruck,de,condition,

    - term: metoprolol
      language: en
      category: drug
      misrecognitions: [meta pro law, metaprol]

Only `term` is required. A term without a language applies to every language; one with
a language applies only to utterances of that language. Bad rows (extra fields, an empty
term, a language code Whisper does not know) are excluded and kept on `Lexicon.problems`
with file, line and field, like the rows of a manifest; an unknown field is a warning.

This module also owns the word-level view of text that lexicon matching shares with term
metrics (`words`, `terms_in`) and the per-language lists of ordinary words
(`common_words`) that protect a transcript from over-correction.
"""

import gzip
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import regex

from .backends.base import language_code
from .dataset import Problem
from .errors import BadInputError
from .tabular import PROBLEM, read_table, read_text

__all__ = [
    "MISRECOGNITION_SEPARATOR",
    "WHISPER_LANGUAGES",
    "Lexicon",
    "Term",
    "common_word_languages",
    "common_words",
    "load_lexicon",
    "term_words",
    "terms_in",
    "words",
]

MISRECOGNITION_SEPARATOR = "|"  # between misrecognitions in one CSV cell
COLUMNS = ("term", "language", "category", "misrecognitions")  # every field a lexicon row has
# The language codes Whisper knows (faster_whisper.tokenizer._LANGUAGE_CODES). A term tagged
# with any other code could never apply to an utterance, so it would vanish silently.
WHISPER_LANGUAGES = frozenset(
    "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha haw he hi hr ht hu hy "
    "id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr ms mt my ne nl nn no oc pa pl ps pt ro ru "
    "sa sd si sk sl sn so sq sr su sv sw ta te tg th tk tl tr tt uk ur uz vi yi yo zh yue".split()
)
YAML_SUFFIXES = (".yaml", ".yml")
COMMON_WORDS_DIR = Path(__file__).parent / "common_words"

# A word is a run of letters, combining marks and digits of any script. Apostrophes and
# hyphens split words ("Alzheimer's" -> alzheimer, s; "Omeh-Prezole" -> omeh, prezole) on
# both sides of every comparison, so a term and a transcript always cut the same way,
# and French/Italian elisions ("l'amoxicilline") expose the term itself.
_WORD = regex.compile(r"[\p{L}\p{M}\p{N}]+")


@dataclass(frozen=True)
class Term:
    """One lexicon entry."""

    text: str  # as it should be written, e.g. "metoprolol"
    language: str | None = None  # Whisper language code ("en"); None = any language
    category: str | None = None  # drug / condition / procedure / ...; free text
    misrecognitions: tuple[str, ...] = ()  # known mishearings, e.g. ("meta pro law",)


@dataclass(frozen=True)
class Lexicon:
    """Valid terms plus every problem met while loading them."""

    terms: tuple[Term, ...]
    source: str = ""  # the file it was loaded from, for messages
    problems: tuple[Problem, ...] = ()  # bad rows (excluded) and warnings (kept)
    rows_read: int = 0  # rows seen in the file, valid or not

    def for_language(self, language: str | None) -> "Lexicon":
        """The terms that apply to an utterance of `language`: its own and the language-less.

        An utterance of unknown language (None) gets only the language-less terms: a
        term written for one language is never forced onto another.
        """
        code = language_code(language)
        return replace(self, terms=tuple(t for t in self.terms if t.language is None or t.language == code))

    def with_misrecognitions(self, extra: Mapping[str, Sequence[str]]) -> "Lexicon":
        """A new lexicon with more known misrecognitions, e.g. those mined from train data.

        Keys are term texts as written; a key naming no term is ignored. A text shared by
        several languages' terms ("paracetamol" in en and es) extends each of them.
        """
        terms = []
        for term in self.terms:
            added = extra.get(term.text, ())
            if isinstance(added, str):  # one misrecognition passed bare
                added = (added,)
            merged = _unique(term.misrecognitions + tuple(added), exclude=term.text)
            terms.append(replace(term, misrecognitions=merged) if merged != term.misrecognitions else term)
        return replace(self, terms=tuple(terms))


# ---------------------------------------------------------------- words


def words(text: str) -> list[tuple[int, int, str]]:
    """(start, end, lower-cased word) for every word of `text`, offsets into `text`."""
    return [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(text)]


def term_words(text: str) -> tuple[str, ...]:
    """A term (or any text) as the word sequence matching compares."""
    return tuple(m.group().lower() for m in _WORD.finditer(text))


def terms_in(text: str, lexicon: Lexicon, language: str | None) -> list[str]:
    """The lexicon terms that occur in `text`, as written in the lexicon, in text order.

    Matching is on words (lower-cased, punctuation ignored), longest term first, and
    occurrences do not overlap: "atrial fibrillation" counts once, not also as
    "fibrillation". Works on raw or normalized text alike.
    """
    by_words: dict[tuple[str, ...], str] = {}
    for term in lexicon.for_language(language).terms:
        key = term_words(term.text)
        if key:
            by_words.setdefault(key, term.text)
    longest = max((len(k) for k in by_words), default=0)
    tokens = term_words(text)
    found, i = [], 0
    while i < len(tokens):
        for n in range(min(longest, len(tokens) - i), 0, -1):
            term = by_words.get(tuple(tokens[i : i + n]))
            if term is not None:
                found.append(term)
                i += n
                break
        else:
            i += 1
    return found


# ---------------------------------------------------------------- common words


def common_word_languages() -> tuple[str, ...]:
    """Languages that ship a common-word list."""
    return tuple(sorted(p.name.split(".")[0] for p in COMMON_WORDS_DIR.glob("*.txt.gz")))


@cache
def _ranked_words(code: str) -> tuple[str, ...]:
    path = COMMON_WORDS_DIR / f"{code}.txt.gz"
    if not path.is_file():
        return ()
    return tuple(w for w in gzip.decompress(path.read_bytes()).decode("utf-8").split("\n") if w)


@cache
def common_words(language: str | None, top: int | None = None) -> frozenset[str]:
    """The ordinary words of a language (about 30,000; `top`: only the most frequent).

    The lists are case-folded (German "ß" is "ss"): look words up with `str.casefold()`.
    A language without a list gets an empty set (no protection). An unknown language
    (None) gets every shipped list at once: the most cautious choice.
    """
    if language is None:
        return frozenset().union(*(common_words(code, top) for code in common_word_languages()))
    ranked = _ranked_words(language_code(language) or "")
    return frozenset(ranked[:top] if top else ranked)


# ---------------------------------------------------------------- loading


def load_lexicon(path) -> Lexicon:
    """Read a lexicon file. Bad rows are excluded and reported; a file with no `term`
    column, or with no valid term at all, is a `BadInputError`."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: no such lexicon file")
    problems: list[Problem] = []
    if path.suffix.lower() in YAML_SUFFIXES:
        rows = _yaml_rows(path)
        first_seen: dict[str, int] = {}  # unknown key -> first line it is on
        for line, row in rows:
            for key in row:
                if key != PROBLEM and key not in COLUMNS:
                    first_seen.setdefault(str(key), line)
        unknown = list(first_seen.items())
    else:
        table = read_table(path)
        if table.header and "term" not in table.header:
            raise BadInputError(f"{path}: no 'term' column (columns: {', '.join(table.header)})")
        rows = table.rows
        unknown = [(column, None) for column in table.header if column not in COLUMNS]
    for key, line in unknown:  # a misspelt column ("misrecognition") would be ignored silently
        problems.append(
            Problem(str(path), line, f"unknown field {key!r} is ignored (a lexicon row has: {', '.join(COLUMNS)})", key, kind="warning")
        )
    terms: list[Term] = []
    seen: dict[tuple[str, str | None], int] = {}  # (term, language) -> index in terms
    for line, row in rows:
        term, problem = _parse_row(str(path), line, row)
        if problem is not None:
            problems.append(problem)
            continue
        key = (term.text, term.language)
        if key in seen:  # the same term twice: one entry, misrecognitions merged
            first = terms[seen[key]]
            terms[seen[key]] = replace(first, misrecognitions=_unique(first.misrecognitions + term.misrecognitions, exclude=first.text))
            problems.append(Problem(str(path), line, "duplicate of an earlier row; misrecognitions merged", "term", kind="warning"))
            continue
        seen[key] = len(terms)
        terms.append(term)
    if not terms:
        errors = [p for p in problems if p.kind == "error"]
        first = f"; first: {errors[0]}" if errors else ""
        raise BadInputError(f"{path}: no valid term ({len(rows)} rows read{first})")
    return Lexicon(tuple(terms), str(path), tuple(problems), len(rows))


def _yaml_rows(path: Path) -> list[tuple[int, dict]]:
    """(line, mapping) per list item; a non-mapping item becomes a problem row."""
    import yaml

    text = read_text(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise BadInputError(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if root is None:
        return []
    if isinstance(root, yaml.MappingNode):  # also accepted: {terms: [...]}
        items = {k.value: v for k, v in root.value if isinstance(k, yaml.ScalarNode)}
        root = items.get("terms", root)
    if not isinstance(root, yaml.SequenceNode):
        raise BadInputError(f"{path}:{root.start_mark.line + 1}: expected a list of terms (mappings with at least 'term')")
    loader = yaml.SafeLoader("")
    rows: list[tuple[int, dict]] = []
    for node in root.value:
        line = node.start_mark.line + 1
        if not isinstance(node, yaml.MappingNode):
            rows.append((line, {PROBLEM: "expected a mapping with at least 'term'"}))
            continue
        rows.append((line, loader.construct_mapping(node, deep=True)))
    return rows


def _parse_row(source: str, line: int, row: dict) -> tuple[Term | None, Problem | None]:
    if PROBLEM in row:
        return None, Problem(source, line, row[PROBLEM])
    raw = row.get("term")
    if raw is not None and not isinstance(raw, str):  # YAML reads `no`, `1e5` as non-text
        return None, Problem(source, line, f"expected text, got {type(raw).__name__} {raw!r} (quote it)", "term")
    text = " ".join((raw or "").split())
    if not term_words(text):
        return None, Problem(source, line, "empty term" if not text else f"no letters or digits in {text!r}", "term")
    language = row.get("language")
    language = str(language).strip() if language not in (None, "") else ""
    code = language_code(language) if language else None
    if code is not None and not regex.fullmatch(r"[a-z]{2,3}", code):
        return None, Problem(source, line, f"not a language code: {language!r} (e.g. en, de, es)", "language")
    if code is not None and code not in WHISPER_LANGUAGES:
        return None, Problem(source, line, f"unknown language code {language!r}: Whisper has no such language, so the term could never apply (e.g. en, de, es)", "language")
    category = row.get("category")
    category = str(category).strip() or None if category not in (None, "") else None
    mis = row.get("misrecognitions")
    if mis in (None, ""):
        mis_list: list = []
    elif isinstance(mis, str):
        mis_list = mis.split(MISRECOGNITION_SEPARATOR)
    elif isinstance(mis, list):
        mis_list = [str(m) for m in mis if m is not None]
    else:
        return None, Problem(source, line, f"expected text or a list, got {type(mis).__name__}", "misrecognitions")
    return Term(text, code, category, _unique(tuple(mis_list), exclude=text)), None


def _unique(items: Iterable[str], exclude: str = "") -> tuple[str, ...]:
    """Whitespace-tidied, non-empty, first occurrence kept; the term itself left out."""
    out: dict[str, None] = {}
    banned = term_words(exclude)
    for item in items:
        item = " ".join(str(item).split())
        if item and term_words(item) and term_words(item) != banned:
            out.setdefault(item, None)
    return tuple(out)
