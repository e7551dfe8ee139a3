"""LLM post-editing: a language model chooses or writes the corrected transcript.

Two strategies, compared side by side like any other (`workbench bench --strategies
baseline,lexicon,lmrescore,lmedit ...`):

- **lmrescore** (rescoring; the ladder's rung after `lexicon`): candidate rewrites of a
  transcript are ranked by a language model. The candidates are the transcript with
  the lexicon layer's corrections (the incumbent), the transcript as decoded, each
  correction a looser lexicon pass proposes (alone and together), and the decoder's
  n-best hypotheses with their own corrections where the run stored them. A candidate's
  score is its LM log-probability plus `acoustic_weight` times the decoder's score of
  the hypothesis it came from (lexicon rewrites of one hypothesis share its score); the
  best replaces the incumbent only when it wins by `min_gain` nats. A looser
  correction is proposed only where it covers a word the decoder was unsure of (word
  probability below `confidence_threshold`), when the run stored word probabilities.
  Even the 135M model ranks "amoxicillin" above "a mock sicillin"; choosing among
  candidates is far more reliable on small models than asking them to write.
- **lmedit** (generative correction): an instruction model rewrites the transcript
  with the lexicon terms that look like something in it listed in the prompt. The
  rewrite is aligned word by word with the transcript, and each changed stretch is kept
  only if it replaces a word the decoder was unsure of or yields a lexicon term; the
  whole rewrite is refused when it changes more than `max_edit_ratio` of the words,
  and no clip that is empty or likely silence (`no_speech_prob`) is sent at all.
  Refused edits are counted (`take_cost()["rejected"]`), never applied.

The model is `model`: a shipped name (`smollm2-135m`), a .gguf file, or the URL of an
OpenAI-compatible server (`endpoint_model` names the model there). An endpoint that
stops answering raises after its retries; the derived run keeps every finished
utterance and resumes on the next identical command (`workbench.runs.derive`).
Each strategy reports its LM tokens per utterance through `take_cost()`.
"""

import re
from dataclasses import asdict, dataclass, field
from difflib import SequenceMatcher
from itertools import combinations

from rapidfuzz import fuzz

from workbench.strategy_api import (
    BadInputError,
    language_code,
    language_model,
    term_words,
    words,
)

from .lexicon_correction import CorrectionOptions, LexiconCorrector, Replacement
from .registry import register

__all__ = ["EditConfig", "GenerativeEditor", "RescoreConfig", "Rescorer", "guard_edit", "word_confidences"]


def _model_field(default: str = "smollm2-135m"):
    return field(default=default, metadata={"help": "a shipped model (smollm2-135m), a .gguf path, or an http(s):// OpenAI-compatible URL"})


