"""N-best rescoring with the lexicon: pick the hypothesis that names the domain's terms.

When the decoder kept several hypotheses (`extra["nbest"]`, the `nbest` strategy), each
is corrected by the lexicon layer and scored as

    score = log-probability per token + term_weight * (lexicon terms it then contains)

and the best wins, provided it is at most `max_gap` (per token) less likely than the
decoder's first choice. A hypothesis with more terms that is much less likely is not
taken: that is the guard against turning "the men pro" in general speech into a drug.
Without an n-best list (another backend, a long recording, no-speech) this is the
lexicon correction alone. Each choice is recorded: the hypothesis' rank, what it
replaced and why.
"""

from dataclasses import asdict

from .lexicon_correction import LexiconCorrector

__all__ = ["rescore"]


def rescore(corrector: LexiconCorrector, text: str, language: str | None, nbest, term_weight: float,
            max_gap: float) -> tuple[str, list[dict]]:
    """The chosen, corrected text and the changes that made it (see module docstring)."""
    if not nbest or len(nbest) < 2 or not text:
        correction = corrector.correct(text, language)
        return correction.text, [asdict(r) for r in correction.replacements]
    best = None
    first_score = float(nbest[0][1])
    for rank, (hypothesis, score) in enumerate(nbest):
        score = float(score)
        if rank and (not hypothesis or score < first_score - max_gap):
            continue
        source = text if rank == 0 else hypothesis  # rank 0 is the stored transcript
        correction = corrector.correct(source, language)
        terms = corrector.terms_in(correction.text, language)
        total = score + term_weight * len(terms)
        if best is None or total > best[0] + 1e-9:
            best = (total, rank, source, score, correction, terms)
    _, rank, source, score, correction, terms = best
    changes = []
    if rank:
        # The whole transcript changed: one change spanning it, then the lexicon's edits
        # of the chosen hypothesis (offsets in that hypothesis).
        changes.append({"start": 0, "end": len(text), "original": text, "replacement": source,
                        "term": ", ".join(dict.fromkeys(terms)), "score": round(score, 4), "method": f"nbest:{rank}"})
    changes += [asdict(r) for r in correction.replacements]
    return correction.text, changes
