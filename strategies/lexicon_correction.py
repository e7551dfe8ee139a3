"""Lexicon correction: find spans of a transcript that are mishearings of lexicon terms, fix them.

For every span of 1 to `max_span_words` words, three tests, strongest first:

- **misrecognition**: the span is a known mishearing listed in the lexicon (or mined
  from train data): replaced whatever it is, ordinary words included;
- **fuzzy**: rapidfuzz's `ratio` between the span and the term, lower-cased, without
  punctuation or spaces ("a moxicilina" = "amoxicilina"), is at least `fuzzy_threshold`;
- **phonetic**: the same ratio between compact sound keys (`phonetic_key`) is at least
  `phonetic_threshold`, and the plain ratio is not below `phonetic_fuzzy_floor`, so
  "hydro clora thigh a side" still finds "hydrochlorothiazide".

Guards against over-correction: a span made only of ordinary words of the utterance's
language (`workbench.lexicon.common_words`) is never fuzzed; a span that already is a
lexicon term is never touched; terms shorter than `min_term_chars` are only replaced
as listed misrecognitions; spans do not cross sentence punctuation or contain numbers;
overlapping candidates resolve to the best one. Only the matched characters change:
punctuation and casing around them stay as they were. Every replacement is recorded.

Speed: ordinary words are skipped at the cost of a dict lookup; the rest are compared
only with terms that share most of their first consonant sounds (`_lookups`) and
have a length that can still reach the threshold (`rapidfuzz.process` with `score_cutoff`), and every
span's result is cached. `benchmarks/bench_lexicon.py` measures it.

Learning from the train part: `mine_misrecognitions` aligns references with baseline
hypotheses and returns what each lexicon term was heard as; `suggest_terms` lists the
reference words the model keeps getting wrong that the lexicon lacks.
"""

import bisect
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations

import jiwer
from rapidfuzz import fuzz, process

from workbench.strategy_api import Lexicon, Term, common_words, language_code, term_words, words

__all__ = [
    "Correction",
    "CorrectionOptions",
    "LexiconCorrector",
    "Replacement",
    "mine_misrecognitions",
    "phonetic_key",
    "suggest_terms",
]


@dataclass(frozen=True)
class CorrectionOptions:
    """How eagerly spans are replaced. Scores are rapidfuzz ratios, 0-100."""

    max_span_words: int = 4  # longest span compared with a term, in words of 3+ letters
    # 80: one wrong letter in five. Below it, ordinary rare words start to look like
    # drug names; mishearings that far off are left to the phonetic test.
    fuzzy_threshold: float = 80.0
    # 85 on sound keys, which already merge what sounds alike (c/k/qu, ph/f, z/s, vowels).
    phonetic_threshold: float = 85.0
    # The phonetic test also needs this much plain similarity: keys are lossy, and two
    # words with one key can still be unrelated.
    phonetic_fuzzy_floor: float = 60.0
    min_term_chars: int = 6  # shorter terms (letters, no spaces) are only replaced as listed misrecognitions
    # A span made only of ordinary words of the language is not replaced unless it is a
    # listed misrecognition.
    protect_common_words: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.max_span_words <= 8:
            raise ValueError(f"max_span_words must be between 1 and 8, got {self.max_span_words!r}")
        for name in ("fuzzy_threshold", "phonetic_threshold", "phonetic_fuzzy_floor"):
            value = getattr(self, name)
            if not 0 < value <= 100:
                raise ValueError(f"{name} must be in (0, 100], got {value!r}")
        if self.min_term_chars < 1:
            raise ValueError(f"min_term_chars must be at least 1, got {self.min_term_chars!r}")


@dataclass(frozen=True)
class Replacement:
    """One change made to a transcript, for the audit trail."""

    start: int  # character offset of the replaced span in the ORIGINAL hypothesis
    end: int  # end offset (exclusive) in the original hypothesis
    original: str  # the replaced characters, e.g. "amixic sillon"
    replacement: str  # what they became, e.g. "amoxicillin"
    term: str  # the lexicon term, as written in the lexicon
    # misrecognition: 100; fuzzy / phonetic: the mean of the plain and the sound-key
    # ratios, the figure overlapping candidates are ranked by
    score: float
    method: str  # "misrecognition" | "fuzzy" | "phonetic"


@dataclass(frozen=True)
class Correction:
    text: str  # the corrected hypothesis
    replacements: tuple[Replacement, ...] = ()  # in text order