@dataclass(frozen=True)
class RescoreConfig:
    model: str = _model_field()
    endpoint_model: str = ""  # the model's name at an endpoint (ignored for local models)
    # Nats per unit of the decoder's length-normalized log-prob: n-best scores are per
    # token (about -0.1 to -1), LM scores are totals over a sentence (tens of nats).
    acoustic_weight: float = 5.0
    # The winner must beat the lexicon layer's text by this much: small LMs prefer
    # common words, so a narrow win is not worth a change.
    min_gain: float = 2.0
    # Nats a looser correction costs per point of similarity it lacks (100 - its score):
    # a span that only half sounds like a term needs the LM to be sure. Chosen on the
    # demo corpus's TRAIN part (benchmarks/README.md), never on the held-out part.
    similarity_weight: float = 0.2
    # The looser lexicon pass that proposes extra candidates (rapidfuzz ratios, 0-100).
    loose_fuzzy_threshold: float = 70.0
    loose_phonetic_threshold: float = 75.0
    # A looser correction must cover a word with a probability below this (when the run
    # stored word probabilities; 1.0 lets every looser correction through).
    confidence_threshold: float = 0.6
    max_candidates: int = 16
    # An n-best hypothesis replaces the transcript only when it names a lexicon term the
    # transcript lacks: elsewhere the decoder's first choice stands (on the demo corpus,
    # letting the LM re-rank ordinary sentences broke more words than it fixed).
    nbest_needs_term: bool = True
    timeout_s: float = 30.0
    retries: int = 2

    def __post_init__(self) -> None:
        if self.acoustic_weight < 0 or self.min_gain < 0 or self.similarity_weight < 0:
            raise ValueError(f"acoustic_weight, min_gain and similarity_weight must be >= 0, got {self.acoustic_weight!r}, "
                             f"{self.min_gain!r}, {self.similarity_weight!r}")
        for name in ("loose_fuzzy_threshold", "loose_phonetic_threshold"):
            if not 0 < getattr(self, name) <= 100:
                raise ValueError(f"{name} must be in (0, 100], got {getattr(self, name)!r}")
        if not 0 <= self.confidence_threshold <= 1:
            raise ValueError(f"confidence_threshold must be in [0, 1], got {self.confidence_threshold!r}")
        if self.max_candidates < 2 or self.timeout_s <= 0 or self.retries < 0:
            raise ValueError("max_candidates must be >= 2, timeout_s > 0 and retries >= 0")