# ---------------------------------------------------------------- sound keys

# Letters that NFKD does not split into a base letter plus a mark, and ç, which it
# would turn into a hard c.
_FOLD = str.maketrans({"ç": "s", "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "ł": "l", "ı": "i"})
_LATIN = re.compile(r"[a-z0-9]+")
# Spelling -> sound, in one pass (leftmost match, first alternative wins, so "sch" and
# "ch" go before "c"). One rule set for the Latin-script languages Whisper writes: it
# aims at what a mishearing keeps (consonant skeleton, roughly where the vowels are), not
# at a faithful pronunciation of any one language.
_SOUNDS = {
    "ph": "f",
    "gh": "",  # thigh, night: silent before a consonant or at the end
    "sch": "s",
    "sh": "s",
    "ch": "k",  # chloro, chole: Greek ch is k in medical words
    "ck": "k",
    "qu": "k",
    "q": "k",
    "th": "t",
    "ce": "se",
    "ci": "si",
    "cy": "sy",
    "c": "k",
    "x": "ks",
    "h": "",
}
_SPELLING = re.compile(r"ph|gh(?![aeiouy])|sch|sh|ch|ck|qu|q|th|c[eiy]|c|x|h|^y(?=[aeiou])")


def _sound(match: re.Match) -> str:
    text = match.group()
    return _SOUNDS.get(text, "j")  # only word-initial y before a vowel is not listed


# Voicing pairs merge (b/p, d/t, g/k, v/f, z/s): the commonest confusions, and the ones
# accents shift. Vowels are all one symbol: which vowel is the least reliable part.
_CLASSES = str.maketrans("aeiouybpdtgkvfzswjmnlr", "aaaaaappttkkffssfjmnlr")
# A letter followed by the same letter is dropped: runs collapse to one ("ll" -> "l"). A
# literal replacement, since a template ("\\1") is expanded in Python on every match.
_RUNS = re.compile(r"(.)(?=\1)")


def phonetic_key(word: str) -> str:
    """A compact sound key of one lower-cased word: "hydrochlorothiazide" -> "atraklaratasata".

    Latin-script words only; a word of another script is its own key, so the phonetic
    test falls back to plain similarity there.
    """
    folded = unicodedata.normalize("NFKD", word.lower().translate(_FOLD))
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    if not _LATIN.fullmatch(folded):
        return word
    return _RUNS.sub("", _SPELLING.sub(_sound, folded).translate(_CLASSES))


def _span_key(keys: Sequence[str]) -> str:
    return _RUNS.sub("", "".join(keys))


def _consonants(key: str, n: int = 4) -> list[str]:
    """The first n distinct consonant sounds of a key, in order ("a" is every vowel)."""
    return list(dict.fromkeys(key.replace("a", "")))[:n]


def _subsets(items: list[str], size: int) -> list[str]:
    return ["".join(c) for c in combinations(items, size)]


def _term_buckets(key: str) -> tuple[str, ...]:
    """Where a term's sound key is filed: every 3 of its first 4 distinct consonant sounds
    ("matapralal": mtp, mtr, mpr, tpr); a term with fewer, every all-but-one of them."""
    first = _consonants(key)
    return tuple(_subsets(first, max(1, len(first) - 1))) if first else ()


@lru_cache(maxsize=65536)
def _lookups(first: tuple[str, ...]) -> tuple[str, ...]:
    """The buckets a span looks in, from its first 4 distinct consonant sounds: every 3 of
    them, 2 of its first 3, and 1 of its first 2. So a span finds a term when they differ
    in one of those consonants (one dropped, added or changed: "bremipril" / "ramipril",
    "mehr toprolai" / "metoprolol")."""
    items = list(first)
    return tuple(dict.fromkeys(_subsets(items, 3) + _subsets(items[:3], 2) + items[:2]))


# ---------------------------------------------------------------- the per-language index


@dataclass
class _Bucket:
    """Terms filed under one consonant pair, sorted by the length of their sound key."""

    entries: list[tuple[int, str, int]] = field(default_factory=list)  # (key length, key, term index)

    def freeze(self) -> None:
        self.entries.sort()
        self.lengths = [e[0] for e in self.entries]
        self.keys = [e[1] for e in self.entries]
        self.terms = [e[2] for e in self.entries]
        self.codes = [(e[0] << _ID_BITS) | e[2] for e in self.entries]


_ID_BITS = 24  # term indexes below 2**24: 16 million terms
_ID_MASK = (1 << _ID_BITS) - 1


class _Index:
    """Everything `correct` needs for one language, built once."""

    def __init__(self, terms: Sequence[Term], options: CorrectionOptions, common: frozenset[str]):
        self.terms = list(terms)
        self.common = common
        self.exact: dict[tuple[str, ...], int] = {}  # term words -> term index
        self.misheard: dict[tuple[str, ...], int] = {}  # misrecognition words -> term index
        self.longest_from: dict[str, int] = {}  # first word -> longest exact/misheard entry
        self.buckets: dict[str, _Bucket] = {}
        self.joined: list[str] = []  # per term: its words joined without spaces
        self.keys: list[str] = []  # per term: its sound key
        self.max_chars = 0
        # Caches: transcripts repeat their words and their mishearings.
        self.words: dict[str, tuple[bool, str]] = {}  # word -> (ordinary?, sound key)
        self.cores: dict[tuple[str, ...], tuple[int, ...]] = {}  # core span -> retrieved terms
        self.spans: dict[tuple[str, ...], tuple[int, float, str] | None] = {}  # span -> best
        # first consonant sounds -> the union of the buckets they look in, deduplicated and
        # sorted by key length: a few hundred distinct ones cover most spans, so merging
        # once beats gathering a dozen buckets per span.
        self.merged: dict[tuple[str, ...], tuple[list[int], list[str], list[int]]] = {}
        for i, term in enumerate(self.terms):
            tw = term_words(term.text)
            self._file(self.exact, tw, i)
            for mis in term.misrecognitions:
                self._file(self.misheard, term_words(mis), i)
            joined, key = "".join(tw), _span_key([phonetic_key(w) for w in tw])
            self.joined.append(joined)
            self.keys.append(key)
            if len(joined) < options.min_term_chars:
                continue
            self.max_chars = max(self.max_chars, len(joined))
            for name in _term_buckets(key):  # none for a key of vowels only: too little to match
                self.buckets.setdefault(name, _Bucket()).entries.append((len(key), key, i))
        for bucket in self.buckets.values():
            bucket.freeze()

    def merged_for(self, first: tuple[str, ...]) -> tuple[list[int], list[str], list[int]]:
        """The terms filed in the buckets a span with these first consonant sounds looks in,
        each once, as (key lengths ascending, keys, term indexes); built once per `first`."""
        merged = self.merged.get(first)
        if merged is None:
            # (key length, term index) packed in one int: ints sort several times faster
            # than tuples, and a term's key is fixed, so the pair identifies its entry.
            codes: set[int] = set()
            for name in _lookups(first):
                bucket = self.buckets.get(name)
                if bucket is not None:
                    codes.update(bucket.codes)
            order = sorted(codes)
            ids = [c & _ID_MASK for c in order]
            merged = self.merged[first] = ([c >> _ID_BITS for c in order], [self.keys[i] for i in ids], ids)
        return merged

    def _file(self, table: dict, tw: tuple[str, ...], i: int) -> None:
        if tw and tw not in table:  # first entry wins, as in the file
            table[tw] = i
            self.longest_from[tw[0]] = max(self.longest_from.get(tw[0], 0), len(tw))


# Sentence punctuation and brackets end a span: a term is not spread over two sentences.
_SENTENCE_BREAK = re.compile(r"[.!?;:…。！？()\[\]{}]")
_SENTENCE_START = re.compile(r"(?:^|[.!?…]\s*)[\"'“‘(\[]*$")
_CACHE_LIMIT = 200_000  # cached span results per language before the cache is reset
_MISSING = object()
_SHORT_WORD = 2  # letters up to which a word does not count toward max_span_words
_EDGE_PENALTY = 3.0  # rank points an ordinary word at a span's edge costs in overlap resolution
_RETRIEVED = 10  # terms retrieved per core, then scored against each span around it
_EDGE_CHARS = 3  # letters of ordinary edge words up to which a span reuses its core's retrieval


class LexiconCorrector:
    """Corrects transcripts against one lexicon; build once, call `correct` per utterance."""

    def __init__(
        self,
        lexicon: Lexicon,
        options: CorrectionOptions = CorrectionOptions(),
        common_words: Mapping[str, frozenset[str]] | None = None,
    ):
        self.lexicon = lexicon
        self.options = options
        self._common_override = common_words  # language code -> words; None: the shipped lists
        self._indexes: dict[str | None, _Index] = {}

    def _index(self, code: str | None) -> _Index:
        """The index of one language, built on first use: most runs use one or two."""
        index = self._indexes.get(code)
        if index is None:
            if not self.options.protect_common_words:
                common: frozenset[str] = frozenset()
            elif self._common_override is not None:
                common = frozenset(w.casefold() for w in self._common_override.get(code or "", frozenset()))
            else:
                common = common_words(code)
            index = self._indexes[code] = _Index(self.lexicon.for_language(code).terms, self.options, common)
        return index

    def correct(self, hypothesis: str, language: str | None) -> Correction:
        index = self._index(language_code(language))
        tokens = words(hypothesis)
        if not tokens or not index.terms:
            return Correction(hypothesis)
        n = len(tokens)
        norms = [t[2] for t in tokens]
        known = index.words
        for w in norms:
            if w not in known:
                known[w] = (w.casefold() in index.common, phonetic_key(w))
        infos = [known[w] for w in norms]
        # A fuzzy span must hold an open (not ordinary) word, and is searched through its
        # core: the span less its ordinary words at either end. next_open[i] / last_open[j]:
        # the first open word at or after i / the last one at or before j (n / -1: none).
        next_open, last_open = [n] * (n + 1), [-1] * n
        for k in range(n - 1, -1, -1):
            next_open[k] = next_open[k + 1] if infos[k][0] else k
        for k in range(n):
            last_open[k] = k if not infos[k][0] else (last_open[k - 1] if k else -1)
        if len(index.spans) > _CACHE_LIMIT:
            index.spans.clear()
            index.cores.clear()
            index.merged.clear()

        # (priority, rank, start word, end word, term index, method, score); priority: listed
        # misrecognitions 2, terms already right 1 (kept as they are), fuzzy/phonetic 0
        candidates: list[tuple[int, float, int, int, int, str, float]] = []
        max_words = self.options.max_span_words
        # Words of one or two letters ("a", "o", "me", "el") do not count toward a span's
        # length: recognizers scatter them through a long term ("hydro clora thigh a side").
        counted = [len(w) > _SHORT_WORD for w in norms]
        for i in range(n):
            longest = index.longest_from.get(norms[i], 0)
            for j in range(i + 1, min(n, i + longest) + 1):  # listed terms and mishearings
                if j > i + 1 and _gap_breaks(hypothesis, tokens, j - 1):
                    break
                span = tuple(norms[i:j])
                hit = index.misheard.get(span)
                if hit is not None:
                    candidates.append((2, 100.0, i, j, hit, "misrecognition", 100.0))
                hit = index.exact.get(span)
                if hit is not None:
                    candidates.append((1, 100.0, i, j, hit, "exact", 100.0))
            first = next_open[i]
            if first >= n or sum(counted[i:first]) >= max_words or _cut(hypothesis, tokens, i, first):
                continue
            length = sum(counted[i:first])
            for j in range(first + 1, n + 1):  # fuzzy and phonetic
                length += counted[j - 1]
                if length > max_words or (j > first + 1 and (norms[j - 1].isdigit() or _gap_breaks(hypothesis, tokens, j - 1))):
                    break
                span = tuple(norms[i:j])
                found = index.spans.get(span, _MISSING)
                if found is _MISSING:
                    core = tuple(norms[first : last_open[j - 1] + 1])
                    found = index.spans[span] = self._best(index, span, core, infos[i:j])
                if found is not None:
                    # Ranked a little below its score for every ordinary word at its edges,
                    # so "metaprol ok" must beat "metaprol" clearly to swallow the "ok".
                    edges = (first - i) + (j - 1 - last_open[j - 1])
                    candidates.append((0, found[1] - _EDGE_PENALTY * edges, i, j, found[0], found[2], found[1]))
        return self._apply(hypothesis, tokens, index, candidates)

    def terms_in(self, text: str, language: str | None) -> tuple[str, ...]:
        """The lexicon terms of the language written out in `text`, in text order (each
        occurrence once; a longer term wins over one it contains)."""
        index = self._index(language_code(language))
        norms = [t[2] for t in words(text)]
        found, i = [], 0
        while i < len(norms):
            hit = None
            for j in range(min(len(norms), i + index.longest_from.get(norms[i], 0)), i, -1):
                term = index.exact.get(tuple(norms[i:j]))
                if term is not None:
                    hit = (j, index.terms[term].text)
                    break
            if hit is None:
                i += 1
                continue
            found.append(hit[1])
            i = hit[0]
        return tuple(found)

    def _best(self, index: _Index, span: tuple[str, ...], core: tuple[str, ...], infos) -> tuple[int, float, str] | None:
        """The best term for one span: (term index, score, method), or None."""
        o = self.options
        joined = "".join(span)
        if len(joined) < 2 or len(joined) > index.max_chars * 2:
            return None
        # Short ordinary words at the edges ("a moxicilina", "der Hessens ofizienz") change
        # little: the span reuses what its core retrieved. Longer ones may be half the
        # term ("para cetamol", "Mental Acast"): the span retrieves for itself.
        if len(joined) - sum(map(len, core)) > _edge_allowance(len(joined)):
            core = span
        key = _span_key([info[1] for info in infos])
        retrieved = index.cores.get(core)
        if retrieved is None:
            core_key = key if core is span else _span_key([index.words[w][1] for w in core])
            retrieved = index.cores[core] = self._retrieve(index, core_key)
        best: tuple[int, float, str] | None = None
        for term in retrieved:
            plain = fuzz.ratio(joined, index.joined[term])
            sound = fuzz.ratio(key, index.keys[term])
            if plain >= o.fuzzy_threshold:
                method = "fuzzy"
            elif sound >= o.phonetic_threshold and plain >= o.phonetic_fuzzy_floor:
                method = "phonetic"
            else:
                continue
            score = round((plain + sound) / 2.0, 1)
            if best is None or score > best[1]:
                best = (term, score, method)
        return best

    def _retrieve(self, index: _Index, key: str) -> tuple[int, ...]:
        """The terms worth scoring against the spans built around one core.

        Retrieval is through the sound keys alone, in the core's buckets, with a cutoff
        below both thresholds: a span within `fuzzy_threshold` of a term in spelling is
        within about 10 points of it in sound (on the demo corpus and the benchmark, no
        fuzzy match had a key ratio below 70). Ordinary words around the core ("a" in
        "a moxicilina") lengthen the span, so longer terms are let in for them.
        """
        cutoff = min(self.options.phonetic_threshold, self.options.fuzzy_threshold - 5.0)
        t = cutoff / 100.0
        # ratio <= 2 min(a, b) / (a + b): the key lengths that can still reach the cutoff
        shortest = len(key) * t / (2.0 - t) - 1e-9
        longest = (len(key) + _edge_allowance(len(key))) * (2.0 - t) / t + 1e-9
        lengths, all_keys, all_ids = index.merged_for(tuple(_consonants(key)))
        lo, hi = bisect.bisect_left(lengths, shortest), bisect.bisect_right(lengths, longest)
        if lo >= hi:
            return ()
        if hi - lo <= _RETRIEVED:  # too few to rank: `_best` scores them all anyway
            return tuple(all_ids[lo:hi])
        keys, ids = all_keys[lo:hi], all_ids[lo:hi]
        found = process.extract(key, keys, scorer=fuzz.ratio, score_cutoff=cutoff, limit=_RETRIEVED)
        return tuple(dict.fromkeys(ids[pos] for _, _, pos in found))

    def _apply(self, text: str, tokens, index: _Index, candidates) -> Correction:
        # Best first; on a tie the shorter span (less text changed), then the earlier one.
        candidates.sort(key=lambda c: (-c[0], -c[1], c[3] - c[2], c[2]))
        taken = [False] * len(tokens)
        chosen = []
        for _, _, i, j, term, method, score in candidates:
            if any(taken[i:j]):
                continue
            for k in range(i, j):
                taken[k] = True
            if method != "exact":
                chosen.append((i, j, term, score, method))
        chosen.sort()
        out, replacements, at = [], [], 0
        for i, j, term_index, score, method in chosen:
            start, end = tokens[i][0], tokens[j - 1][1]
            original = text[start:end]
            term = index.terms[term_index].text
            new = _with_possessive(_cased_like(term, original, text, start), original)
            if new == original:
                continue
            out.append(text[at:start])
            out.append(new)
            at = end
            replacements.append(Replacement(start, end, original, new, term, score, method))
        if not replacements:
            return Correction(text)
        out.append(text[at:])
        return Correction("".join(out), tuple(replacements))


def _edge_allowance(chars: int) -> int:
    """Letters of ordinary words at a span's edges up to which the span reuses its core's
    retrieval: 3, or a quarter of the span for long spans (a short word beside a long
    mishearing changes its length little)."""
    return max(_EDGE_CHARS, chars // 4)


def _gap_breaks(text: str, tokens, k: int) -> bool:
    """Whether sentence punctuation separates word k-1 from word k."""
    return _SENTENCE_BREAK.search(text, tokens[k - 1][1], tokens[k][0]) is not None


def _cut(text: str, tokens, i: int, first: int) -> bool:
    """Whether the ordinary words i..first-1 hold a number or a sentence break before word
    `first`, so that no span from word i can reach it."""
    return any(tokens[k][2].isdigit() for k in range(i, first)) or any(_gap_breaks(text, tokens, k) for k in range(i + 1, first + 1))

def _cased_like(term: str, original: str, text: str, start: int) -> str:
    """The term as written, capitalised when it replaces a sentence's capitalised first word."""
    if term[:1].islower() and original[:1].isupper() and _SENTENCE_START.search(text, 0, start):
        return term[:1].upper() + term[1:]
    return term


_POSSESSIVE = re.compile(r"['’][sS]$")


def _with_possessive(new: str, original: str) -> str:
    """Keep a possessive the mishearing carried: "Pat Handrahand's" -> "Pat Hanrahan's"."""
    suffix = _POSSESSIVE.search(original)
    if suffix is None or _POSSESSIVE.search(new):
        return new
    return new + suffix.group()


# ---------------------------------------------------------------- learning from train data


def _alignment(ref_words: Sequence[str], hyp_words: Sequence[str]):
    """jiwer's word alignment chunks of two word lists."""
    out = jiwer.process_words(" ".join(ref_words), " ".join(hyp_words) if hyp_words else "")
    return out.alignments[0]


def _occurrences(tokens: Sequence[str], patterns: Mapping[tuple[str, ...], Term]) -> list[tuple[int, int, Term]]:
    """Non-overlapping term occurrences in a word list, longest first at each position."""
    longest = max((len(p) for p in patterns), default=0)
    found, i = [], 0
    while i < len(tokens):
        for n in range(min(longest, len(tokens) - i), 0, -1):
            term = patterns.get(tuple(tokens[i : i + n]))
            if term is not None:
                found.append((i, i + n, term))
                i += n
                break
        else:
            i += 1
    return found


def _patterns(lexicon: Lexicon, language: str | None, cache: dict) -> dict[tuple[str, ...], Term]:
    code = language_code(language)
    if code not in cache:
        table: dict[tuple[str, ...], Term] = {}
        for term in lexicon.for_language(code).terms:
            table.setdefault(term_words(term.text), term)
        table.pop((), None)
        cache[code] = table
    return cache[code]


def _heard_as(chunks, start: int, end: int) -> tuple[int, int] | None:
    """Hypothesis word range aligned with reference words [start, end), with the words
    inserted right before, inside and right after it; None when all were deleted."""
    lo, hi = None, None
    for c in chunks:
        if c.type == "insert":
            touches = start <= c.ref_start_idx <= end
        else:
            touches = c.ref_start_idx < end and c.ref_end_idx > start
            if touches and c.type != "delete":
                # equal / substitute chunks map word for word
                a = c.hyp_start_idx + max(0, start - c.ref_start_idx)
                b = c.hyp_start_idx + min(c.ref_end_idx, end) - c.ref_start_idx
                lo, hi = (a if lo is None else min(lo, a)), (b if hi is None else max(hi, b))
            continue
        if touches and c.hyp_end_idx > c.hyp_start_idx:
            lo = c.hyp_start_idx if lo is None else min(lo, c.hyp_start_idx)
            hi = c.hyp_end_idx if hi is None else max(hi, c.hyp_end_idx)
    return None if lo is None else (lo, hi)


def _similarity(words_: Sequence[str], term: Term) -> float:
    """Mean of plain and sound-key ratios, as the corrector ranks candidates."""
    tw = term_words(term.text)
    plain = fuzz.ratio("".join(words_), "".join(tw))
    sound = fuzz.ratio(_span_key([phonetic_key(w) for w in words_]), _span_key([phonetic_key(w) for w in tw]))
    return (plain + sound) / 2.0


def mine_misrecognitions(
    pairs: Iterable[tuple[str, str, str | None]],
    lexicon: Lexicon,
    min_count: int = 1,
    min_similarity: float = 50.0,
    max_span_words: int = 4,
) -> dict[str, list[str]]:
    """What each lexicon term was heard as, from (reference, hypothesis, language) pairs.

    Use the TRAIN part only: whatever is mined here is replaced on sight later, so mining
    the held-out part would grade the lexicon on its own answers.

    Each pair is aligned at word level (jiwer). For every term occurrence in the
    reference, the hypothesis words aligned with it (plus words inserted right next to
    it) are a window; the sub-span of that window most similar to the term is what the
    term was heard as, kept when it differs from the term and is at least
    `min_similarity` alike (a misalignment, e.g. "fiat" for "warfarin", is not).
    Returns {term text: [heard-as spans, lower-case, most frequent first]}.
    """
    heard: dict[str, Counter] = {}
    cache: dict = {}
    for reference, hypothesis, language in pairs:
        ref_words, hyp_words = term_words(reference), term_words(hypothesis)
        occurrences = _occurrences(ref_words, _patterns(lexicon, language, cache)) if ref_words else []
        if not occurrences:
            continue
        chunks = _alignment(ref_words, hyp_words)
        for start, end, term in occurrences:
            window = _heard_as(chunks, start, end)
            if window is None:
                continue
            span = _closest(hyp_words[window[0] : window[1]], term, max_span_words)
            if span is None or span == term_words(term.text) or _similarity(span, term) < min_similarity:
                continue
            heard.setdefault(term.text, Counter())[" ".join(span)] += 1
    out = {}
    for text, counts in heard.items():
        kept = [span for span, n in counts.most_common() if n >= min_count]
        if kept:
            out[text] = kept
    return out


def _closest(window: Sequence[str], term: Term, max_words: int) -> tuple[str, ...] | None:
    """The contiguous sub-span of `window` most similar to the term (shorter on ties)."""
    best, best_score = None, -1.0
    for i in range(len(window)):
        for j in range(i + 1, min(len(window), i + max_words) + 1):
            if any(w.isdigit() for w in window[i:j]):
                break
            score = _similarity(window[i:j], term)
            if score > best_score:
                best, best_score = tuple(window[i:j]), score
    return best


def suggest_terms(
    pairs: Iterable[tuple[str, str, str | None]],
    lexicon: Lexicon,
    min_count: int = 2,
    ordinary_top: int = 5000,
    max_span_words: int = 3,
) -> list[tuple[str, int]]:
    """Words (or runs of up to `max_span_words` words) of the references that the model
    got wrong at least `min_count` times and that the lexicon lacks: candidates for a user
    to accept. Lexicon terms, numbers, one-letter words and the `ordinary_top` most
    frequent words of the language are left out. Most frequent first, as written in the
    references."""
    counts: Counter = Counter()
    surfaces: dict[str, Counter] = {}
    cache: dict = {}
    for reference, hypothesis, language in pairs:
        ref = words(reference)
        ref_words, hyp_words = [w for _, _, w in ref], term_words(hypothesis)
        if not ref_words:
            continue
        wrong = [False] * len(ref_words)
        for c in _alignment(ref_words, hyp_words):
            if c.type in ("substitute", "delete"):
                for k in range(c.ref_start_idx, c.ref_end_idx):
                    wrong[k] = True
        for start, end, _ in _occurrences(ref_words, _patterns(lexicon, language, cache)):
            for k in range(start, end):
                wrong[k] = False  # already in the lexicon
        ordinary = common_words(language_code(language), ordinary_top)
        eligible = [
            wrong[k] and len(w) > 1 and not w.isdigit() and w.casefold() not in ordinary for k, w in enumerate(ref_words)
        ]
        k = 0
        while k < len(ref_words):
            if not eligible[k]:
                k += 1
                continue
            end = k
            while end < len(ref_words) and eligible[end] and end - k < max_span_words:
                end += 1
            key = " ".join(ref_words[k:end])
            counts[key] += 1
            surfaces.setdefault(key, Counter())[reference[ref[k][0] : ref[end - 1][1]]] += 1
            k = end
    ranked = sorted(((n, key) for key, n in counts.items() if n >= min_count), key=lambda x: (-x[0], x[1]))
    return [(surfaces[key].most_common(1)[0][0], n) for n, key in ranked]