@dataclass(frozen=True)
class EditConfig:
    model: str = _model_field()
    endpoint_model: str = ""
    max_edit_ratio: float = 0.3  # a rewrite changing more of the words than this is refused whole
    confidence_threshold: float = 0.6  # a changed word must have had a probability below this (or become a term)
    no_speech_threshold: float = 0.6  # clips whose no_speech_prob is above this are never sent
    term_similarity: float = 60.0  # a lexicon term goes in the prompt if a span of the text is this like it
    max_terms: int = 8
    max_new_tokens: int = 64
    timeout_s: float = 60.0
    retries: int = 2

    def __post_init__(self) -> None:
        if not 0 < self.max_edit_ratio <= 1:
            raise ValueError(f"max_edit_ratio must be in (0, 1], got {self.max_edit_ratio!r}")
        for name in ("confidence_threshold", "no_speech_threshold"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if self.max_terms < 0 or self.max_new_tokens < 1 or self.timeout_s <= 0 or self.retries < 0:
            raise ValueError("max_terms >= 0, max_new_tokens >= 1, timeout_s > 0 and retries >= 0 are required")


# ---------------------------------------------------------------- shared pieces


def word_confidences(text: str, extra: dict) -> list[float | None]:
    """The decoder's probability of each word of `text` (None where unknown). The stored
    words are those decoded; `text` may already carry earlier corrections, so they are
    matched by alignment, and a word an earlier step wrote has no probability."""
    tokens = [t[2] for t in words(text)]
    stored = extra.get("words") or []
    if not stored:
        return [None] * len(tokens)
    flat: list[tuple[str, float]] = []
    for item in stored:
        word, prob = item[0], item[1]
        for w in term_words(str(word)):
            flat.append((w, float(prob)))
    out: list[float | None] = [None] * len(tokens)
    matcher = SequenceMatcher(None, tokens, [w for w, _ in flat], autojunk=False)
    for i1, j1, size in matcher.get_matching_blocks():
        for k in range(size):
            out[i1 + k] = flat[j1 + k][1]
    return out


def _apply_replacements(text: str, chosen) -> str:
    out, at = [], 0
    for r in sorted(chosen, key=lambda r: r.start):
        out.append(text[at:r.start])
        out.append(r.replacement)
        at = r.end
    out.append(text[at:])
    return "".join(out)


def _low(confidences, start_word: int, end_word: int, threshold: float) -> bool:
    span = confidences[start_word:end_word]
    return any(p is not None and p < threshold for p in span)


def _known(confidences) -> bool:
    return any(p is not None for p in confidences)


def _word_span(tokens, r: Replacement) -> tuple[int, int]:
    inside = [k for k, t in enumerate(tokens) if t[0] >= r.start and t[1] <= r.end]
    return (inside[0], inside[-1] + 1) if inside else (0, 0)


class _Costed:
    """LM tokens spent since the last `take_cost()` (read by the run after each utterance)."""

    def __init__(self):
        self._tokens = 0
        self._rejected = 0

    def take_cost(self) -> dict:
        cost = {"lm_tokens": self._tokens, "rejected": self._rejected}
        self._tokens = self._rejected = 0
        return cost


# ---------------------------------------------------------------- rescoring


class Rescorer(_Costed):
    name = "lmrescore"

    def __init__(self, config: RescoreConfig, lexicon, model=None):
        super().__init__()
        if lexicon is None:
            raise BadInputError("lmrescore needs a lexicon (--lexicon FILE): its candidates are the lexicon's corrections")
        self.config = config
        self.strict = LexiconCorrector(lexicon, CorrectionOptions())
        self.loose = LexiconCorrector(lexicon, CorrectionOptions(
            fuzzy_threshold=config.loose_fuzzy_threshold, phonetic_threshold=config.loose_phonetic_threshold,
            phonetic_fuzzy_floor=min(50.0, config.loose_fuzzy_threshold), min_term_chars=5,
            # Ordinary words may be a mishearing too ("met for min"): the LM and the
            # confidence test judge them instead of a blanket rule.
            protect_common_words=False))
        self.model = model or language_model(config.model, config.endpoint_model, config.timeout_s, config.retries)
        self.lexicon = lexicon

    def _terms(self, text: str, language: str | None) -> set[tuple[str, ...]]:
        """The lexicon terms (as word tuples) that occur in `text`."""
        norms = tuple(t[2] for t in words(text))
        found = set()
        for term in self.lexicon.for_language(language_code(language) if language else None).terms:
            tw = term_words(term.text)
            if tw and any(norms[i:i + len(tw)] == tw for i in range(len(norms) - len(tw) + 1)):
                found.add(tw)
        return found

    def postprocess(self, text: str, language: str | None) -> tuple[str, list[dict]]:
        return self.postprocess_hypothesis(text, language, {})

    def candidates(self, text: str, language: str | None, extra: dict) -> list[tuple[str, float, str, float]]:
        """(text, acoustic score, where it came from, distance: the similarity points its
        looser corrections lack, summed); the first is the incumbent: the
        lexicon layer's correction of `text`. The others build on corrected text too (the
        n-best hypotheses are corrected first), so the LM adds fixes and never undoes one
        the lexicon made."""
        nbest = [(str(t), float(s)) for t, s in (extra.get("nbest") or []) if isinstance(t, str)]
        top = nbest[0][1] if nbest else 0.0
        incumbent = self.strict.correct(text, language).text
        sources = [(incumbent, top, "lexicon")]
        sources += [(self.strict.correct(t, language).text, s, f"nbest{k}") for k, (t, s) in enumerate(nbest) if k and t.strip()]
        confidences = word_confidences(incumbent, extra)
        out: dict[str, tuple[float, str, float]] = {}

        def add(candidate: str, score: float, where: str, distance: float = 0.0) -> None:
            if candidate.strip() and candidate not in out and len(out) < self.config.max_candidates:
                out[candidate] = (score, where, distance)

        for k, (source, score, where) in enumerate(sources):
            add(source, score, where)
            loose = self.loose.correct(source, language).replacements
            if k == 0 and _known(confidences):
                # Only where the decoder was unsure: a confident word is not a mishearing.
                tokens = words(source)
                loose = tuple(r for r in loose if _low(confidences, *_word_span(tokens, r), self.config.confidence_threshold))
            for size in range(1, min(len(loose), 3) + 1):
                for chosen in combinations(loose, size):
                    add(_apply_replacements(source, chosen), score, f"{where}+loose", sum(100.0 - r.score for r in chosen))
        return [(t, s, w, d) for t, (s, w, d) in out.items()]

    def postprocess_hypothesis(self, text: str, language: str | None, extra: dict) -> tuple[str, list[dict]]:
        if not text.strip():
            return text, []
        candidates = self.candidates(text, language, extra)
        strict_changes = [asdict(r) for r in self.strict.correct(text, language).replacements]
        if len(candidates) < 2:
            return candidates[0][0], strict_changes
        scored = self.model.score([c[0] for c in candidates])
        self._tokens += sum(s.tokens for s in scored)
        c = self.config
        totals = [s.logprob + c.acoustic_weight * cand[1] - c.similarity_weight * cand[3] for s, cand in zip(scored, candidates)]
        best = max(range(len(candidates)), key=lambda k: (totals[k], -k))
        gain = totals[best] - totals[0]
        if best == 0 or gain < self.config.min_gain:
            return candidates[0][0], strict_changes
        chosen, _, where, _ = candidates[best]
        if c.nbest_needs_term and where.startswith("nbest") and not self._terms(chosen, language) - self._terms(candidates[0][0], language):
            return candidates[0][0], strict_changes
        return chosen, [{"method": "lm-rescore", "original": text, "replacement": chosen, "source": where,
                         "gain": round(gain, 2), "candidates": len(candidates)}]


@register("lmrescore", "post", RescoreConfig, cost=1.5, needs_lexicon=True, combines=False,
          description="a language model picks among the lexicon's and the decoder's candidate rewrites")
def make_rescorer(config: RescoreConfig, lexicon=None) -> Rescorer:
    return Rescorer(config, lexicon)


# ---------------------------------------------------------------- generative correction

SYSTEM = ("You correct speech-recognition errors in transcripts. Fix only words that were misheard, most often "
          "domain terms from the list. Do not add, remove or reword anything else. Reply with the corrected "
          "transcript only.")
_PREFIX = re.compile(r"^\s*(corrected( transcript| sentence| text)?|transcript|output|answer)\s*:\s*", re.IGNORECASE)


def clean_reply(reply: str) -> str:
    """The first non-empty line of a model's reply, without a label or quotes around it."""
    line = next((x for x in reply.strip().splitlines() if x.strip()), "")
    line = _PREFIX.sub("", line).strip()
    if len(line) >= 2 and line[0] == line[-1] and line[0] in "\"'`":
        line = line[1:-1].strip()
    return line


def guard_edit(text: str, rewrite: str, confidences, term_set: set[tuple[str, ...]], config: EditConfig) -> tuple[str, list[dict], int]:
    """(text, accepted changes, refused changes) of a rewrite: each changed stretch of
    words is kept only if it replaces a low-confidence word or yields a lexicon term; a
    rewrite changing more than `max_edit_ratio` of the words is refused whole."""
    a, b = words(text), words(rewrite)
    na, nb = [t[2] for t in a], [t[2] for t in b]
    ops = [op for op in SequenceMatcher(None, na, nb, autojunk=False).get_opcodes() if op[0] != "equal"]
    if not ops:
        return text, [], 0
    changed = sum(max(i2 - i1, j2 - j1) for _, i1, i2, j1, j2 in ops)
    if changed > config.max_edit_ratio * max(1, len(na)):
        return text, [], len(ops)

    def yields_term(j1: int, j2: int) -> bool:
        new = tuple(nb[j1:j2])
        return any(new[s:e] in term_set for s in range(len(new)) for e in range(s + 1, len(new) + 1))

    out, at, accepted, refused = [], 0, [], 0
    for tag, i1, i2, j1, j2 in ops:
        low = _low(confidences, i1, i2, config.confidence_threshold)
        term = j2 > j1 and yields_term(j1, j2)
        ok = term or (low and tag != "insert") if tag != "delete" else (low and all(
            p is not None and p < config.confidence_threshold for p in confidences[i1:i2]))
        if not ok:
            refused += 1
            continue
        new = rewrite[b[j1][0]:b[j2 - 1][1]] if j2 > j1 else ""
        if tag == "insert":
            start = end = a[i1][0] if i1 < len(a) else len(text)
            new = new + " " if i1 < len(a) else " " + new
        else:
            start, end = a[i1][0], a[i2 - 1][1]
            if not new and end < len(text) and text[end] == " ":
                end += 1  # a deleted word takes its space with it
        out.append(text[at:start])
        out.append(new)
        at = end
        accepted.append({"method": "lm-edit", "start": start, "end": end, "original": text[start:end], "replacement": new,
                         "why": "term" if term else "low-confidence"})
    if not accepted:
        return text, [], refused
    out.append(text[at:])
    return "".join(out), accepted, refused


class GenerativeEditor(_Costed):
    name = "lmedit"

    def __init__(self, config: EditConfig, lexicon, model=None):
        super().__init__()
        if lexicon is None:
            raise BadInputError("lmedit needs a lexicon (--lexicon FILE): its prompt lists the domain terms")
        self.config, self.lexicon = config, lexicon
        self.model = model or language_model(config.model, config.endpoint_model, config.timeout_s, config.retries)
        self._terms: dict[str | None, list[tuple[str, str, tuple[str, ...]]]] = {}

    def _language_terms(self, language: str | None):
        code = language_code(language) if language else None
        if code not in self._terms:
            self._terms[code] = [(t.text, "".join(term_words(t.text)), term_words(t.text))
                                 for t in self.lexicon.for_language(code).terms]
        return self._terms[code]

    def relevant_terms(self, text: str, language: str | None) -> list[str]:
        """The terms most like some span of 1-4 words of the text, best first."""
        norms = [t[2] for t in words(text)]
        spans = {"".join(norms[i:j]) for i in range(len(norms)) for j in range(i + 1, min(len(norms), i + 4) + 1)}
        scored = []
        for term, joined, _ in self._language_terms(language):
            best = max((fuzz.ratio(joined, s) for s in spans if abs(len(s) - len(joined)) <= len(joined)), default=0.0)
            if best >= self.config.term_similarity:
                scored.append((-best, term))
        return [t for _, t in sorted(scored)[: self.config.max_terms]]

    def postprocess(self, text: str, language: str | None) -> tuple[str, list[dict]]:
        return self.postprocess_hypothesis(text, language, {})

    def postprocess_hypothesis(self, text: str, language: str | None, extra: dict) -> tuple[str, list[dict]]:
        if not text.strip() or float(extra.get("no_speech_prob") or 0.0) > self.config.no_speech_threshold:
            return text, []  # nothing said: nothing to correct, and an LM would make something up
        confidences = word_confidences(text, extra)
        terms = self.relevant_terms(text, language)
        unsure = any(p is not None and p < self.config.confidence_threshold for p in confidences)
        if not terms and not unsure:
            return text, []  # no term near and no doubtful word: every edit would be refused
        user = (f"Domain terms: {', '.join(terms)}\n" if terms else "") + f"Transcript: {text}"
        # The reply is the transcript again: a cap near its length (about 3 characters a
        # token) stops a model that rambles on without cutting a real correction short.
        reply = self.model.generate(SYSTEM, user, min(self.config.max_new_tokens, len(text) // 3 + 16))
        self._tokens += reply.tokens
        rewrite = clean_reply(reply.text)
        if not rewrite:
            self._rejected += 1
            return text, []
        term_set = {t[2] for t in self._language_terms(language)}
        new, accepted, refused = guard_edit(text, rewrite, confidences, term_set, self.config)
        self._rejected += refused
        return new, accepted


@register("lmedit", "post", EditConfig, cost=1.8, needs_lexicon=True, on_ladder=False,
          description="an instruction model rewrites the transcript; only guarded edits are kept")
def make_editor(config: EditConfig, lexicon=None) -> GenerativeEditor:
    return GenerativeEditor(config, lexicon)
